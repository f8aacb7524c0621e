//! The text format, for people: violations with their sites and stacks, and the leak summary,
//! in color when written to a terminal.

use std::fmt::{self, Write as _};
use std::io::IsTerminal;

use super::document::{Report, ReportSite, ReportViolation};
use super::leaks::{LeakReport, LeakSite};
use crate::rules::Level;

/// How text is styled: plain, or with ANSI colors for a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Style {
    color: bool,
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const GREEN: &str = "\x1b[1;32m";
const DIM: &str = "\x1b[2m";

impl Style {
    /// No color.
    pub fn plain() -> Style {
        Style { color: false }
    }

    /// Colored when `color`.
    pub fn new(color: bool) -> Style {
        Style { color }
    }

    /// Colored when stderr is a terminal and `NO_COLOR` is not set.
    pub fn stderr() -> Style {
        Style::new(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
    }

    /// Whether this style colors.
    pub fn colored(self) -> bool {
        self.color
    }

    fn paint(self, code: &str, text: impl fmt::Display) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    fn level(self, level: Level) -> String {
        let code = match level {
            Level::Deny => RED,
            Level::Warn => YELLOW,
            Level::Allow => DIM,
        };
        self.paint(code, level)
    }

    /// A violation: a summary line with `[key=value]` fields, then the call's site, the site
    /// that made the entry concerned and any related site, each with its stack.
    pub fn violation(self, v: &ReportViolation) -> String {
        let mut s = format!(
            "dmacheck {}[{}]: {}",
            self.level(v.level),
            self.paint(BOLD, &v.rule),
            v.call
        );
        if !v.device.is_empty() {
            let _ = write!(s, " on {} ({})", v.device, v.driver);
        }
        let _ = write!(s, ": {}", v.message);
        if !v.details.is_empty() {
            let details = details_text(v.details.iter().map(|d| (&d.key, json_text(&d.value))));
            let _ = write!(s, " [{details}]");
        }
        self.site(&mut s, "at", &v.site);
        if let Some(site) = &v.mapped_at {
            let label = match &v.mapped_by {
                Some(call) => format!("mapped by {call} at"),
                None => "mapped at".to_string(),
            };
            self.site(&mut s, &label, site);
        }
        if let Some(r) = &v.related {
            self.site(&mut s, &r.label, &r.site);
        }
        s
    }

    /// `    label file:line:column`, then the stack, the first user frame marked with `>`.
    fn site(self, s: &mut String, label: &str, site: &ReportSite) {
        let _ = write!(s, "\n    {label} {site}");
        self.stack(s, site);
    }

    fn stack(self, s: &mut String, site: &ReportSite) {
        if !site.stack.is_empty() && !site.stack_is_exact {
            let _ = write!(
                s,
                "\n        (stack first seen at this call site; build with frame pointers for exact stacks)"
            );
        }
        for (i, frame) in site.stack.iter().enumerate() {
            let mut line = format!("#{i} {}", frame.function);
            if let (Some(file), Some(n)) = (&frame.file, frame.line) {
                let _ = write!(line, " ({file}:{n})");
            }
            if site.first_user_frame == Some(i) {
                let _ = write!(s, "\n      > {}", self.paint(BOLD, line));
            } else {
                let _ = write!(s, "\n        {line}");
            }
        }
    }

    /// One leak group: `<bytes> in <n> entries (<kinds>) made by <call> at <site> on
    /// <devices>`, then its stack.
    fn leak_site(self, s: &mut String, l: &LeakSite) {
        let kinds: Vec<String> = l
            .kinds
            .iter()
            .map(|k| {
                if l.kinds.len() > 1 {
                    format!("{} {} ({})", k.entries, k.kind, bytes(k.bytes))
                } else {
                    format!("{} {}", k.entries, k.kind)
                }
            })
            .collect();
        let _ = write!(
            s,
            "\n{} in {} ({}) made by {} at {}",
            self.paint(BOLD, bytes(l.bytes)),
            plural(l.entries, "entry", "entries"),
            kinds.join(", "),
            l.call,
            l.site
        );
        if !l.devices.is_empty() {
            let _ = write!(s, " on {}", l.devices.join(", "));
        }
        if l.live_entries > 0 {
            let _ = write!(s, " [{} still live]", l.live_entries);
        }
        self.stack(s, &l.site);
        s.push('\n');
    }

    fn leak_sites(self, s: &mut String, leaks: &LeakReport) {
        for l in &leaks.sites {
            self.leak_site(s, l);
        }
    }

    /// The totals of a leak summary, in a sentence.
    fn leak_totals(leaks: &LeakReport) -> String {
        let mut s = format!(
            "{} leaked in {} at {}",
            bytes(leaks.bytes),
            plural(leaks.entries, "DMA entry", "DMA entries"),
            plural(leaks.sites.len() as u64, "site", "sites")
        );
        if leaks.live_entries > 0 {
            let _ = write!(s, " ({} still live)", leaks.live_entries);
        }
        s
    }

    /// The leak summary, like LeakSanitizer's: each site, biggest first, then a SUMMARY line.
    pub fn leaks(self, leaks: &LeakReport) -> String {
        if leaks.is_empty() {
            return "dmacheck: no leaks\n".into();
        }
        let mut s = format!(
            "{}: leaks by the site that made them, biggest first\n",
            self.paint(RED, "dmacheck")
        );
        self.leak_sites(&mut s, leaks);
        let _ = writeln!(
            s,
            "\n{}",
            self.paint(
                BOLD,
                format!("SUMMARY: dmacheck: {}.", Self::leak_totals(leaks))
            )
        );
        s
    }

    /// The leak summary of one device release, printed after its `leak` violations.
    pub fn release_leaks(self, device: &str, driver: &str, leaks: &LeakReport) -> String {
        let mut s = format!(
            "{}: {device} ({driver}) released with {} ({}) still live, made at {}:\n",
            self.paint(YELLOW, "dmacheck"),
            plural(leaks.entries, "DMA entry", "DMA entries"),
            bytes(leaks.bytes),
            plural(leaks.sites.len() as u64, "site", "sites"),
        );
        self.leak_sites(&mut s, leaks);
        s
    }

    /// A whole report: where it comes from, every violation, the leak summary, and a SUMMARY
    /// line.
    pub fn report(self, r: &Report) -> String {
        let mut s = String::new();
        match r.sources.as_slice() {
            [one] => {
                let _ = write!(s, "dmacheck report: {} (pid {})", one.program, one.pid);
                if let Some(test) = &one.test {
                    let _ = write!(s, ", test {}", test.name);
                }
                s.push('\n');
            }
            many => {
                let tests = many.iter().filter(|m| m.test.is_some()).count();
                let _ = write!(s, "dmacheck report: {} reports merged", many.len());
                if tests > 0 {
                    let failed = many
                        .iter()
                        .filter(|m| m.test.as_ref().is_some_and(|t| t.findings > 0))
                        .count();
                    let _ = write!(s, " ({tests} tests checked, {failed} with findings)");
                }
                s.push('\n');
            }
        }
        for v in &r.violations {
            let _ = write!(s, "\n{}\n", self.violation(v));
        }
        let unlisted = r.counters.violations - r.counters.violations_kept;
        if unlisted > 0 {
            let _ = writeln!(s, "\n({unlisted} more violations not kept)");
        }
        if !r.leaks.is_empty() {
            let _ = writeln!(
                s,
                "\n{}",
                self.paint(BOLD, "leaks by the site that made them, biggest first:")
            );
            self.leak_sites(&mut s, &r.leaks);
        }
        let c = &r.counters;
        let mut summary = format!(
            "SUMMARY: dmacheck: {} ({} deny, {} warn)",
            plural(c.violations, "violation", "violations"),
            c.deny,
            c.warn
        );
        if r.leaks.is_empty() {
            summary.push_str(", no leaks.");
        } else {
            let _ = write!(summary, "; {}.", Self::leak_totals(&r.leaks));
        }
        let code = if r.findings_at_least(Level::Warn) > 0 {
            RED
        } else {
            GREEN
        };
        let _ = writeln!(s, "\n{}", self.paint(code, summary));
        s
    }

    /// The live entries of a report, one per line, then its leak summary.
    pub fn dump(self, r: &Report) -> String {
        let mut s = format!(
            "dmacheck: {} live\n",
            plural(r.live_entries.len() as u64, "DMA entry", "DMA entries")
        );
        for e in &r.live_entries {
            let _ = writeln!(
                s,
                "  {} ({}) {} dma_addr={:#x} size={} dir={} cpu_addr={:#x} owner={} checked={} \
                 mapped by {} at {}",
                e.device,
                e.driver,
                e.kind,
                e.dma_addr,
                e.size,
                e.dir,
                e.cpu_addr,
                e.owner,
                if e.error_checked { "yes" } else { "no" },
                e.mapped_by,
                e.site
            );
        }
        s.push('\n');
        s.push_str(&self.leaks(&r.leaks));
        s
    }
}

impl Report {
    /// The live entries, one per line, then the leak summary: what `dmacheck report dump`
    /// prints. `color` adds ANSI colors.
    pub fn dump(&self, color: bool) -> String {
        Style::new(color).dump(self)
    }
}

impl fmt::Display for LeakReport {
    /// The leak summary as text, each site biggest first, then a SUMMARY line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Style::plain().leaks(self))
    }
}

/// `key=value key=value`: the fields of a violation's summary line.
pub(crate) fn details_text<K: fmt::Display>(details: impl Iterator<Item = (K, String)>) -> String {
    let fields: Vec<String> = details.map(|(k, v)| format!("{k}={v}")).collect();
    fields.join(" ")
}

/// A detail's JSON value as the text format shows it: strings without quotes.
fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn bytes(n: u64) -> String {
    plural(n, "byte", "bytes")
}
