//! Reports, for people and for CI.
//!
//! Every violation, from whatever source, passes through one reporting path, which applies the
//! rule's level, counts it, emits a `tracing` event, prints it, and keeps it for assertions. On
//! top of that, a checker's findings can be taken as one document, a [`Report`]
//! ([`Checker::report`](crate::Checker::report)): every kept violation, the leaks grouped by
//! the site that made them ([`LeakReport`], like LeakSanitizer's summary), the live entries,
//! the counters and the configuration. A report renders in four [`Format`]s:
//!
//! - **text**, for people: the violations, then the leak summary, biggest site first (colored
//!   when written to a terminal);
//! - **JSON**, the document itself, with a versioned schema ([`SCHEMA`], `dmacheck-report/1`),
//!   read back by [`Report::from_json`] and merged across processes by [`Report::merge`];
//! - **SARIF 2.1.0**, for code-scanning services: rule metadata from the declarations in
//!   [`rules`](crate::rules), one result per violation at its call site, with the "mapped at"
//!   site as a related location, and one result per leak site still live;
//! - **JUnit XML**, for test dashboards: one test case per rule, failed when the rule fired,
//!   and one per test for reports of per-test checkers.
//!
//! Leaks are summarized when a device is released (after its `leak` violations: one per site
//! and call that made leaked entries, counting them, see [`Violation::count`]),
//! on request ([`Checker::leak_report`](crate::Checker::leak_report)), and in the reports
//! written with no code in the program where `DMACHECK_REPORT=<format>:<path>` says (see
//! [`Destination`]): every per-test checker's (`Checker::new()`) when its last handle drops,
//! one file per checker named after its test, clean or not (on stderr only with findings); and
//! the process-wide checker's ([`Checker::global`](crate::Checker::global)) at process exit,
//! where without the variable the leak summary is printed to stderr when there are leaks (the
//! checker writes these; [`Checker::write_exit_report_now`](crate::Checker::write_exit_report_now)
//! writes the exit report early). The `dmacheck` command renders, merges and checks JSON reports.
//!
//! ```
//! use dmacheck::*;
//! use dmacheck::report::{Format, Report};
//!
//! let checker = Checker::builder().env(false).print(false).build();
//! let dev = checker.device("eth0").driver("e1000").build();
//! let buf = kmalloc(&checker, 2048, Gfp::KERNEL);
//! let dma = dma_map_single(&dev, buf, 2048, Direction::ToDevice);
//! assert_eq!(dma_mapping_error(&dev, dma), 0);
//! // The driver forgets to unmap.
//!
//! let leaks = checker.leak_report();
//! assert_eq!((leaks.entries, leaks.bytes), (1, 2048));
//! let json = checker.report().to_json();
//! let back = Report::from_json(&json).unwrap();
//! assert_eq!(back.leaks, leaks);
//! assert!(Format::Sarif.render(&back, false).contains("\"version\": \"2.1.0\""));
//! ```

use std::fmt;

use serde::Serialize;

use crate::config::{Config, Levels};
use crate::rules::lifetime::LeakGroup;
use crate::rules::{Level, Rule};
use crate::site::Site;
use crate::sync::{AtomicU64, Mutex, Ordering};

mod document;
mod junit;
mod leaks;
mod output;
mod sarif;
mod text;

pub use crate::rules::{Detail, Related, Value};
pub(crate) use crate::rules::{Finding, Findings};
pub use document::{
    Report, ReportConfig, ReportCounters, ReportDetail, ReportEntry, ReportError, ReportRelated,
    ReportRule, ReportSite, ReportSource, ReportTest, ReportTool, ReportViolation, SCHEMA,
};
pub(crate) use leaks::LeakTable;
pub use leaks::{LeakKind, LeakReport, LeakSite};
pub use output::{Destination, Format, Target};
pub(crate) use text::Style as TextStyle;

/// One reported misuse of the DMA API.
#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    /// The rule broken.
    pub rule: &'static Rule,
    /// The level it was reported at.
    pub level: Level,
    /// The API function whose call broke it.
    pub call: &'static str,
    /// The device's name (empty for calls that name no device, such as `kfree`).
    pub device: String,
    /// The device's driver (empty when there is no device).
    pub driver: String,
    /// What went wrong, in a sentence.
    pub message: String,
    /// The addresses, sizes and directions involved.
    pub details: Vec<Detail>,
    /// Where the violating call was made.
    pub site: Site,
    /// Where the entry concerned was made, and by which call.
    pub mapped_at: Option<Site>,
    /// The call that made the entry concerned.
    pub mapped_by: Option<&'static str>,
    /// Another site that explains the violation (the first unmap of a double unmap).
    pub related: Option<Related>,
    /// How many occurrences it stands for, each counted in [`Stats`]: the entries of a
    /// [`leak`](crate::rules::LEAK) group (one violation per site, call and device that made
    /// leaked entries, at a device release or [`check_leaks`](crate::Checker::check_leaks));
    /// 1 for every other violation.
    pub count: u64,
}

impl Violation {
    /// The value of detail `key`, if the violation has it.
    pub fn detail(&self, key: &str) -> Option<&Value> {
        self.details.iter().find(|d| d.key == key).map(|d| &d.value)
    }

    /// The numeric value of detail `key` (an address or a number).
    pub fn detail_u64(&self, key: &str) -> Option<u64> {
        match self.detail(key)? {
            Value::Addr(v) | Value::Num(v) => Some(*v),
            _ => None,
        }
    }

    fn details_text(&self) -> String {
        text::details_text(self.details.iter().map(|d| (d.key, d.value.to_string())))
    }
}

