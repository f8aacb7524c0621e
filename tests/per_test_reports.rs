//! Per-test checkers reach CI with no code in the tests: under `DMACHECK_REPORT`, every
//! `Checker::new()` writes its report when its last handle drops, one file per checker named
//! after its test, and `dmacheck report merge` over the directory gives the leak summary
//! grouped by site and one JUnit test case per test.
//!
//! The `child_*` tests are the suite under test: they act only when this binary runs them
//! again as a child (with `DMACHECK_PER_TEST_CHILD` set), and contain no report code.

use std::path::PathBuf;
use std::process::{Command, Output};

use dmacheck::report::Report;
use dmacheck::*;

mod common;
use common::{scratch_dir, stderr_of, stdout_of, this_binary_as_child};

const CHILD: &str = "DMACHECK_PER_TEST_CHILD";

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Maps `n` receive buffers of 512 bytes and never unmaps them: the one leak site of the
/// child suite, shared by two tests.
fn post_rx_buffers(checker: &Checker, dev: &Device, n: usize) {
    for _ in 0..n {
        let buf = kmalloc(checker, 512, Gfp::KERNEL);
        let dma = dma_map_single(dev, buf, 512, Direction::FromDevice);
        assert_eq!(dma_mapping_error(dev, dma), 0);
    }
}

