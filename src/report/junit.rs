//! JUnit XML, for test dashboards (GitLab's test report, Jenkins, CI summaries).
//!
//! One test suite, `dmacheck`, with one test case per rule of the catalogue (class name
//! `dmacheck.<family>`, name the rule id), so that the same cases appear run after run and a
//! dashboard can follow each rule: a rule that fired fails, its failure's `type` the level and
//! its text the violations (for `leak`, also the leak sites still live); a rule allowed in
//! every source is skipped; the others pass.
//!
//! A report of per-test checkers (`Checker::new()` in each test, written when it dropped, then
//! merged) has a second suite, `dmacheck tests` (after the rules'), with one test case per test: class name the
//! test binary, name the test, failed when that test's checker found something at warn level
//! or above (its text report as the failure's text), passed when it was clean.

use std::fmt::Write as _;

use super::document::{Report, ReportRule};
use super::text::Style;
use crate::rules::{self, Level};

/// Render `report` as JUnit XML.
pub(crate) fn render(report: &Report) -> String {
    let mut rules: Vec<ReportRule> = if report.rules.is_empty() {
        ReportRule::catalogue()
    } else {
        report.rules.clone()
    };
    for id in report.counters.per_rule.keys() {
        if !rules.iter().any(|r| &r.id == id) {
            rules.push(ReportRule {
                id: id.clone(),
                family: "unknown".into(),
                summary: id.clone(),
                default_level: Level::Warn,
            });
        }
    }
    let cases: Vec<Case> = rules.iter().map(|r| Case::of(report, r)).collect();
    let tests: Vec<Case> = report
        .sources
        .iter()
        .filter_map(|source| {
            let test = source.test.as_ref()?;
            Some(Case {
                id: test.name.clone(),
                family: binary_name(&source.program),
                skipped: false,
                failure: (test.findings > 0).then(|| Failure {
                    message: format!("{} dmacheck finding(s)", test.findings),
                    level: Level::Warn,
                    text: test.failure.clone(),
                }),
            })
        })
        .collect();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        r#"<testsuites name="dmacheck" {}>"#,
        counts(cases.iter().chain(&tests))
    );
    let _ = writeln!(xml, r#"  <testsuite name="dmacheck" {}>"#, counts(&cases));
    xml.push_str("    <properties>\n");
    for source in &report.sources {
        let _ = writeln!(
            xml,
            r#"      <property name="source" value="{} (pid {})"/>"#,
            escape(&source.program),
            source.pid
        );
    }
    xml.push_str("    </properties>\n");
    for case in &cases {
        write_case(
            &mut xml,
            case,
            &format!("dmacheck.{}", escape(&case.family)),
        );
    }
    xml.push_str("  </testsuite>\n");
    if !tests.is_empty() {
        let _ = writeln!(
            xml,
            r#"  <testsuite name="dmacheck tests" {}>"#,
            counts(&tests)
        );
        for case in &tests {
            write_case(&mut xml, case, &escape(&case.family));
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// `tests="…" failures="…" errors="0" skipped="…"` of some cases.
fn counts<'a>(cases: impl IntoIterator<Item = &'a Case>) -> String {
    let (mut tests, mut failures, mut skipped) = (0, 0, 0);
    for c in cases {
        tests += 1;
        failures += usize::from(c.failure.is_some());
        skipped += usize::from(c.skipped);
    }
    format!(r#"tests="{tests}" failures="{failures}" errors="0" skipped="{skipped}""#)
}

/// A test binary's name: the program's file name without cargo's `-<hash>` suffix.
fn binary_name(program: &str) -> String {
    let name = std::path::Path::new(program)
        .file_stem()
        .map_or_else(|| program.to_string(), |s| s.to_string_lossy().into_owned());
    match name.rsplit_once('-') {
        Some((stem, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            stem.to_string()
        }
        _ => name,
    }
}

fn write_case(xml: &mut String, case: &Case, classname: &str) {
    let open = format!(
        r#"    <testcase classname="{classname}" name="{}""#,
        escape(&case.id)
    );
    match (&case.failure, case.skipped) {
        (Some(f), _) => {
            let _ = writeln!(
                xml,
                "{open}>\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                escape(&f.message),
                f.level,
                escape(&f.text)
            );
        }
        (None, true) => {
            let _ = writeln!(
                xml,
                "{open}>\n      <skipped message=\"rule allowed\"/>\n    </testcase>"
            );
        }
        (None, false) => {
            let _ = writeln!(xml, "{open}/>");
        }
    }
}

/// One rule's test case.
struct Case {
    id: String,
    family: String,
    skipped: bool,
    failure: Option<Failure>,
}

struct Failure {
    message: String,
    level: Level,
    text: String,
}

impl Case {
    fn of(report: &Report, rule: &ReportRule) -> Case {
        let style = Style::plain();
        let reported = report.counters.per_rule.get(&rule.id).copied().unwrap_or(0);
        let mut text = String::new();
        let mut level = Level::Allow;
        for v in report.violations.iter().filter(|v| v.rule == rule.id) {
            level = level.max(v.level);
            let _ = write!(text, "\n{}\n", style.violation(v));
        }
        let kept: u64 = report
            .violations
            .iter()
            .filter(|v| v.rule == rule.id)
            .map(|v| v.count)
            .sum();
        if reported > kept {
            let _ = writeln!(text, "\n({} more not kept)", reported - kept);
        }
        let mut live_leaks = 0;
        if rule.id == rules::LEAK.id {
            for site in report.leaks.sites.iter().filter(|s| s.live_entries > 0) {
                live_leaks += site.live_entries;
                level = level.max(site.level);
                let _ = write!(
                    text,
                    "\n{} still live, made by {} at {}\n",
                    site.live_entries, site.call, site.site
                );
            }
        }
        let configured = report.rule_level(&rule.id).unwrap_or(rule.default_level);
        if reported == 0 && live_leaks == 0 {
            return Case {
                id: rule.id.clone(),
                family: rule.family.clone(),
                skipped: configured == Level::Allow,
                failure: None,
            };
        }
        if level == Level::Allow {
            // Counted but none kept: the level configured for the rule.
            level = configured.max(Level::Warn);
        }
        let mut message = format!("{reported} violation(s) of {}: {}", rule.id, rule.summary);
        if live_leaks > 0 {
            let _ = write!(message, "; {live_leaks} entries still live");
        }
        Case {
            id: rule.id.clone(),
            family: rule.family.clone(),
            skipped: false,
            failure: Some(Failure {
                message,
                level,
                text,
            }),
        }
    }
}

/// Escape text for an XML attribute or element, dropping characters XML 1.0 cannot hold.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}
