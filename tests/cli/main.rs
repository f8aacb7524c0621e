//! The `dmacheck` command, and reports written at process exit with no code change: by a Rust
//! program (`examples/leaky.rs`) and by a test binary (this one, run again as a child).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dmacheck::report::{Format, Report};
use dmacheck::*;

#[macro_use]
#[path = "../common/mod.rs"]
mod common;
// `dmacheck trace`, from files and live.
mod trace_cli;
mod trace_live;

fn scratch_dir(name: &str) -> PathBuf {
    common::scratch_dir(&format!("cli-{name}"))
}

fn dmacheck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dmacheck"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("dmacheck runs")
}

use common::{stderr_of as stderr, stdout_of as stdout};

/// A report of one shard: `rx` receive buffers leaked, `bad` unmaps of a wrong size.
fn shard(rx: usize, bad: usize) -> Report {
    let checker = Checker::builder().env(false).print(false).build();
    let nic = checker.device("eth0").driver("e1000").build();
    for _ in 0..rx {
        let buf = kmalloc(&checker, 1024, Gfp::KERNEL);
        let dma = dma_map_single(&nic, buf, 1024, Direction::FromDevice);
        assert_eq!(dma_mapping_error(&nic, dma), 0);
    }
    for _ in 0..bad {
        let buf = kmalloc(&checker, 256, Gfp::KERNEL);
        let dma = dma_map_single(&nic, buf, 256, Direction::ToDevice);
        assert_eq!(dma_mapping_error(&nic, dma), 0);
        dma_unmap_single(&nic, dma, 128, Direction::ToDevice);
    }
    checker.report()
}

fn write_json(dir: &Path, name: &str, report: &Report) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, report.to_json()).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn rules_prints_the_catalogue_that_is_rules_md() {
    let out = dmacheck(&["rules"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), rules::catalogue_markdown());
}

