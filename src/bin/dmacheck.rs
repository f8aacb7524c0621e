//! The `dmacheck` command: the rule catalogue, JSON reports (written by
//! `DMACHECK_REPORT=json:<dir>/`) shown as text, merged across shards into JSON, SARIF or JUnit,
//! checked for CI, and dumped; and kernel `dma:*` traces replayed through the rules.
//!
//! Exit codes: 0 on success, 1 when `report check` or `trace` finds findings at the level asked,
//! 2 when a report or trace cannot be read or written (or the command line is wrong), when the
//! input is no trace of the `dma:*` events, or when a trace could be read only part way (its
//! report then covers what was read).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use dmacheck::Level;
use dmacheck::report::{Format, Report, ReportError};

/// dmacheck: a checker for code that uses the Linux DMA API. This command reads the reports its
/// programs write.
#[derive(Parser)]
#[command(name = "dmacheck", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Work with JSON reports, as `DMACHECK_REPORT=json:<dir>/` writes them. A FILE that is a
    /// directory stands for the `*.json` files in it.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Print the rule catalogue (the text of RULES.md), generated from the rule declarations.
    Rules,
    /// Check a Linux kernel trace of the dma:* events: replay it through the rules.
    ///
    /// Reads the text of /sys/kernel/tracing/trace or trace_pipe, or `trace-cmd report` output,
    /// plain or gzip. Capture one with `echo 1 > /sys/kernel/tracing/events/dma/enable` or
    /// `trace-cmd record -e dma`. Exits with 1 when there are findings at the --fail-on level
    /// (violations, and mappings live at the end), 0 otherwise.
    Trace(TraceArgs),
}

