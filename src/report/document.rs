//! The report document: everything a checker found, as owned data that serializes to JSON with
//! a versioned schema, reads back, and merges across processes.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::leaks::LeakReport;
use super::{Related, Violation};
use crate::config::Config;
use crate::rules::{self, Level};
pub use crate::site::ReportSite;
use crate::tracker::{Entry, Owner};

/// The schema of the JSON report: its name and major version. A reader refuses other schemas;
/// a new field that old readers may ignore keeps the version, a change of meaning bumps it.
pub const SCHEMA: &str = "dmacheck-report/1";

/// A report: what one checker found (or several, merged), as a document.
///
/// Made by [`Checker::report`](crate::Checker::report), written in any [`Format`](super::Format), read back from JSON
/// by [`Report::from_json`] and combined by [`Report::merge`]. Its JSON form is the schema
/// [`SCHEMA`]:
///
/// | field | content |
/// |---|---|
/// | `schema` | `"dmacheck-report/1"` |
/// | `tool` | `{name, version}` of the dmacheck that wrote it |
/// | `sources` | one `{program, args, pid, config, test}` per checker (several after a merge); `test` `{name, findings, failure}` for a per-test checker |
/// | `rules` | the rule catalogue: `{id, family, summary, default_level}` |
/// | `counters` | violations (total, kept, per level, per rule), live and peak entries |
/// | `violations` | every kept violation: rule, level, call, device, message, details, sites |
/// | `leaks` | leaked entries grouped by the site that made them, biggest first, with totals |
/// | `live_entries` | every entry live when the report was made |
///
/// A site is `{file, line, column, stack, first_user_frame}`; addresses are hex strings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The dmacheck that wrote the report.
    pub tool: ReportTool,
    /// The processes whose checkers the report covers: one, or several after a merge.
    pub sources: Vec<ReportSource>,
    /// The rule catalogue of the writing dmacheck, in catalogue order.
    pub rules: Vec<ReportRule>,
    /// The counters.
    pub counters: ReportCounters,
    /// Every violation kept (see [`ReportCounters::violations_kept`]), oldest first.
    pub violations: Vec<ReportViolation>,
    /// The leaked entries, grouped by the site that made them.
    pub leaks: LeakReport,
    /// The entries live when the report was made, by device and address.
    pub live_entries: Vec<ReportEntry>,
}

/// The program that wrote a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportTool {
    /// `dmacheck`.
    pub name: String,
    /// The crate version.
    pub version: String,
}

impl Default for ReportTool {
    fn default() -> Self {
        ReportTool {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// One process whose checker a report covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSource {
    /// The program's path (its first argument).
    pub program: String,
    /// Its other arguments.
    pub args: Vec<String>,
    /// Its process id.
    pub pid: u32,
    /// The checker's settings.
    pub config: ReportConfig,
    /// The test whose checker wrote the report, for a checker made on a test's thread
    /// ([`Checker::new`](crate::Checker::new) in a `#[test]`); absent for the process-wide checker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<ReportTest>,
}

/// The test a per-test checker's report stands for, and its verdict: a JUnit test case after a
/// merge, when the findings can no longer be told apart by source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportTest {
    /// The test's name, as the test harness named its thread (`tests::rx_ring`).
    pub name: String,
    /// Findings at warn level or above: violations, and leaked entries still live.
    pub findings: u64,
    /// The text report of those findings (empty when there are none).
    pub failure: String,
}

impl ReportSource {
    /// The running process, with `config`.
    pub fn this_process(config: &Config) -> ReportSource {
        let mut args = std::env::args();
        ReportSource {
            program: args.next().unwrap_or_default(),
            args: args.collect(),
            pid: std::process::id(),
            config: ReportConfig::from(config),
            test: None,
        }
    }
}

/// A checker's settings, as a report records them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportConfig {
    /// The level of every rule, by id.
    #[serde(with = "level_names")]
    pub levels: BTreeMap<String, Level>,
    /// Frames of stack captured per call (0: file and line only).
    pub stack_depth: usize,
    /// Whether violations were printed as they happened.
    pub print: bool,
    /// How many violations were printed at most.
    pub print_first: u64,
    /// How many violations were kept at most.
    pub keep_at_most: usize,
    /// Whether buffers were fingerprinted at hand-offs.
    pub digests: bool,
    /// Whether all streaming mappings were bounced.
    pub force_bounce: bool,
    /// Whether checking was on.
    pub enabled: bool,
    /// The driver filter, if any.
    pub only_driver: Option<String>,
    /// Bytes of simulated physical memory.
    pub memory_bytes: u64,
    /// Its physical base address.
    #[serde(with = "crate::types::hex")]
    pub phys_base: u64,
}

