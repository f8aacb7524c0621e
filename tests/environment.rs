//! What `DMACHECK` does to a whole run: a directive that is not understood fails every checker
//! built under it, and `exit-code=<n>` makes a process whose checkers found something exit with
//! status `n`.
//!
//! The `child_*` tests act only when this binary runs them again as a child (with
//! `DMACHECK_ENV_CHILD` set).

use dmacheck::*;

mod common;
use common::{stderr_of, stdout_of, this_binary_as_child};

const CHILD: &str = "DMACHECK_ENV_CHILD";

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

fn map_one(checker: &Checker, dev: &Device) -> (*mut u8, DmaAddr) {
    let buf = kmalloc(checker, 256, Gfp::KERNEL);
    let dma = dma_map_single(dev, buf, 256, Direction::ToDevice);
    assert_eq!(dma_mapping_error(dev, dma), 0);
    (buf, dma)
}

#[test]
fn child_per_test_clean() {
    if !is_child() {
        return;
    }
    let checker = Checker::new();
    let dev = checker.device("eth0").build();
    let (buf, dma) = map_one(&checker, &dev);
    dma_unmap_single(&dev, dma, 256, Direction::ToDevice);
    kfree(&checker, buf);
}

#[test]
fn child_per_test_leak() {
    if !is_child() {
        return;
    }
    let checker = Checker::new();
    let dev = checker.device("eth0").build();
    map_one(&checker, &dev);
}

#[test]
fn child_global_leak() {
    if !is_child() {
        return;
    }
    let checker = Checker::global();
    let dev = checker.device("eth-global").build();
    map_one(checker, &dev);
    std::mem::forget(dev);
}

fn run(filter: &str, dmacheck: &str) -> std::process::Output {
    this_binary_as_child(filter, CHILD)
        .args(["--test-threads=1"])
        .env("DMACHECK", dmacheck)
        .output()
        .unwrap()
}

#[test]
fn a_mistyped_directive_fails_every_checker_with_its_message() {
    let out = run("child_per_test_", "leak=loud");
    assert!(!out.status.success(), "the run must fail");
    let text = stdout_of(&out);
    for test in ["child_per_test_clean", "child_per_test_leak"] {
        assert!(text.contains(&format!("{test} ... FAILED")), "{text}");
    }
    assert!(
        text.contains("DMACHECK: `leak=loud`: level must be allow, warn or deny"),
        "{text}"
    );
    // The panic points at the test's `Checker::new()`, not inside dmacheck.
    assert!(text.contains("panicked at tests/environment.rs:"), "{text}");
}

#[test]
fn a_mistyped_directive_is_an_error_of_the_builder_spec_too() {
    let Err(err) = Checker::builder().spec("stacks=many") else {
        panic!("stacks=many is not a frame count");
    };
    assert_eq!(err.directive, "stacks=many");
    assert!(Checker::builder().spec("exit-code=3,leak=deny").is_ok());
    assert!(Checker::builder().spec("exit-code=300").is_err());
}

#[test]
fn exit_code_fails_a_passing_test_binary_whose_checkers_leaked() {
    let leaked = run("child_per_test_leak", "exit-code=3");
    assert!(
        stdout_of(&leaked).contains("test result: ok"),
        "the tests pass"
    );
    assert_eq!(leaked.status.code(), Some(3), "{}", stderr_of(&leaked));
    assert!(
        stderr_of(&leaked).contains("dmacheck: 1 finding(s) at warn level or above; exit status 3"),
        "{}",
        stderr_of(&leaked)
    );

    let clean = run("child_per_test_clean", "exit-code=3");
    assert_eq!(clean.status.code(), Some(0), "{}", stderr_of(&clean));

    let without = run("child_per_test_leak", "");
    assert_eq!(without.status.code(), Some(0), "off by default");
}

#[test]
fn exit_code_fails_a_program_whose_process_wide_checker_leaked_at_exit() {
    let out = run("child_global_leak", "exit-code=7");
    assert_eq!(out.status.code(), Some(7), "{}", stderr_of(&out));
    let text = stderr_of(&out);
    // The exit report still comes first.
    let summary = text.find("SUMMARY: dmacheck").expect(&text);
    let status = text.find("exit status 7").expect(&text);
    assert!(summary < status, "{text}");
}
