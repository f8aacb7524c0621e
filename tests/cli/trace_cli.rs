//! `dmacheck trace`: a kernel trace file or standard input, plain or gzip, in every report
//! format, with its exit codes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use dmacheck::report::Report;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/traces")
        .join(name)
}

fn dmacheck(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dmacheck"))
        .args(args)
        .env_remove("DMACHECK")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dmacheck runs");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn a_clean_trace_exits_0_and_a_buggy_one_1_naming_its_lines() {
    let clean = dmacheck(
        &["trace", fixture("v6.18-clean.trace").to_str().unwrap()],
        None,
    );
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean.stdout));
    assert!(text(&clean.stdout).contains("SUMMARY: dmacheck: 0 violations"));
    let path = fixture("v6.12-unmap-size.trace");
    let buggy = dmacheck(&["trace", path.to_str().unwrap()], None);
    assert_eq!(buggy.status.code(), Some(1));
    let out = text(&buggy.stdout);
    let at = format!("at {}:15", path.display());
    let mapped = format!("mapped by dma_map_page at {}:13", path.display());
    assert!(
        out.contains("unmap-size-mismatch") && out.contains(&at) && out.contains(&mapped),
        "{out}"
    );
    assert!(
        out.contains("dmacheck trace:"),
        "the summary follows the report: {out}"
    );
}

