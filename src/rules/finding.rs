//! What a rule finds: the rule, a message and the values it names, before the checker attaches
//! the call, the device and the level.

use std::fmt;

use serde::Serialize;

use crate::rules::Rule;
use crate::site::Site;
use crate::types::{Direction, MapKind};

/// A value attached to a violation, shown as `[key=value]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// An address, shown in hex.
    #[serde(serialize_with = "crate::types::hex::serialize")]
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
    /// How many occurrences the finding stands for: the entries of a leak group, 1 otherwise.
    pub count: u64,
}

impl Finding {
    pub fn new(rule: &'static Rule, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            message: message.into(),
            details: Vec::new(),
            mapped_at: None,
            related: None,
            count: 1,
        }
    }

    pub fn with(mut self, key: &'static str, value: Value) -> Finding {
        self.details.push(Detail { key, value });
        self
    }

    /// Attach the site that made the entry and the call it made it with.
    pub fn mapped_at(mut self, site: &Site, call: &'static str) -> Finding {
        self.mapped_at = Some((*site, call));
        self
    }

    /// The finding stands for `count` occurrences (a group of leaked entries).
    pub fn count(mut self, count: u64) -> Finding {
        self.count = count;
        self
    }

    pub fn related(mut self, label: &'static str, site: &Site) -> Finding {
        self.related = Some(Related { label, site: *site });
        self
    }
}

/// The findings of one call, reported together once the call is carried out.
pub(crate) type Findings = smallvec::SmallVec<[Finding; 1]>;