impl From<&Config> for ReportConfig {
    fn from(c: &Config) -> Self {
        ReportConfig {
            levels: rules::all()
                .iter()
                .map(|r| (r.id.to_string(), c.level(r)))
                .collect(),
            stack_depth: c.stack_depth,
            print: c.print,
            print_first: c.print_first,
            keep_at_most: c.keep_at_most,
            digests: c.digests,
            force_bounce: c.force_bounce,
            enabled: c.enabled,
            only_driver: c.only_driver.clone(),
            memory_bytes: c.memory.size as u64,
            phys_base: c.memory.phys_base,
        }
    }
}

/// A rule as a report lists it (its documentation is in the catalogue, `dmacheck rules`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRule {
    /// The rule's id.
    pub id: String,
    /// Its family.
    pub family: String,
    /// One line: what it reports.
    pub summary: String,
    /// Its level when nothing sets one.
    #[serde(with = "level_name")]
    pub default_level: Level,
}

impl ReportRule {
    /// The catalogue of this dmacheck, from the rule declarations.
    pub fn catalogue() -> Vec<ReportRule> {
        rules::all()
            .iter()
            .map(|r| ReportRule {
                id: r.id.into(),
                family: r.family.into(),
                summary: r.summary.into(),
                default_level: r.default_level,
            })
            .collect()
    }
}

/// Counters of a report. After a merge every count is the sum of the sources' counts, except
/// `peak_entries`, the largest of theirs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportCounters {
    /// Violations reported (at warn or deny), leaks at device release included: the kernel's
    /// `error_count`.
    pub violations: u64,
    /// How many of them the report lists, each violation counting its
    /// [`count`](ReportViolation::count) (the checker keeps at most `keep` violations).
    pub violations_kept: u64,
    /// Violations reported at warn level.
    pub warn: u64,
    /// Violations reported at deny level.
    pub deny: u64,
    /// Violations per rule id, for rules that fired.
    pub per_rule: BTreeMap<String, u64>,
    /// Entries live when the report was made.
    pub live_entries: u64,
    /// The most entries ever live at once.
    pub peak_entries: u64,
}

impl ReportCounters {
    /// Add another source's counters to these.
    fn add(&mut self, other: &ReportCounters) {
        self.violations += other.violations;
        self.violations_kept += other.violations_kept;
        self.warn += other.warn;
        self.deny += other.deny;
        for (id, n) in &other.per_rule {
            *self.per_rule.entry(id.clone()).or_default() += n;
        }
        self.live_entries += other.live_entries;
        self.peak_entries = self.peak_entries.max(other.peak_entries);
    }
}

/// A named value of a violation: a number, or a string (addresses are hex strings).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportDetail {
    /// The field name (`dma_addr`, `mapped_size`, ...).
    pub key: String,
    /// Its value.
    pub value: serde_json::Value,
}

/// Another site a violation concerns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportRelated {
    /// How the site relates (`first unmapped at`).
    pub label: String,
    /// The site.
    pub site: ReportSite,
}