#[test]
fn json_and_sarif_go_to_stdout_or_a_file_with_the_summary_on_stderr() {
    let path = fixture("v6.18-double-unmap.trace");
    let out = dmacheck(&["trace", "--format", "json", path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let report = Report::from_json(&text(&out.stdout)).expect("a JSON report");
    let v = &report.violations[0];
    assert_eq!((v.rule.as_str(), v.site.line), ("double-unmap", 15));
    assert_eq!(v.related.as_ref().unwrap().site.line, 14);
    assert!(text(&out.stderr).contains("dmacheck trace:"));

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("trace-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let sarif = dir.join("out.sarif");
    let out = dmacheck(
        &[
            "trace",
            "--format",
            "sarif",
            "-o",
            sarif.to_str().unwrap(),
            path.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let sarif = std::fs::read_to_string(sarif).unwrap();
    assert!(sarif.contains("\"startLine\": 15") && sarif.contains("double-unmap"));
}

#[test]
fn gzip_on_standard_input() {
    let raw = std::fs::read(fixture("v6.12-sync-direction.trace")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    let out = dmacheck(&["trace", "-"], Some(&gz.finish().unwrap()));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("sync-direction-mismatch") && stdout.contains("at -:14"),
        "{stdout}"
    );
}

#[test]
fn options_change_what_counts() {
    let mid = fixture("v6.12-mid-run.trace");
    let quiet = dmacheck(&["trace", mid.to_str().unwrap()], None);
    assert_eq!(quiet.status.code(), Some(0), "{}", text(&quiet.stdout));
    assert!(text(&quiet.stdout).contains("unknown to the trace"));
    let strict = dmacheck(&["trace", "--from-start", mid.to_str().unwrap()], None);
    assert_eq!(strict.status.code(), Some(1));

    let leak = fixture("v6.12-leak.trace");
    assert_eq!(
        dmacheck(&["trace", leak.to_str().unwrap()], None)
            .status
            .code(),
        Some(1)
    );
    let ignored = dmacheck(&["trace", "--ignore-leaks", leak.to_str().unwrap()], None);
    assert_eq!(ignored.status.code(), Some(0), "{}", text(&ignored.stdout));

    let wrong = fixture("v6.12-unmap-size.trace");
    let other = dmacheck(
        &["trace", "--device", "0000:00:1f.2", wrong.to_str().unwrap()],
        None,
    );
    assert_eq!(other.status.code(), Some(0));
    let deny_only = dmacheck(
        &["trace", "--fail-on", "deny", wrong.to_str().unwrap()],
        None,
    );
    assert_eq!(deny_only.status.code(), Some(0));
}

#[test]
fn an_unreadable_trace_exits_2() {
    let out = dmacheck(&["trace", "/nonexistent/dir/x.trace"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("x.trace"));
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("trace-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Input that is no trace of the dma events exits 2, says what it read and how to capture one,
/// and never echoes a control byte to the terminal.
#[test]
fn input_that_is_not_a_dma_trace_exits_2_saying_what_was_read() {
    let mut garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    garbage.extend_from_slice(b"\x1b[31mred\x1b[0m\n\x07\x00\xff\xfe\n");
    let other =
        b"          <idle>-0       [001] d.h1.    10.001644: irq_handler_entry: irq=11 name=eth0\n";
    for (name, bytes, said) in [
        ("empty", &b""[..], "read 0 lines"),
        ("binary", &garbage[..], "not trace lines"),
        (
            "prose",
            &b"hello\nworld\n"[..],
            "read 2 lines, 2 not trace lines",
        ),
        ("other-events", &other[..], "irq_handler_entry"),
    ] {
        let path = temp_file(name, bytes);
        for input in [
            dmacheck(&["trace", path.to_str().unwrap()], None),
            dmacheck(&["trace", "-"], Some(bytes)),
        ] {
            assert_eq!(input.status.code(), Some(2), "{name}");
            let err = text(&input.stderr);
            assert!(
                err.contains("not a trace of the dma:* events")
                    && err.contains(said)
                    && err.contains("echo 1 > /sys/kernel/tracing/events/dma/enable"),
                "{name}: {err}"
            );
            for out in [&input.stdout, &input.stderr] {
                assert!(
                    !out.iter().any(|&b| b == 0x1b || b == 0x07 || b == 0),
                    "{name}: a control byte echoed: {}",
                    String::from_utf8_lossy(out)
                );
            }
        }
    }
}

#[test]
fn a_truncated_gzip_reports_what_it_read_then_exits_2() {
    let raw = std::fs::read(fixture("v6.12-unmap-size.trace")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    let gz = gz.finish().unwrap();
    // Without its trailer (CRC and length): every line decodes, then the stream ends early.
    let out = dmacheck(&["trace", "-"], Some(&gz[..gz.len() - 8]));
    assert_eq!(out.status.code(), Some(2));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        stdout.contains("unmap-size-mismatch") && stdout.contains("at -:15"),
        "{stdout}"
    );
    assert!(stderr.contains("reading stopped after"), "{stderr}");
}

#[test]
fn a_line_over_the_bound_is_malformed_and_the_rest_is_checked() {
    let raw = std::fs::read_to_string(fixture("v6.12-unmap-size.trace")).unwrap();
    let mut lines: Vec<String> = raw.lines().map(str::to_string).collect();
    lines.insert(12, "x".repeat(3 << 20));
    let long = lines.join("\n") + "\n";
    let out = dmacheck(&["trace", "-"], Some(long.as_bytes()));
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("line 13: a line longer than 1048576 bytes") && stdout.contains("at -:16"),
        "{}",
        &stdout[..stdout.len().min(3000)]
    );
    assert!(stdout.len() < 20_000, "the long line is not echoed whole");
    // The bound is an option: at 100 bytes every event line is too long.
    let short = dmacheck(
        &["trace", "--max-line-bytes", "100", "-"],
        Some(raw.as_bytes()),
    );
    assert_eq!(short.status.code(), Some(2), "{}", text(&short.stderr));
    assert!(text(&short.stderr).contains("a line longer than 100 bytes"));
}

/// What a kernel developer acts on: the driver (named on the command line or read from a saved
/// sysfs tree), the task and context of the call, and the line that made what was released.
#[test]
fn reports_name_the_driver_task_context_and_mapping_line() {
    let path = fixture("v6.18-free-irqs-off.trace");
    let json = |extra: &[&str]| {
        let mut args = vec!["trace", "--format", "json"];
        args.extend_from_slice(extra);
        args.push(path.to_str().unwrap());
        let out = dmacheck(&args, None);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        Report::from_json(&text(&out.stdout)).expect("a JSON report")
    };
    let v = json(&[]).violations[0].clone();
    assert_eq!(v.driver, "unknown");
    assert_eq!(v.detail("task").unwrap(), "rmmod-467");
    assert_eq!(v.detail("context").unwrap(), "D..1. (IRQs off, softirq)");
    assert_eq!(v.mapped_at.as_ref().unwrap().line, 13);

    let named = json(&["--driver", "0000:00:05.0=virtio-pci"]);
    assert_eq!(named.violations[0].driver, "virtio-pci");

    // A saved /sys/bus tree: the `driver` link's last component names the driver.
    let sys = Path::new(env!("CARGO_TARGET_TMPDIR")).join("trace-cli-sysfs");
    let _ = std::fs::remove_dir_all(&sys);
    let dev = sys.join("pci/devices/0000:00:05.0");
    std::fs::create_dir_all(&dev).unwrap();
    std::os::unix::fs::symlink("../../../../bus/pci/drivers/virtio-pci", dev.join("driver"))
        .unwrap();
    let from_sysfs = json(&["--sysfs", sys.to_str().unwrap()]);
    assert_eq!(from_sysfs.violations[0].driver, "virtio-pci");
    // The command line wins over sysfs.
    let both = json(&[
        "--sysfs",
        sys.to_str().unwrap(),
        "--driver",
        "0000:00:05.0=x",
    ]);
    assert_eq!(both.violations[0].driver, "x");

    let bad = dmacheck(
        &["trace", "--driver", "no-equals", path.to_str().unwrap()],
        None,
    );
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn junit_carries_the_leaks_as_sarif_does() {
    let path = fixture("v6.12-leak.trace");
    for format in ["junit", "sarif"] {
        let out = dmacheck(&["trace", "--format", format, path.to_str().unwrap()], None);
        assert_eq!(out.status.code(), Some(1));
        let stdout = text(&out.stdout);
        let at = format!("{}:22", path.display());
        let line = if format == "sarif" {
            "\"startLine\": 22".to_string()
        } else {
            at
        };
        assert!(
            stdout.contains(&line) && stdout.contains("leak"),
            "{format}: {stdout}"
        );
    }
}

/// `DMACHECK_REPORT` is for test checkers: the replay's own checker writes no file of its own
/// there (the command's report is its output), and a mistyped `DMACHECK` is an error, exit 2.
#[test]
fn the_environment_meant_for_tests_neither_writes_files_nor_panics() {
    let dir = std::env::temp_dir().join(format!("dmacheck-trace-env-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let trace = fixture("v6.18-clean.trace");
    let run = |dmacheck_env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dmacheck"));
        cmd.args(["trace", trace.to_str().unwrap()])
            .env("DMACHECK_REPORT", format!("json:{}/", dir.display()))
            .env("NO_COLOR", "1");
        match dmacheck_env {
            Some(v) => cmd.env("DMACHECK", v),
            None => cmd.env_remove("DMACHECK"),
        };
        cmd.output().unwrap()
    };
    let clean = run(None);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean.stderr));
    let written: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(written.is_empty(), "files written: {written:?}");
    let mistyped = run(Some("leak=loud"));
    assert_eq!(
        mistyped.status.code(),
        Some(2),
        "{}",
        text(&mistyped.stderr)
    );
    let err = text(&mistyped.stderr);
    assert!(
        err.contains("leak=loud") && !err.contains("panicked"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
