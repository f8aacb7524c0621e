//! Reports written with no code in the program, where `DMACHECK_REPORT` says: the process-wide
//! checker's at process exit (or, without the variable, the leak summary on stderr when
//! something leaked), and every other checker's when its last handle drops. Programs (test
//! binaries, C programs through the C ABI) get the first with no change: the exit hook is
//! registered when [`Checker::global`] is first used; tests get the second from `Checker::new()`.

use std::io::Write as _;
use std::path::PathBuf;

use crate::checker::{Checker, CheckerInner};
use crate::config::REPORT_ENV_VAR;
use crate::report::{Destination, ReportError, Target, TextStyle as Style};
use crate::rules::Level;
use crate::sync::Ordering;
use crate::sync::process::{AtomicBool, AtomicU32, OnceLock};
use std::sync::atomic::AtomicU64;

/// The process that registered the hook: a forked child inherits the hook but not the duty to
/// report, which would count its parent's findings twice.
static REGISTERED_BY: AtomicU32 = AtomicU32::new(0);

/// Whether the exit report was written (at most once per process).
static WRITTEN: AtomicBool = AtomicBool::new(false);

/// The exit status `DMACHECK=exit-code=<n>` asks for (0: none), set by the checkers built
/// under it.
static EXIT_CODE: AtomicU32 = AtomicU32::new(0);

/// The process that registered the exit-status hook (see [`REGISTERED_BY`]).
static STATUS_HOOK_BY: AtomicU32 = AtomicU32::new(0);

/// Findings of the checkers already dropped, for the exit status.
static DROPPED_FINDINGS: AtomicU64 = AtomicU64::new(0);

/// The destinations `DMACHECK_REPORT` names, read once.
static DESTINATIONS: OnceLock<Result<Vec<Destination>, String>> = OnceLock::new();

/// Read and parse once; a malformed value is reported the first time, not at exit.
fn destinations() -> &'static Result<Vec<Destination>, String> {
    DESTINATIONS.get_or_init(|| {
        let parsed = match std::env::var(REPORT_ENV_VAR) {
            Ok(spec) => Destination::parse_list(&spec)
                .map_err(|e: ReportError| format!("dmacheck: {REPORT_ENV_VAR}: {e} (no report)")),
            Err(_) => Ok(Vec::new()),
        };
        if let Err(e) = &parsed {
            // Straight to the stream: a test harness would capture `eprintln!` in the test that
            // happened to touch the checker first, and hide the mistake.
            let _ = writeln!(std::io::stderr(), "{e}");
        }
        parsed
    })
}

/// Register the exit report; called once, when the process-wide checker is made.
pub(crate) fn register_exit_report() {
    let _ = destinations();
    REGISTERED_BY.store(std::process::id(), Ordering::Relaxed);
    // SAFETY: `atexit` only records the function pointer; `at_exit` takes no arguments, is
    // valid for the life of the process, and never unwinds across the C boundary.
    let failed = unsafe { libc::atexit(at_exit) } != 0;
    if failed {
        eprintln!("dmacheck: could not register the exit report (atexit failed)");
    }
}

extern "C" fn at_exit() {
    if REGISTERED_BY.load(Ordering::Relaxed) != std::process::id() {
        return;
    }
    // A panic must not unwind into the C runtime's exit path; a failed report is reported and
    // the exit goes on.
    if std::panic::catch_unwind(Checker::write_exit_report_now).is_err() {
        eprintln!("dmacheck: the exit report failed");
    }
}

impl Checker {
    /// Write the process-wide checker's exit report now, instead of at exit: to each destination
    /// of `DMACHECK_REPORT` (see [`Destination`]), or, when it is not set, the leak summary to
    /// stderr if anything leaked and printing is on. Returns the files written.
    ///
    /// The report is written once per process: at exit it is not written again. For a program that
    /// leaves by a path that skips `atexit` handlers (`_exit`, an abort, a signal handler, the end
    /// of a C program that calls `_exit`), call it (or its C ABI wrapper) just before.
    pub fn write_exit_report_now() -> Vec<PathBuf> {
        if WRITTEN.swap(true, Ordering::AcqRel) {
            return Vec::new();
        }
        let checker = Checker::global();
        let mut written = Vec::new();
        match destinations() {
            Err(_) => {}
            Ok(dests) if dests.is_empty() => {
                let leaks = checker.leak_report();
                if checker.config().print && !leaks.is_empty() {
                    eprint!("{}", Style::stderr().leaks(&leaks));
                }
            }
            Ok(dests) => {
                let report = checker.report();
                for d in dests {
                    match d.write(&report) {
                        Ok(path) => written.extend(path),
                        Err(e) => eprintln!("dmacheck: {REPORT_ENV_VAR}: {e}"),
                    }
                }
            }
        }
        written
    }
}