/// A violation as a report records it: the same fields as [`Violation`], owned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportViolation {
    /// The id of the rule broken.
    pub rule: String,
    /// The level it was reported at.
    #[serde(with = "level_name")]
    pub level: Level,
    /// The API function whose call broke it.
    pub call: String,
    /// The device's name (empty for calls that name no device).
    pub device: String,
    /// The device's driver.
    pub driver: String,
    /// What went wrong, in a sentence.
    pub message: String,
    /// The addresses, sizes and directions involved.
    pub details: Vec<ReportDetail>,
    /// Where the violating call was made.
    pub site: ReportSite,
    /// Where the entry concerned was made.
    pub mapped_at: Option<ReportSite>,
    /// The call that made it.
    pub mapped_by: Option<String>,
    /// Another site that explains the violation.
    pub related: Option<ReportRelated>,
    /// How many occurrences it stands for (see [`Violation::count`]): the entries of a leak
    /// group. Written only when more than 1; 1 when absent.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub count: u64,
}

fn one() -> u64 {
    1
}

fn is_one(n: &u64) -> bool {
    *n == 1
}

impl From<&Violation> for ReportViolation {
    fn from(v: &Violation) -> Self {
        ReportViolation {
            rule: v.rule.id.into(),
            level: v.level,
            call: v.call.into(),
            device: v.device.clone(),
            driver: v.driver.clone(),
            message: v.message.clone(),
            details: v
                .details
                .iter()
                .map(|d| ReportDetail {
                    key: d.key.into(),
                    value: serde_json::to_value(&d.value).unwrap_or_default(),
                })
                .collect(),
            site: ReportSite::from(&v.site),
            mapped_at: v.mapped_at.as_ref().map(ReportSite::from),
            mapped_by: v.mapped_by.map(Into::into),
            related: v.related.as_ref().map(ReportRelated::from),
            count: v.count,
        }
    }
}

impl From<&Related> for ReportRelated {
    fn from(r: &Related) -> Self {
        ReportRelated {
            label: r.label.into(),
            site: ReportSite::from(&r.site),
        }
    }
}

impl ReportViolation {
    /// The value of detail `key`, if the violation has it.
    pub fn detail(&self, key: &str) -> Option<&serde_json::Value> {
        self.details.iter().find(|d| d.key == key).map(|d| &d.value)
    }
}

impl fmt::Display for ReportViolation {
    /// The text format (no color): a summary line with `[key=value]` fields, then the sites.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&super::text::Style::plain().violation(self))
    }
}

/// An entry live when a report was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportEntry {
    /// The device's name.
    pub device: String,
    /// The device's driver.
    pub driver: String,
    /// The kind of entry (`single`, `page`, `coherent`, `sg`).
    pub kind: String,
    /// Its DMA address.
    #[serde(with = "crate::types::hex")]
    pub dma_addr: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Its direction (`TO_DEVICE`, ...).
    pub dir: String,
    /// The CPU address it was made from.
    #[serde(with = "crate::types::hex")]
    pub cpu_addr: u64,
    /// Who owned the memory (`device` or `cpu`).
    pub owner: String,
    /// Whether `dma_mapping_error` was called on it.
    pub error_checked: bool,
    /// The call that made it.
    pub mapped_by: String,
    /// Where it was made.
    pub site: ReportSite,
}

impl ReportEntry {
    pub(crate) fn new(e: &Entry, device: &str, driver: &str) -> ReportEntry {
        ReportEntry {
            device: device.into(),
            driver: driver.into(),
            kind: e.kind.to_string(),
            dma_addr: e.dma_addr,
            size: e.size,
            dir: e.dir.name().into(),
            cpu_addr: e.cpu_addr,
            owner: match e.owner {
                Owner::Device => "device",
                Owner::Cpu => "cpu",
            }
            .into(),
            error_checked: e.error_checked,
            mapped_by: e.mapped_by().into(),
            site: ReportSite::from(&e.site),
        }
    }
}

