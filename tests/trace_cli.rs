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
