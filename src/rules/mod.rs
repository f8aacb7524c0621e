//! The rules: each declared once, with its id, level, documentation and the passage of the
//! upstream document it enforces. `RULES.md` and the rule metadata of every report are rendered
//! from these declarations (see [`catalogue_markdown`]).
//!
//! Rules judge [`Event`](crate::Event)s — recorded operations — and the tracker's entries, never
//! the shim's arguments, so they run the same on live calls, replayed traces and models.

use std::fmt;

use serde::Serialize;

use crate::sync::process::LazyLock;

pub(crate) mod cache;
pub(crate) mod context;
mod finding;
pub(crate) mod heap;
pub(crate) mod lifetime;
pub(crate) mod map;
pub(crate) mod modern;
pub(crate) mod ownership;
pub(crate) mod pool;
pub(crate) mod pool_redzone;
pub(crate) mod regions;
pub(crate) mod release;
pub(crate) mod sg;
pub(crate) mod sync;

pub use cache::*;
pub use context::*;
pub use finding::{Detail, Related, Value};
pub(crate) use finding::{Finding, Findings};
pub use heap::*;
pub use lifetime::*;
pub use map::*;
pub use modern::*;
pub use ownership::*;
pub use pool::*;
pub use pool_redzone::*;
pub use regions::*;
pub use release::*;
pub use sg::*;
pub use sync::*;

/// What happens when a rule fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Not checked.
    Allow,
    /// Reported and collected; the call goes on.
    Warn,
    /// Reported, collected, then a panic at the faulty call, so tests and fuzzers stop there.
    Deny,
}

impl Level {
    /// The level's name as `DMACHECK` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Allow => "allow",
            Level::Warn => "warn",
            Level::Deny => "deny",
        }
    }

    /// Parse `allow`, `warn` or `deny` (also `off`, `warning`, `error`).
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "allow" | "off" => Level::Allow,
            "warn" | "warning" => Level::Warn,
            "deny" | "error" => Level::Deny,
            _ => return None,
        })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The level of every rule when neither the builder nor `DMACHECK` set one: reported, and the
/// call goes on.
pub(crate) const DEFAULT_LEVEL: Level = Level::Warn;

/// One rule of the DMA API, as declared in `src/rules/`.
#[derive(Debug)]
pub struct Rule {
    /// Stable identifier, used in `DMACHECK`, reports and SARIF (`unmap-size-mismatch`).
    pub id: &'static str,
    /// The family the rule belongs to (the file that declares it).
    pub family: &'static str,
    /// One line: what the rule reports.
    pub summary: &'static str,
    /// The level when neither the builder nor `DMACHECK` set one: `warn` for every
    /// rule (declarations do not choose one).
    pub default_level: Level,
    /// One paragraph: what is wrong and what to do instead.
    pub doc: &'static str,
    /// The passage the rule enforces, cited by the upstream document's title and version and
    /// its section (`Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, ...)`).
    pub seed: &'static str,
    /// What Linux's `CONFIG_DMA_API_DEBUG` says for the same mistake, or `None` when the kernel
    /// has no such check ("beyond the kernel").
    pub kernel: Option<&'static str>,
}

impl Rule {
    /// The rule's position in [`all`], used to index per-rule tables.
    pub(crate) fn index(&'static self) -> usize {
        all()
            .iter()
            .position(|r| std::ptr::eq(*r, self))
            .expect("every rule is registered in rules::all")
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id)
    }
}

impl PartialEq for Rule {
    fn eq(&self, other: &Rule) -> bool {
        self.id == other.id
    }
}

/// Declares a family's rules and the family's list of them. The doc comment is the rule's doc.
macro_rules! declare_rules {
    (family: $family:literal; $(
        $(#[doc = $doc:literal])*
        pub static $name:ident = {
            id: $id:literal,
            summary: $summary:literal,
            seed: $seed:literal,
            kernel: $kernel:expr $(,)?
        };
    )*) => {
        $(
            $(#[doc = $doc])*
            pub static $name: $crate::rules::Rule = $crate::rules::Rule {
                id: $id,
                family: $family,
                summary: $summary,
                default_level: $crate::rules::DEFAULT_LEVEL,
                doc: concat!($($doc, "\n"),*),
                seed: $seed,
                kernel: $kernel,
            };
        )*
        pub(crate) static FAMILY: &[&$crate::rules::Rule] = &[$(&$name),*];
    };
}
pub(crate) use declare_rules;

static ALL: LazyLock<Vec<&'static Rule>> = LazyLock::new(|| {
    [
        map::FAMILY,
        release::FAMILY,
        sync::FAMILY,
        sg::FAMILY,
        ownership::FAMILY,
        cache::FAMILY,
        pool::FAMILY,
        pool_redzone::FAMILY,
        regions::FAMILY,
        context::FAMILY,
        lifetime::FAMILY,
        modern::FAMILY,
        heap::FAMILY,
    ]
    .concat()
    .to_vec()
});