/// Why a report could not be read or written.
#[derive(Debug)]
pub enum ReportError {
    /// Reading or writing a file failed.
    Io(std::path::PathBuf, std::io::Error),
    /// The text is not a JSON report.
    Json(serde_json::Error),
    /// The report has another schema than [`SCHEMA`].
    Schema(String),
    /// A `DMACHECK_REPORT` destination or format could not be understood.
    Destination(String),
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::Io(path, e) => write!(f, "{}: {e}", path.display()),
            ReportError::Json(e) => write!(f, "not a dmacheck JSON report: {e}"),
            ReportError::Schema(s) => {
                write!(f, "report schema `{s}` is not the supported `{SCHEMA}`")
            }
            ReportError::Destination(d) => write!(f, "{d}"),
        }
    }
}

impl std::error::Error for ReportError {}

impl Report {
    /// The report as pretty-printed JSON (the schema [`SCHEMA`]).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// Read a JSON report, refusing other schemas.
    pub fn from_json(text: &str) -> Result<Report, ReportError> {
        #[derive(Deserialize)]
        struct Header {
            schema: String,
        }
        let header: Header = serde_json::from_str(text).map_err(ReportError::Json)?;
        if header.schema != SCHEMA {
            return Err(ReportError::Schema(header.schema));
        }
        serde_json::from_str(text).map_err(ReportError::Json)
    }

    /// Read a JSON report file.
    pub fn read(path: &std::path::Path) -> Result<Report, ReportError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ReportError::Io(path.to_path_buf(), e))?;
        Report::from_json(&text)
    }

    /// Combine reports, of shards of one test suite say, into one: sources, violations and
    /// live entries are concatenated, counts added, leaks of the same site combined (see
    /// [`LeakReport::combine`]) and the rule catalogues united. `None` when there is none.
    pub fn merge(reports: impl IntoIterator<Item = Report>) -> Option<Report> {
        let mut reports = reports.into_iter();
        let mut merged = reports.next()?;
        for r in reports {
            merged.sources.extend(r.sources);
            for rule in r.rules {
                if !merged.rules.iter().any(|m| m.id == rule.id) {
                    merged.rules.push(rule);
                }
            }
            merged.counters.add(&r.counters);
            merged.violations.extend(r.violations);
            merged.leaks.combine(r.leaks);
            merged.live_entries.extend(r.live_entries);
        }
        Some(merged)
    }

    /// How many findings are at `level` or above: violations at that level, plus leaked entries
    /// still live whose leak rule is at that level. What `dmacheck report check` fails on.
    pub fn findings_at_least(&self, level: Level) -> u64 {
        let violations = match level {
            Level::Allow | Level::Warn => self.counters.warn + self.counters.deny,
            Level::Deny => self.counters.deny,
        };
        let live_leaks: u64 = self
            .leaks
            .sites
            .iter()
            .filter(|s| s.level >= level)
            .map(|s| s.live_entries)
            .sum();
        violations + live_leaks
    }

    /// The level a rule had in the report's sources: the highest, so that a rule counts as
    /// checked when any source checked it. `None` for a rule no source knows.
    pub fn rule_level(&self, id: &str) -> Option<Level> {
        self.sources
            .iter()
            .filter_map(|s| s.config.levels.get(id).copied())
            .max()
    }
}

/// Serde for a [`Level`] as its name.
pub(super) mod level_name {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::rules::Level;

    pub fn serialize<S: Serializer>(level: &Level, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(level.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Level, D::Error> {
        let name = String::deserialize(d)?;
        Level::parse(&name).ok_or_else(|| D::Error::custom(format!("unknown level `{name}`")))
    }
}

/// Serde for a map of rule ids to [`Level`]s by name.
mod level_names {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::rules::Level;

    pub fn serialize<S: Serializer>(
        levels: &BTreeMap<String, Level>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(levels.iter().map(|(id, l)| (id, l.name())))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Level>, D::Error> {
        BTreeMap::<String, String>::deserialize(d)?
            .into_iter()
            .map(|(id, name)| match Level::parse(&name) {
                Some(level) => Ok((id, level)),
                None => Err(D::Error::custom(format!("unknown level `{name}`"))),
            })
            .collect()
    }
}
