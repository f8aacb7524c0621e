//! Violations: how a finding becomes a report. Every violation, from whatever source, passes
//! through [`Reporter::report`], which applies the rule's level, counts it, emits a `tracing`
//! event, prints it, and keeps it for assertions.

use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::rules::{Level, Rule};
use crate::site::Site;
use crate::sync::{AtomicU64, Mutex, Ordering};
use crate::types::{Direction, MapKind};

/// A value attached to a violation, shown as `[key=value]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// An address, shown in hex.
    #[serde(serialize_with = "hex")]
    Addr(u64),
    /// A size or count, shown in decimal.
    Num(u64),
    /// A direction.
    Dir(Direction),
    /// A kind of mapping.
    Kind(MapKind),
    /// Anything else.
    Text(String),
}

fn hex<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:#x}"))
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Addr(a) => write!(f, "{a:#x}"),
            Value::Num(n) => write!(f, "{n}"),
            Value::Dir(d) => write!(f, "{d}"),
            Value::Kind(k) => write!(f, "{k}"),
            Value::Text(t) => f.write_str(t),
        }
    }
}

/// A named value of a violation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Detail {
    /// The field name (`dma_addr`, `mapped_size`, ...).
    pub key: &'static str,
    /// Its value.
    pub value: Value,
}

/// Another site a violation concerns, besides the violating call and the mapping.
#[derive(Clone, Debug, Serialize)]
pub struct Related {
    /// How the site relates (`first unmapped at`).
    pub label: &'static str,
    /// The site.
    pub site: Site,
}

/// What a rule found, before the checker attaches the call, the device and the level.
#[derive(Clone, Debug)]
pub(crate) struct Finding {
    pub rule: &'static Rule,
    pub message: String,
    pub details: Vec<Detail>,
    pub mapped_at: Option<(Site, &'static str)>,
    pub related: Option<Related>,
}

impl Finding {
    pub fn new(rule: &'static Rule, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            message: message.into(),
            details: Vec::new(),
            mapped_at: None,
            related: None,
        }
    }

    pub fn with(mut self, key: &'static str, value: Value) -> Finding {
        self.details.push(Detail { key, value });
        self
    }

    /// Attach the site that made the entry and the call it made it with.
    pub fn mapped_at(mut self, site: &Site, call: &'static str) -> Finding {
        self.mapped_at = Some((site.clone(), call));
        self
    }

    pub fn related(mut self, label: &'static str, site: &Site) -> Finding {
        self.related = Some(Related {
            label,
            site: site.clone(),
        });
        self
    }
}

/// The findings of one call, reported together once the call is carried out.
pub(crate) type Findings = smallvec::SmallVec<[Finding; 1]>;

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
        let mut s = String::new();
        for (i, d) in self.details.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(s, "{sep}{}={}", d.key, d.value);
        }
        s
    }
}

impl fmt::Display for Violation {
    /// The text format: a summary line with `[key=value]` fields, then the sites.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dmacheck {}[{}]: {}",
            self.level, self.rule.id, self.call
        )?;
        if !self.device.is_empty() {
            write!(f, " on {} ({})", self.device, self.driver)?;
        }
        write!(f, ": {}", self.message)?;
        if !self.details.is_empty() {
            write!(f, " [{}]", self.details_text())?;
        }
        write_site(f, "at", &self.site)?;
        if let Some(site) = &self.mapped_at {
            let label = match self.mapped_by {
                Some(call) => format!("mapped by {call} at"),
                None => "mapped at".to_string(),
            };
            write_site(f, &label, site)?;
        }
        if let Some(r) = &self.related {
            write_site(f, r.label, &r.site)?;
        }
        Ok(())
    }
}

fn write_site(f: &mut fmt::Formatter<'_>, label: &str, site: &Site) -> fmt::Result {
    write!(f, "\n    {label} {site}")?;
    if let Some(stack) = &site.stack {
        for frame in stack.resolve() {
            write!(f, "\n        {}", frame.function)?;
            if let (Some(file), Some(line)) = (&frame.file, frame.line) {
                write!(f, " ({file}:{line})")?;
            }
        }
    }
    Ok(())
}

/// Counters like the kernel's dma-debug debugfs files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Violations reported (at warn or deny), leaks included.
    pub errors: u64,
    /// Entries live now.
    pub live_entries: u64,
    /// The most entries ever live at once.
    pub peak_entries: u64,
    /// Violations per rule id, for rules that fired.
    pub per_rule: Vec<(&'static str, u64)>,
}

/// The one reporting path: levels, counts, tracing, printing and the kept list.
pub(crate) struct Reporter {
    levels: Box<[Level]>,
    counts: Box<[AtomicU64]>,
    errors: AtomicU64,
    kept: Mutex<Vec<Violation>>,
    keep_at_most: usize,
    print: bool,
    /// How many more violations may be printed.
    print_budget: AtomicU64,
}

impl Reporter {
    pub fn new(
        levels: Box<[Level]>,
        keep_at_most: usize,
        print: bool,
        print_first: u64,
    ) -> Reporter {
        Reporter {
            counts: levels.iter().map(|_| AtomicU64::new(0)).collect(),
            levels,
            errors: AtomicU64::new(0),
            kept: Mutex::new(Vec::new()),
            keep_at_most,
            print,
            print_budget: AtomicU64::new(print_first),
        }
    }

    pub fn level(&self, rule: &'static Rule) -> Level {
        self.levels[rule.index()]
    }

    /// Report one violation (whose `level` is already set); allowed ones never get here.
    pub fn report(&self, v: Violation) {
        self.counts[v.rule.index()].fetch_add(1, Ordering::Relaxed);
        self.errors.fetch_add(1, Ordering::Relaxed);
        emit_tracing(&v);
        let budget = self
            .print_budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1));
        if self.print && budget.is_ok() {
            eprintln!("{v}");
        }
        let mut kept = self.kept.lock();
        if kept.len() < self.keep_at_most {
            kept.push(v);
        }
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.kept.lock().clone()
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