/// Write a checker's report as its last handle drops (a test's `Checker::new()`), to each
/// destination of `DMACHECK_REPORT`:
///
/// - a directory gets one new file per checker, `dmacheck-<test>-<pid>-<stamp>-<n>.<ext>`,
///   clean or not: a clean file is the record that the test ran checked and found nothing (a
///   JUnit test case that passes after the merge);
/// - stderr (`text:-`) gets the text report when there are findings, nothing for a clean one;
/// - a file is left to the process-wide checker's exit report: every test's checker would
///   replace the one before.
pub(crate) fn write_drop_report(checker: &CheckerInner) {
    let Ok(dests) = destinations() else { return };
    if dests.is_empty() {
        return;
    }
    // A failed report must not turn a drop (perhaps during a test's unwinding) into a panic.
    let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let report = checker.report();
        let clean = report.findings_at_least(Level::Warn) == 0;
        let label = checker.test_name.as_deref();
        for d in dests {
            let result = match d.target {
                Target::Directory(_) => d.write_labeled(&report, label),
                Target::Stderr if !clean => d.write(&report),
                Target::Stderr | Target::File(_) => continue,
            };
            if let Err(e) = result {
                let _ = writeln!(std::io::stderr(), "dmacheck: {REPORT_ENV_VAR}: {e}");
            }
        }
    }));
    if written.is_err() {
        let _ = writeln!(std::io::stderr(), "dmacheck: a checker's report failed");
    }
}

/// A checker's findings at warn level or above, as [`Report::findings_at_least`] counts them,
/// without making the report: violations reported, and entries still live unless `leak` is
/// allowed.
///
/// [`Report::findings_at_least`]: crate::report::Report::findings_at_least
fn findings(checker: &CheckerInner) -> u64 {
    let leaks = if checker.config.level(&crate::rules::LEAK) == Level::Allow {
        0
    } else {
        checker.tracker.live()
    };
    checker.reporter.errors() + leaks
}

/// Count a dropped checker's findings for the exit status (`DMACHECK=exit-code`).
pub(crate) fn count_dropped_findings(checker: &CheckerInner) {
    DROPPED_FINDINGS.fetch_add(findings(checker), Ordering::Relaxed);
}

/// Make the process exit with `code` if any checker finds something (`DMACHECK=exit-code`);
/// called when a checker is built with it. The hook is registered once per process.
pub(crate) fn exit_with_status_on_findings(code: u8) {
    EXIT_CODE.store(u32::from(code), Ordering::Relaxed);
    let pid = std::process::id();
    if STATUS_HOOK_BY.swap(pid, Ordering::AcqRel) == pid {
        return;
    }
    // SAFETY: as for the exit report: a function pointer with no arguments that never unwinds.
    if unsafe { libc::atexit(exit_status) } != 0 {
        eprintln!("dmacheck: could not register the exit status (atexit failed)");
    }
}

extern "C" fn exit_status() {
    if STATUS_HOOK_BY.load(Ordering::Relaxed) != std::process::id() {
        return;
    }
    let code = EXIT_CODE.load(Ordering::Relaxed);
    let counted = std::panic::catch_unwind(|| {
        let mut total = DROPPED_FINDINGS.load(Ordering::Relaxed);
        if REGISTERED_BY.load(Ordering::Relaxed) == std::process::id() {
            // The process-wide checker exists: its report first (hooks run in reverse order of
            // registration, so it may not have run yet), then its findings.
            Checker::write_exit_report_now();
            total += findings(Checker::global().inner());
        }
        total
    });
    let total = counted.unwrap_or(1);
    if code != 0 && total > 0 {
        let _ = writeln!(
            std::io::stderr(),
            "dmacheck: {total} finding(s) at warn level or above; exit status {code} ({}=exit-code={code})",
            crate::config::ENV_VAR
        );
        // SAFETY: `fflush(NULL)` flushes every C stream; `_exit` ends the process at once with
        // the status asked for (the remaining exit handlers are the C runtime's and Rust's,
        // whose buffers were just flushed).
        unsafe {
            libc::fflush(std::ptr::null_mut());
            libc::_exit(code as i32);
        }
    }
}