#[derive(clap::Args)]
struct TraceArgs {
    /// The trace; `-` for standard input.
    #[arg(default_value = "-")]
    file: PathBuf,
    /// The format of the report.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Where to write the report, `-` for stdout. With a format other than text, the trace
    /// summary goes to stderr.
    #[arg(short, long, default_value = "-")]
    output: PathBuf,
    /// When to color the text.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
    /// The trace covers the driver from its load: releases and syncs of addresses it never
    /// saw mapped are violations, not "unknown to the trace".
    #[arg(long)]
    from_start: bool,
    /// Check only this device (its name in the trace, such as 0000:00:03.0).
    #[arg(long)]
    device: Option<String>,
    /// Do not report mappings live at the end of the trace (a capture that ends while the
    /// driver runs).
    #[arg(long)]
    ignore_leaks: bool,
    /// The lowest level that fails.
    #[arg(long, value_enum, default_value_t = FailOn::Warn)]
    fail_on: FailOn,
    /// Never show a progress bar (one is shown on a terminal for large traces).
    #[arg(long)]
    no_progress: bool,
    /// The driver of a device, for reports: `--driver 0000:00:03.0=e1000` (repeatable).
    #[arg(long, value_name = "DEVICE=DRIVER", value_parser = device_driver)]
    driver: Vec<(String, String)>,
    /// Read the drivers of the trace's devices from this /sys/bus tree (or a saved copy of it,
    /// such as `cp -a /sys/bus saved` or one bus's `devices` directory).
    #[arg(long, value_name = "DIR")]
    sysfs: Option<PathBuf>,
    /// Trace the running kernel (needs root): turn the dma events on in tracefs, replay
    /// trace_pipe as it streams, printing each violation as it is found, until Ctrl-C, SIGTERM
    /// or --duration; then print the summary and restore tracefs as it was.
    #[arg(long)]
    live: bool,
    /// The tracefs directory for --live (default: /sys/kernel/tracing, or
    /// /sys/kernel/debug/tracing). Implies --live.
    #[arg(long, value_name = "DIR")]
    tracefs: Option<PathBuf>,
    /// Stop a live trace after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Set the per-CPU trace buffer to this many KiB for a live trace (default: at least
    /// 8192); restored after.
    #[arg(long, value_name = "KIB")]
    buffer_kb: Option<u64>,
    /// The longest line read, in bytes: a longer one is reported as malformed (and never held
    /// in memory whole).
    #[arg(long, default_value_t = dmacheck::trace::MAX_LINE, value_name = "BYTES")]
    max_line_bytes: usize,
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Render reports as text: violations, leaks by site, totals (several are merged first).
    Show {
        /// When to color the text.
        #[arg(long, value_enum, default_value_t = Color::Auto)]
        color: Color,
        /// JSON reports, or directories of them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Merge reports (of CI shards, of several test binaries) into one: counts add, leaks of
    /// the same site combine.
    Merge {
        /// The file to write, `-` for stdout.
        #[arg(short, long)]
        output: PathBuf,
        /// The format to write.
        #[arg(long, value_enum, default_value_t = OutputFormat::Json)]
        format: OutputFormat,
        /// JSON reports, or directories of them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Exit with 1 if the reports have findings at the level given or above (violations, and
    /// leaked entries still live), printing them; with 0 otherwise. For CI.
    Check {
        /// The lowest level that fails.
        #[arg(long, value_enum, default_value_t = FailOn::Warn)]
        fail_on: FailOn,
        /// JSON reports, or directories of them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the entries live when each report was made, then the leak summary.
    Dump {
        /// When to color the text.
        #[arg(long, value_enum, default_value_t = Color::Auto)]
        color: Color,
        /// JSON reports, or directories of them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    /// When stdout is a terminal and `NO_COLOR` is not set.
    Auto,
    Always,
    Never,
}

impl Color {
    fn enabled(self) -> bool {
        match self {
            Color::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
            Color::Always => true,
            Color::Never => false,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Json,
    Sarif,
    Junit,
    Text,
}

impl From<OutputFormat> for Format {
    fn from(f: OutputFormat) -> Format {
        match f {
            OutputFormat::Json => Format::Json,
            OutputFormat::Sarif => Format::Sarif,
            OutputFormat::Junit => Format::Junit,
            OutputFormat::Text => Format::Text,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum FailOn {
    /// Fail on warn- and deny-level findings.
    Warn,
    /// Fail on deny-level findings only.
    Deny,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dmacheck: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> Result<ExitCode, ReportError> {
    match command {
        Command::Trace(args) => return trace(args),
        Command::Rules => print!("{}", dmacheck::rules::catalogue_markdown()),
        Command::Report(ReportCommand::Show { color, files }) => {
            print!("{}", Format::Text.render(&load(&files)?, color.enabled()));
        }
        Command::Report(ReportCommand::Dump { color, files }) => {
            print!("{}", load(&files)?.dump(color.enabled()));
        }
        Command::Report(ReportCommand::Merge {
            output,
            format,
            files,
        }) => {
            let text = Format::from(format).render(&load(&files)?, false);
            if output == Path::new("-") {
                print!("{text}");
            } else {
                std::fs::write(&output, text).map_err(|e| ReportError::Io(output, e))?;
            }
        }
        Command::Report(ReportCommand::Check { fail_on, files }) => {
            let report = load(&files)?;
            let level = match fail_on {
                FailOn::Warn => Level::Warn,
                FailOn::Deny => Level::Deny,
            };
            let findings = report.findings_at_least(level);
            let sources = report.sources.len();
            if findings > 0 {
                print!("{}", Format::Text.render(&report, Color::Auto.enabled()));
                println!(
                    "dmacheck: FAILED: {findings} finding(s) at {level} or above in {sources} report(s)"
                );
                return Ok(ExitCode::from(1));
            }
            println!("dmacheck: ok: no finding at {level} or above in {sources} report(s)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `dmacheck trace`: replay the trace (a file, or live), write the report, exit by the
/// findings.
fn trace(args: TraceArgs) -> Result<ExitCode, ReportError> {
    use dmacheck::trace::TraceOptions;
    let live = args.live || args.tracefs.is_some();
    if live && args.file != Path::new("-") {
        eprintln!("dmacheck: --live reads tracefs, not a file");
        return Ok(ExitCode::from(2));
    }
    let name = if live {
        "trace_pipe".to_string()
    } else {
        args.file.display().to_string()
    };
    let sysfs = match (&args.sysfs, live) {
        (Some(dir), _) => Some(dir.clone()),
        (None, true) => Some(PathBuf::from("/sys/bus")),
        (None, false) => None,
    };
    let options = TraceOptions {
        from_start: args.from_start,
        device: args.device.clone(),
        leaks: !args.ignore_leaks,
        read_env: true,
        max_line: args.max_line_bytes,
        drivers: args.driver.clone(),
        sysfs,
        ..TraceOptions::named(&name)
    };
    if live {
        return trace_live(&args, options);
    }
    let result = replay_file(&args, options);
    let result = result.and_then(dmacheck::trace::TraceReplay::require_dma_events);
    conclude_trace(&args, &args.file, result, false)
}

/// Replay a trace file, with a progress bar on a terminal.
fn replay_file(
    args: &TraceArgs,
    options: dmacheck::trace::TraceOptions,
) -> Result<dmacheck::trace::TraceReplay, dmacheck::trace::TraceError> {
    let show_progress = !args.no_progress && std::io::stderr().is_terminal();
    let mut bar: Option<indicatif::ProgressBar> = None;
    // The first call comes after 65536 lines, so a small trace never shows a bar.
    let progress = |read: u64, size: Option<u64>| {
        if !show_progress {
            return;
        }
        let bar = bar.get_or_insert_with(|| {
            let bar = match size {
                Some(size) => indicatif::ProgressBar::new(size),
                None => indicatif::ProgressBar::new_spinner(),
            };
            let template = if size.is_some() {
                "{msg} [{bar:30}] {bytes}/{total_bytes} ({eta} left)"
            } else {
                "{msg} {spinner} {bytes} ({bytes_per_sec})"
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message("replaying");
            bar
        });
        bar.set_position(read);
    };
    let result = dmacheck::trace::replay_path(&args.file, options, progress);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result
}

/// Set tracefs up, replay `trace_pipe` until Ctrl-C, SIGTERM, `--duration` or the end of the
/// stream, printing each violation as it is found, and restore tracefs (also on an error).
fn trace_live(
    args: &TraceArgs,
    options: dmacheck::trace::TraceOptions,
) -> Result<ExitCode, ReportError> {
    use dmacheck::trace::live::{self, Stop, Tracefs};
    use std::sync::atomic::{AtomicBool, Ordering};
    static STOP: AtomicBool = AtomicBool::new(false);
    let Some(root) = args.tracefs.clone().or_else(live::find_tracefs) else {
        eprintln!(
            "dmacheck: no tracefs at {} (mount it with `mount -t tracefs nodev /sys/kernel/tracing`, or pass --tracefs DIR)",
            live::TRACEFS_PLACES.join(" or ")
        );
        return Ok(ExitCode::from(2));
    };
    ctrlc::set_handler(|| STOP.store(true, Ordering::Relaxed)).map_err(|e| {
        ReportError::Io(
            root.clone(),
            std::io::Error::other(format!("cannot handle Ctrl-C: {e}")),
        )
    })?;
    let buffer = args.buffer_kb.map_or(
        live::Buffer::AtLeast(live::BUFFER_KB),
        live::Buffer::Exactly,
    );
    // Restored when dropped: on every return below, and on a panic.
    let mut tracefs =
        Tracefs::prepare(&root, buffer).map_err(|e| ReportError::Io(root.clone(), e))?;
    eprintln!(
        "dmacheck: tracing the dma events of {}; Ctrl-C to stop",
        root.display()
    );
    let pipe = tracefs.pipe();
    let source = pipe.clone();
    let started = std::time::Instant::now();
    let stop = Stop {
        requested: &STOP,
        at: args
            .duration
            .map(|s| std::time::Instant::now() + std::time::Duration::from_secs_f64(s)),
    };
    let result = live::replay_live(
        move || std::fs::File::open(pipe),
        options,
        tracefs.cpus(),
        &stop,
        |v| {
            println!("{v}\n");
            use std::io::Write as _;
            let _ = std::io::stdout().flush();
        },
    );
    let restored = tracefs.restore();
    let saw_nothing = matches!(&result, Ok(replay) if !replay.is_dma_trace());
    let code = conclude_trace(args, &source, result, true)?;
    if let Err(e) = restored {
        eprintln!("dmacheck: {e}");
        return Ok(ExitCode::from(2));
    }
    if saw_nothing {
        // Nothing was checked: a quiet session must not read as a clean one.
        eprintln!(
            "dmacheck: no dma event in {:.1} s of tracing {}: nothing was checked; no device did DMA through the DMA API meanwhile{}",
            started.elapsed().as_secs_f64(),
            root.display(),
            virtio_hint(args.sysfs.as_deref().unwrap_or(Path::new("/sys/bus")))
        );
        return Ok(ExitCode::from(2));
    }
    Ok(code)
}

/// Why a live session may see no dma event on a VM: the virtio devices that bypass the DMA API.
fn virtio_hint(sysfs: &Path) -> String {
    let bypassing = dmacheck::trace::sysfs::virtio_bypassing_dma_api(sysfs);
    if bypassing.is_empty() {
        return String::new();
    }
    format!(
        " (these virtio devices never use it: without VIRTIO_F_ACCESS_PLATFORM they give the device guest-physical addresses: {})",
        bypassing.join(", ")
    )
}

/// Write the report of a replay and choose the exit code. A trace read part way is reported
/// as far as it was read, then fails (exit 2). `live`: the violations were printed as they
/// came, so the text report leaves them out.
fn conclude_trace(
    args: &TraceArgs,
    source: &Path,
    result: Result<dmacheck::trace::TraceReplay, dmacheck::trace::TraceError>,
    live: bool,
) -> Result<ExitCode, ReportError> {
    use dmacheck::trace::TraceError;
    let (replay, incomplete) = match result {
        Ok(replay) => (replay, None),
        Err(e @ TraceError::Incomplete { .. }) => {
            let message = e.to_string();
            let TraceError::Incomplete { replay, .. } = e else {
                unreachable!("matched above")
            };
            (*replay, Some(message))
        }
        Err(TraceError::Io(e)) => return Err(ReportError::Io(source.to_path_buf(), e)),
        Err(other) => {
            eprintln!("dmacheck: {other}");
            return Ok(ExitCode::from(2));
        }
    };
    let report = replay.report();
    let to_stdout = args.output == Path::new("-");
    let text = match args.format {
        OutputFormat::Text if live => {
            let mut rest = report.clone();
            rest.violations.clear();
            let mut text = Format::Text.render(&rest, to_stdout && args.color.enabled());
            text.push('\n');
            text.push_str(&replay.summary.to_text());
            text
        }
        OutputFormat::Text => replay.text(to_stdout && args.color.enabled()),
        other => {
            eprint!("{}", replay.summary.to_text());
            Format::from(other).render(&report, false)
        }
    };
    if to_stdout {
        print!("{text}");
    } else {
        std::fs::write(&args.output, text).map_err(|e| ReportError::Io(args.output.clone(), e))?;
    }
    if let Some(message) = incomplete {
        eprintln!("dmacheck: {message}");
        if !replay.is_dma_trace() {
            eprintln!("dmacheck: {}", replay.not_a_dma_trace());
        }
        return Ok(ExitCode::from(2));
    }
    let level = match args.fail_on {
        FailOn::Warn => Level::Warn,
        FailOn::Deny => Level::Deny,
    };
    Ok(if report.findings_at_least(level) > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `DEVICE=DRIVER`.
fn device_driver(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((device, driver)) if !device.is_empty() && !driver.is_empty() => {
            Ok((device.to_string(), driver.to_string()))
        }
        _ => Err(format!("`{s}` is not DEVICE=DRIVER")),
    }
}

/// Read every report named (a directory stands for its `*.json` files, by name) and merge them.
fn load(paths: &[PathBuf]) -> Result<Report, ReportError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let io = |e| ReportError::Io(path.clone(), e);
            let mut in_dir: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(io)?
                .map(|e| e.map(|e| e.path()).map_err(io))
                .collect::<Result<_, _>>()?;
            in_dir.retain(|p| p.extension().is_some_and(|e| e == "json"));
            in_dir.sort();
            if in_dir.is_empty() {
                return Err(ReportError::Io(
                    path.clone(),
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no *.json report in it"),
                ));
            }
            files.extend(in_dir);
        } else {
            files.push(path.clone());
        }
    }
    let reports = files
        .iter()
        .map(|f| Report::read(f).map_err(|e| with_path(f, e)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Report::merge(reports).expect("clap requires at least one file"))
}

/// Name the file in a parse error.
fn with_path(path: &Path, e: ReportError) -> ReportError {
    match e {
        ReportError::Io(..) => e,
        other => ReportError::Io(
            path.to_path_buf(),
            std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
        ),
    }
}