#[test]
fn report_show_renders_json_as_the_text_format() {
    let dir = scratch_dir("show");
    let report = shard(2, 1);
    let file = write_json(&dir, "a.json", &report);
    let out = dmacheck(&["report", "show", "--color", "never", s(&file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), Format::Text.render(&report, false));
    let colored = dmacheck(&["report", "show", "--color", "always", s(&file)]);
    assert!(stdout(&colored).contains("\x1b["));
}

#[test]
fn report_merge_of_shards_is_exact_in_every_format() {
    let dir = scratch_dir("merge");
    let shards = scratch_dir("merge-shards");
    let (a, b) = (shard(2, 1), shard(3, 2));
    write_json(&shards, "dmacheck-1-0.json", &a);
    write_json(&shards, "dmacheck-2-0.json", &b);
    std::fs::write(shards.join("notes.txt"), "not a report").unwrap();

    let merged_path = dir.join("merged.json");
    let out = dmacheck(&["report", "merge", "-o", s(&merged_path), s(&shards)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let merged = Report::read(&merged_path).unwrap();
    assert_eq!(merged, Report::merge([a.clone(), b.clone()]).unwrap());
    assert_eq!(merged.counters.violations, 3);
    assert_eq!(merged.counters.per_rule["unmap-size-mismatch"], 3);
    assert_eq!(merged.leaks.sites.len(), 1);
    assert_eq!(
        (merged.leaks.entries, merged.leaks.bytes),
        (5, 5 * 1024),
        "the same site's leaks combine"
    );

    let sarif_path = dir.join("merged.sarif");
    let out = dmacheck(&[
        "report",
        "merge",
        "--format",
        "sarif",
        "-o",
        s(&sarif_path),
        s(&shards),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif_path).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        3 + 1,
        "three violations and one leak site still live"
    );

    let out = dmacheck(&[
        "report",
        "merge",
        "--format",
        "junit",
        "-o",
        "-",
        s(&shards),
    ]);
    let xml = stdout(&out);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("failures"), Some("2"));
    let mismatch = suite
        .children()
        .find(|n| n.attribute("name") == Some("unmap-size-mismatch"))
        .unwrap();
    let failure = mismatch.first_element_child().unwrap();
    assert!(
        failure
            .attribute("message")
            .unwrap()
            .starts_with("3 violation(s)")
    );
}

#[test]
fn report_check_sets_the_exit_code_for_ci() {
    let dir = scratch_dir("check");
    let warned = write_json(&dir, "warned.json", &shard(0, 1));
    let leaky = write_json(&dir, "leaky.json", &shard(1, 0));
    let clean = write_json(&dir, "clean.json", &shard(0, 0));

    let out = dmacheck(&["report", "check", s(&warned)]);
    assert_eq!(out.status.code(), Some(1), "warn findings fail by default");
    assert!(
        stdout(&out).contains("unmap-size-mismatch"),
        "the findings are printed"
    );
    assert!(stdout(&out).contains("FAILED: 1 finding(s) at warn"));
    let out = dmacheck(&["report", "check", "--fail-on", "deny", s(&warned)]);
    assert_eq!(out.status.code(), Some(0), "no deny finding");
    let out = dmacheck(&["report", "check", s(&leaky)]);
    assert_eq!(out.status.code(), Some(1), "a leak still live is a finding");
    let out = dmacheck(&["report", "check", s(&clean)]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("ok: no finding"));
}

#[test]
fn report_dump_lists_the_live_entries() {
    let dir = scratch_dir("dump");
    let report = shard(2, 0);
    let file = write_json(&dir, "a.json", &report);
    let out = dmacheck(&["report", "dump", "--color", "never", s(&file)]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.starts_with("dmacheck: 2 DMA entries live\n"), "{text}");
    for e in &report.live_entries {
        assert!(text.contains(&format!("dma_addr={:#x} size=1024", e.dma_addr)));
    }
    assert!(text.contains("SUMMARY: dmacheck: 2048 bytes leaked in 2 DMA entries at 1 site"));
}

#[test]
fn unreadable_reports_exit_with_2_naming_the_file() {
    let dir = scratch_dir("unreadable");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"schema\": \"something-else/9\"}").unwrap();
    let out = dmacheck(&["report", "check", s(&bad)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.json"), "{}", stderr(&out));
    assert!(stderr(&out).contains("something-else/9"));
    let empty = scratch_dir("unreadable-empty");
    assert_eq!(
        dmacheck(&["report", "show", s(&empty)]).status.code(),
        Some(2)
    );
    assert_eq!(dmacheck(&["report", "frobnicate"]).status.code(), Some(2));
}

/// Build `examples/leaky.rs` with the cargo running these tests; returns its executable.
fn leaky_example() -> PathBuf {
    let out = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--example",
            "leaky",
            "--message-format=json",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "leaky")
        .and_then(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo names the example's executable")
}

#[test]
fn a_rust_program_writes_its_leak_report_at_exit_with_no_code_change() {
    let dir = scratch_dir("leaky-example");
    let child = Command::new(leaky_example())
        .env_remove("DMACHECK")
        .env("DMACHECK_REPORT", format!("json:{}/", dir.display()))
        .output()
        .unwrap();
    assert!(child.status.success(), "{}", stderr(&child));
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let report = Report::read(&files[0]).unwrap();
    let name = files[0].file_name().unwrap().to_str().unwrap();
    let pid = report.sources[0].pid;
    assert!(name.starts_with(&format!("dmacheck-{pid}-")), "{name}");
    assert!(name.ends_with("-0.json"), "{name}");
    assert!(report.sources[0].program.ends_with("leaky"));

    let sites: Vec<(&str, u64, u64, u64, u32)> = report
        .leaks
        .sites
        .iter()
        .map(|l| {
            (
                l.call.as_str(),
                l.entries,
                l.bytes,
                l.live_entries,
                l.site.line,
            )
        })
        .collect();
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/leaky.rs"))
            .unwrap();
    let line_of = |needle: &str| {
        source
            .lines()
            .position(|l| l.contains(needle))
            .expect(needle) as u32
            + 1
    };
    assert_eq!(
        sites,
        [
            (
                "dma_map_single",
                4,
                4 * 2048,
                4,
                line_of("dma_map_single(dev")
            ),
            (
                "dma_alloc_coherent",
                1,
                4096,
                1,
                line_of("dma_alloc_coherent(dev")
            ),
            ("dma_map_page", 1, 512, 0, line_of("dma_map_page(dev")),
        ]
    );
    assert_eq!(report.counters.per_rule["leak"], 1, "the disk's release");
    assert_eq!(report.live_entries.len(), 5);
}

#[test]
fn a_rust_program_reports_as_text_on_stderr() {
    let child = Command::new(leaky_example())
        .env_remove("DMACHECK")
        .env("DMACHECK_REPORT", "text:-")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = stderr(&child);
    let pid = child_pid_in(&text);
    let text = text
        .replace(&format!("(pid {pid})"), "(pid PID)")
        .replace(&*leaky_example().to_string_lossy(), "leaky");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reports/leaky.txt");
    if std::env::var_os("DMACHECK_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == text,
        "the leaky example's stderr differs from {} (bless with DMACHECK_BLESS=1):\n{text}",
        path.display()
    );
}

/// The pid in a text report's `(pid N)`.
fn child_pid_in(text: &str) -> u32 {
    let start = text.find("(pid ").expect("a report header") + 5;
    let end = start + text[start..].find(')').unwrap();
    text[start..end].parse().unwrap()
}

/// The child of the next tests: leaks two buffers into the process-wide checker and ends.
/// Does nothing unless run as that child.
#[test]
fn child_leaks_into_the_global_checker() {
    if std::env::var_os("DMACHECK_CLI_CHILD").is_none() {
        return;
    }
    let checker = Checker::global();
    let dev = checker.device("child0").driver("childdrv").build();
    for _ in 0..2 {
        let buf = kmalloc(checker, 128, Gfp::KERNEL);
        let dma = dma_map_single(&dev, buf, 128, Direction::ToDevice);
        assert_eq!(dma_mapping_error(&dev, dma), 0);
    }
    std::mem::forget(dev);
}

/// Run this test binary again, as the child test only, with `env`.
fn run_child(env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_leaks_into_the_global_checker",
        "--test-threads=1",
    ])
    .env("DMACHECK_CLI_CHILD", "1")
    .env_remove("DMACHECK")
    .env_remove("DMACHECK_REPORT")
    .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

#[test]
fn test_binaries_sharing_a_directory_each_write_their_own_report() {
    let dir = scratch_dir("test-binaries");
    let spec = format!("json:{}/", dir.display());
    for _ in 0..2 {
        run_child(&[("DMACHECK_REPORT", &spec)]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let reports: Vec<Report> = files.iter().map(|f| Report::read(f).unwrap()).collect();
    assert_ne!(reports[0].sources[0].pid, reports[1].sources[0].pid);
    for r in &reports {
        assert_eq!(
            (r.leaks.entries, r.leaks.bytes, r.leaks.live_entries),
            (2, 256, 2)
        );
        assert_eq!(r.leaks.sites[0].devices, ["child0"]);
        assert!(r.leaks.sites[0].site.file.ends_with("tests/cli/main.rs"));
    }
    let out = dmacheck(&["report", "check", s(&dir)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("FAILED: 4 finding(s) at warn or above in 2 report(s)"));
}

#[test]
fn without_dmacheck_report_the_exit_prints_the_leak_summary() {
    let out = run_child(&[]);
    let text = stderr(&out);
    assert!(
        text.contains(
            "SUMMARY: dmacheck: 256 bytes leaked in 2 DMA entries at 1 site (2 still live)."
        ),
        "{text}"
    );
    let quiet = run_child(&[("DMACHECK", "print=0")]);
    assert!(!stderr(&quiet).contains("dmacheck"), "{}", stderr(&quiet));
}

#[test]
fn a_malformed_dmacheck_report_is_reported_and_nothing_written() {
    let out = run_child(&[("DMACHECK_REPORT", "yaml:out.yaml")]);
    let text = stderr(&out);
    assert!(
        text.contains("DMACHECK_REPORT: unknown report format `yaml`"),
        "{text}"
    );
    assert!(!text.contains("SUMMARY"), "{text}");
}