#[test]
fn child_rx_ring_is_clean() {
    if !is_child() {
        return;
    }
    let checker = Checker::new();
    let dev = checker.device("eth0").driver("e1000").build();
    let buf = kmalloc(&checker, 2048, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 2048, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_unmap_single(&dev, dma, 2048, Direction::FromDevice);
    kfree(&checker, buf);
    checker.assert_clean();
}

#[test]
fn child_open_leaks_two_buffers() {
    if !is_child() {
        return;
    }
    let checker = Checker::new();
    let dev = checker.device("eth0").driver("e1000").build();
    post_rx_buffers(&checker, &dev, 2);
}

#[test]
fn child_reopen_leaks_one_buffer() {
    if !is_child() {
        return;
    }
    let checker = Checker::new();
    let dev = checker.device("eth1").driver("e1000").build();
    post_rx_buffers(&checker, &dev, 1);
}

#[test]
fn child_two_checkers_in_one_test() {
    if !is_child() {
        return;
    }
    for _ in 0..2 {
        let checker = Checker::new();
        let _dev = checker.device("sda").driver("ahci").build();
    }
}

#[test]
fn child_environment_free_checker() {
    if !is_child() {
        return;
    }
    // `.env(false)` ignores the environment, `DMACHECK_REPORT` included: no file.
    let checker = Checker::builder().env(false).print(false).build();
    let dev = checker.device("eth9").build();
    post_rx_buffers(&checker, &dev, 1);
}

/// Run the child suite, in parallel, with `DMACHECK_REPORT` set to `spec`.
fn run_child_suite(spec: &str) -> Output {
    let out = this_binary_as_child("child_", CHILD)
        .arg("--test-threads=4")
        .env("DMACHECK_REPORT", spec)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    out
}

fn files_in(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn dmacheck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dmacheck"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("dmacheck runs")
}

#[test]
fn every_per_test_checker_writes_one_file_named_after_its_test() {
    let dir = scratch_dir("per-test-files");
    run_child_suite(&format!("json:{}/", dir.display()));
    let files = files_in(&dir);
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let count = |test: &str| {
        names
            .iter()
            .filter(|n| n.starts_with(&format!("dmacheck-{test}-")))
            .count()
    };
    // Clean checkers write a file too: the record that the test ran checked and clean.
    assert_eq!(count("child_rx_ring_is_clean"), 1, "{names:?}");
    assert_eq!(count("child_open_leaks_two_buffers"), 1, "{names:?}");
    assert_eq!(count("child_reopen_leaks_one_buffer"), 1, "{names:?}");
    assert_eq!(count("child_two_checkers_in_one_test"), 2, "{names:?}");
    assert_eq!(count("child_environment_free_checker"), 0, "{names:?}");
    assert_eq!(files.len(), 5, "{names:?}");

    for file in &files {
        let report = Report::read(file).unwrap();
        let test = report.sources[0].test.as_ref().expect("a per-test report");
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(
            name.starts_with(&format!("dmacheck-{}-", test.name)),
            "{name}"
        );
        let leaked = report.leaks.entries;
        match test.name.as_str() {
            "child_open_leaks_two_buffers" => assert_eq!((leaked, test.findings), (2, 2)),
            "child_reopen_leaks_one_buffer" => assert_eq!((leaked, test.findings), (1, 1)),
            _ => assert_eq!((leaked, test.findings, test.failure.as_str()), (0, 0, "")),
        }
    }
}

#[test]
fn merging_the_directory_gives_the_leak_summary_grouped_by_site() {
    let dir = scratch_dir("per-test-merge");
    run_child_suite(&format!("json:{}/", dir.display()));
    let out = dmacheck(&[
        "report",
        "merge",
        "--format",
        "text",
        "-o",
        "-",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    let source = include_str!("per_test_reports.rs");
    let line = source
        .lines()
        .position(|l| l.contains("let dma = dma_map_single(dev, buf, 512"))
        .unwrap()
        + 1;
    assert!(
        text.contains(&format!(
            "1536 bytes in 3 entries (3 single) made by dma_map_single at tests/per_test_reports.rs:{line}"
        )),
        "{text}"
    );
    assert!(
        text.contains("1536 bytes leaked in 3 DMA entries at 1 site"),
        "{text}"
    );
    assert!(
        text.contains("dmacheck report: 5 reports merged (5 tests checked, 2 with findings)"),
        "{text}"
    );
    // The devices were released by their last handles' drops, in the tests: the reports say
    // where, not a line of dmacheck's.
    assert!(!text.contains("src/device.rs"), "{text}");
    let sites: Vec<&str> = text.lines().filter(|l| l.starts_with("    at ")).collect();
    let leak_sites = sites.len();
    let in_tests = sites
        .iter()
        .filter(|l| l.contains("tests/per_test_reports.rs:"))
        .count();
    // One leak violation per release: the two buffers one test leaked at one site are one.
    assert_eq!((leak_sites, in_tests), (2, 2), "{text}");
    assert!(
        text.contains("2 single mappings still live [entries=2 bytes=1024 dma_addr="),
        "{text}"
    );
    let check = dmacheck(&[
        "report",
        "check",
        "--fail-on",
        "warn",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(check.status.code(), Some(1), "{}", stdout_of(&check));
}

#[test]
fn merged_junit_has_one_test_case_per_test() {
    let dir = scratch_dir("per-test-junit");
    run_child_suite(&format!("json:{}/", dir.display()));
    let out = dmacheck(&[
        "report",
        "merge",
        "--format",
        "junit",
        "-o",
        "-",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let xml = stdout_of(&out);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite") && n.attribute("name") == Some("dmacheck tests"))
        .expect("a suite of the tests");
    let mut cases: Vec<(String, String, bool)> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|c| {
            (
                c.attribute("classname").unwrap().to_string(),
                c.attribute("name").unwrap().to_string(),
                c.children().any(|f| f.has_tag_name("failure")),
            )
        })
        .collect();
    cases.sort();
    let case = |name: &str, failed| ("per_test_reports".to_string(), name.to_string(), failed);
    assert_eq!(
        cases,
        [
            case("child_open_leaks_two_buffers", true),
            case("child_reopen_leaks_one_buffer", true),
            case("child_rx_ring_is_clean", false),
            case("child_two_checkers_in_one_test", false),
            case("child_two_checkers_in_one_test", false),
        ]
    );
    assert_eq!(suite.attribute("failures"), Some("2"));
}

#[test]
fn stderr_gets_the_reports_of_checkers_with_findings_only() {
    let out = run_child_suite("text:-");
    let text = stderr_of(&out);
    assert_eq!(
        text.matches("SUMMARY: dmacheck").count(),
        2,
        "one report per leaking test, none for the clean ones:\n{text}"
    );
}
