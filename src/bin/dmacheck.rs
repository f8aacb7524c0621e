//! The `dmacheck` command: the rule catalogue, and JSON reports (written by
//! `DMACHECK_REPORT=json:<dir>/`) shown as text, merged across shards into JSON, SARIF or JUnit,
//! checked for CI, and dumped.
//!
//! Exit codes: 0 on success, 1 when `report check` finds findings at the level asked, 2 when a
//! report cannot be read or written (or the command line is wrong).

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