impl fmt::Display for Violation {
    /// The text format: a summary line with `[key=value]` fields, then the sites (see
    /// [`ReportViolation`], whose text this is).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ReportViolation::from(self).fmt(f)
    }
}

/// Counters like the kernel's dma-debug debugfs files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Violations reported (at warn or deny), leaks included: a violation counts its
    /// [`count`](Violation::count), so each leaked entry counts once.
    pub errors: u64,
    /// Entries live now.
    pub live_entries: u64,
    /// The most entries ever live at once.
    pub peak_entries: u64,
    /// Violations per rule id, for rules that fired, counted as `errors` is.
    pub per_rule: Vec<(&'static str, u64)>,
}

/// The one reporting path: levels, counts, tracing, printing and the kept list.
pub(crate) struct Reporter {
    levels: Levels,
    /// Violations reported per rule, in the order of [`rules::all`](crate::rules::all).
    counts: Box<[AtomicU64]>,
    errors: AtomicU64,
    kept: Mutex<Vec<Violation>>,
    keep_at_most: usize,
    print: bool,
    /// How many more violations may be printed.
    print_budget: AtomicU64,
    /// The entries leaked at device releases, grouped by the site that made them.
    released_leaks: Mutex<LeakTable>,
}

impl Reporter {
    pub fn new(levels: Levels, keep_at_most: usize, print: bool, print_first: u64) -> Reporter {
        Reporter {
            counts: crate::rules::all()
                .iter()
                .map(|_| AtomicU64::new(0))
                .collect(),
            levels,
            errors: AtomicU64::new(0),
            kept: Mutex::new(Vec::new()),
            keep_at_most,
            print,
            print_budget: AtomicU64::new(print_first),
            released_leaks: Mutex::new(LeakTable::default()),
        }
    }

    pub fn level(&self, rule: &'static Rule) -> Level {
        self.levels.get(rule)
    }

    /// Report one violation (whose `level` is already set); allowed ones never get here.
    pub fn report(&self, v: Violation) {
        self.counts[v.rule.index()].fetch_add(v.count, Ordering::Relaxed);
        self.errors.fetch_add(v.count, Ordering::Relaxed);
        emit_tracing(&v);
        let budget = self
            .print_budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1));
        if self.print && budget.is_ok() {
            let style = text::Style::stderr();
            eprintln!("{}", style.violation(&ReportViolation::from(&v)));
        }
        let mut kept = self.kept.lock();
        if kept.len() < self.keep_at_most {
            kept.push(v);
        }
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.kept.lock().clone()
    }

    /// Add the entries a device release ended, grouped by site, to the leak table, unless the
    /// leak rule is allowed or the driver filtered out; when printing, return their leak
    /// summary for the caller to print once it has reported each group as a `leak` violation.
    pub fn record_release_leaks(
        &self,
        device: &str,
        driver: &str,
        groups: &[LeakGroup],
        config: &Config,
    ) -> Option<String> {
        let level = self.level(&crate::rules::LEAK);
        let filtered = config.only_driver.as_deref().is_some_and(|d| d != driver);
        if groups.is_empty() || level == Level::Allow || filtered {
            return None;
        }
        let mut table = LeakTable::default();
        for g in groups {
            table.add_group(
                g.site,
                (g.kind, g.mapped_by),
                (g.entries, g.bytes),
                device,
                false,
            );
        }
        let text = self.print.then(|| {
            let summary = table.clone().into_report(level);
            text::Style::stderr().release_leaks(device, driver, &summary)
        });
        self.released_leaks.lock().absorb(table);
        text
    }

    /// The entries leaked at device releases so far, grouped by site.
    pub fn released_leaks(&self) -> LeakTable {
        self.released_leaks.lock().clone()
    }

    pub fn take(&self) -> Vec<Violation> {
        std::mem::take(&mut *self.kept.lock())
    }

    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    pub fn count(&self, rule: &'static Rule) -> u64 {
        self.counts[rule.index()].load(Ordering::Relaxed)
    }

    pub fn per_rule(&self) -> Vec<(&'static str, u64)> {
        crate::rules::all()
            .iter()
            .zip(self.counts.iter())
            .map(|(r, c)| (r.id, c.load(Ordering::Relaxed)))
            .filter(|&(_, c)| c > 0)
            .collect()
    }
}

/// The `tracing` event of a violation: target `dmacheck`, structured fields.
fn emit_tracing(v: &Violation) {
    // The texts below cost more than the rest of a report: made only for a listening subscriber.
    let enabled = match v.level {
        Level::Deny => tracing::enabled!(target: "dmacheck", tracing::Level::ERROR),
        _ => tracing::enabled!(target: "dmacheck", tracing::Level::WARN),
    };
    if !enabled {
        return;
    }
    let details = v.details_text();
    let mapped_at = v.mapped_at.as_ref().map(|s| s.to_string());
    macro_rules! event {
        ($lvl:expr) => {
            tracing::event!(
                target: "dmacheck",
                $lvl,
                rule = v.rule.id,
                call = v.call,
                device = v.device.as_str(),
                driver = v.driver.as_str(),
                dma_addr = v.detail_u64("dma_addr"),
                size = v.detail_u64("size"),
                count = v.count,
                site = %v.site,
                mapped_at = mapped_at.as_deref(),
                details = details.as_str(),
                "{}",
                v.message
            )
        };
    }
    match v.level {
        Level::Deny => event!(tracing::Level::ERROR),
        _ => event!(tracing::Level::WARN),
    }
}