/// Every rule, in catalogue order.
pub fn all() -> &'static [&'static Rule] {
    &ALL
}

/// The rule with this id.
pub fn by_id(id: &str) -> Option<&'static Rule> {
    all().iter().copied().find(|r| r.id == id)
}

/// The rule catalogue as Markdown: the text of `RULES.md`.
pub fn catalogue_markdown() -> String {
    use std::fmt::Write;
    let mut out = String::from(
        "# dmacheck rules\n\n\
         Generated from the declarations in `src/rules/` (a test keeps this file in step: \
         run `DMACHECK_BLESS=1 cargo test --test rules_catalogue` after changing a rule).\n\n\
         Levels: `deny` reports and panics at the faulty call, `warn` reports and goes on, \
         `allow` does not check. Set them with `Checker::builder().level(..)` or \
         `DMACHECK=<rule>=<level>`.\n\n\
         Each rule cites the passage it enforces by the upstream document's title, the kernel \
         version it is quoted from and its section.\n\n\
         | id | summary | default | kernel dma-debug |\n|---|---|---|---|\n",
    );
    for r in all() {
        let kernel = if r.kernel.is_some() {
            "same check"
        } else {
            "beyond the kernel"
        };
        let _ = writeln!(
            out,
            "| [`{}`](#{}) | {} | {} | {} |",
            r.id, r.id, r.summary, r.default_level, kernel
        );
    }
    let mut family = "";
    for r in all() {
        if r.family != family {
            family = r.family;
            let _ = write!(out, "\n## Family `{family}`\n");
        }
        let doc: Vec<&str> = r.doc.lines().map(str::trim).collect();
        let _ = write!(
            out,
            "\n### {}\n\n{}\n\n- Default level: `{}`\n- Source: {}\n- Kernel: {}\n",
            r.id,
            doc.join(" ").trim(),
            r.default_level,
            r.seed,
            r.kernel.unwrap_or("none; beyond the kernel"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for r in all() {
            assert!(seen.insert(r.id), "duplicate rule id {}", r.id);
            assert!(
                r.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{} is not kebab-case",
                r.id
            );
            assert!(!r.doc.trim().is_empty(), "{} has no doc", r.id);
        }
    }

    /// Citations name what ships upstream (title, version, section), never a local copy: the
    /// reference copies are not part of the repository, so a path or line range would point
    /// nowhere for a user.
    #[test]
    fn every_rule_cites_an_upstream_document_by_title_and_version() {
        const UPSTREAM: [&str; 6] = [
            "Documentation/DMA-API.txt, Linux 2.6.",
            "Documentation/DMA-mapping.txt, Linux 2.4.4",
            "Linux Device Drivers, 3rd edition, chapter 15",
            "linux-mm review of \"[PATCH 6/9] drivers: add Contiguous Memory Allocator\"",
            // The modern API's rules (src/rules/modern.rs) cite today's documents.
            "Documentation/core-api/dma-api.rst, Linux 6.",
            "Documentation/driver-api/driver-model/devres.rst, Linux 6.",
        ];
        for r in all() {
            assert!(
                UPSTREAM.iter().any(|doc| r.seed.starts_with(doc)),
                "{} cites no upstream document: {}",
                r.id,
                r.seed
            );
            for local in [
                "shared/",
                "seeds/",
                ".txt line",
                "-2008.txt",
                "-2007.txt",
                "patch.txt",
            ] {
                assert!(
                    !r.seed.contains(local),
                    "{} cites a local copy: {}",
                    r.id,
                    r.seed
                );
            }
        }
        let catalogue = catalogue_markdown();
        assert!(
            !catalogue.contains("shared/"),
            "RULES.md names a path outside the repository"
        );
    }

    #[test]
    fn index_finds_each_rule_in_its_place() {
        for (i, r) in all().iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(by_id(r.id).map(|r| r.index()), Some(i));
        }
    }
}
