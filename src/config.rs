//! Configuration of a checker: rule levels, stack capture, reporting, memory. Set in code with
//! [`CheckerBuilder`](crate::CheckerBuilder), and from the environment with `DMACHECK`.
//!
//! # `DMACHECK`
//!
//! A comma-separated list of directives, applied left to right (later ones win):
//!
//! | directive | effect |
//! |---|---|
//! | `deny`, `warn`, `allow` | set every rule to that level |
//! | `off` | turn checking off entirely: calls go straight to the backend, at near-zero cost |
//! | `driver=<name>` | report only violations of devices bound to driver `<name>` |
//! | `print_first=<n>` | print only the first `n` violations to stderr (all are counted and kept) |
//! | `<rule-id>=<level>` | set one rule (`unmap-unchecked=allow`) |
//! | `<family>=<level>` | set a family of rules (`sync=deny`; families: `map`, `release`, `sync`, `sg`, `ownership`, `cache`, `pool`, `regions`, `context`, `lifetime`, `modern`, `heap`) |
//! | `stacks` / `stacks=<n>` | capture `n` frames (16 if omitted) of every mapping's stack; `stacks=0` turns it off. Exact per call where the build keeps frame pointers; otherwise each call site's first stack, reused |
//! | `exact-stacks` / `exact-stacks=0` | without frame pointers, unwind every call's stack anyway (exact, microseconds per call) |
//! | `print=0` / `print=1` | whether violations are printed to stderr as they happen |
//! | `keep=<n>` | keep at most `n` violations for [`Checker::violations`](crate::Checker::violations) |
//! | `fail=<kind>[@<dev>]:every=<n>` or `:prob=<p>[:seed=<s>]`, `[:budget=<n>]` | inject failures into maps and allocations (see [`crate::faults`]); repeatable |
//! | `bounce` / `bounce=0` | bounce all streaming mappings through the bounce pool (`swiotlb=force`) |
//! | `digests=0` / `digests=1` | fingerprint streaming buffers at hand-offs to catch CPU writes while the device owns them (default 1) |
//! | `pool-redzone` / `pool-redzone=0` | give DMA pool blocks whose size leaves no padding a redzone of their own (8 bytes, rounded up to the alignment), so an overrun of any block is caught (`pool-overrun`) |
//! | `trap` / `trap=0` | trap mode: plain-pointer CPU accesses to device-owned buffers fault and are reported (Linux x86_64; see [`crate::trap`]) |
//! | `exit-code=<n>` | if any checker of the process found something at warn level or above (a violation, or an entry still live when its checker dropped or at exit), the process exits with status `n` (1-255) instead of its own; `exit-code=0` turns it off |
//!
//! For example `DMACHECK=deny,leak=warn,stacks=24`. Settings made in code with the builder
//! override the variable. A directive that is not understood (`leak=loud`, `stacks=many`) makes
//! every checker built under the variable panic with the message, so a mistyped setting fails
//! the run instead of passing it with other settings.
//!
//! A second variable, `DMACHECK_REPORT` ([`REPORT_ENV_VAR`]), says where checkers write their
//! reports: each per-test checker when it drops, the process-wide checker at exit (see
//! [`crate::report`]).

use std::fmt;

use crate::backend::MemoryConfig;
use crate::rules::{self, Level, Rule};

/// The name of the environment variable read by [`CheckerBuilder::build`](crate::CheckerBuilder::build).
pub const ENV_VAR: &str = "DMACHECK";

/// The environment variable that names where checkers write their reports with no code in the
/// program: each per-test checker when it drops, the process-wide checker at exit.
/// `<format>:<path>`, comma-separated (see [`Destination`](crate::report::Destination)).
pub const REPORT_ENV_VAR: &str = "DMACHECK_REPORT";

/// Stack depth used by the `stacks` directive without a number.
pub const DEFAULT_STACK_DEPTH: usize = 16;

/// A directive of `DMACHECK` that could not be understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The directive as written.
    pub directive: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ENV_VAR}: `{}`: {}", self.directive, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// The level of every rule, read and set by rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Levels(Box<[Level]>);

impl Levels {
    /// The level of `rule`.
    pub fn get(&self, rule: &'static Rule) -> Level {
        self.0[rule.index()]
    }

    /// Set the level of `rule`.
    pub fn set(&mut self, rule: &'static Rule, level: Level) {
        self.0[rule.index()] = level;
    }

    /// Set every rule's level.
    pub fn set_all(&mut self, level: Level) {
        self.0.iter_mut().for_each(|l| *l = level);
    }

    /// Every rule with its level, in the order of [`rules::all`].
    pub fn iter(&self) -> impl Iterator<Item = (&'static Rule, Level)> + '_ {
        rules::all().iter().copied().zip(self.0.iter().copied())
    }
}

impl Default for Levels {
    /// Every rule at its default level.
    fn default() -> Self {
        Levels(rules::all().iter().map(|r| r.default_level).collect())
    }
}

/// A checker's settings, resolved.
#[derive(Clone, Debug)]
pub struct Config {
    /// The level of each rule.
    pub levels: Levels,
    /// Frames of stack captured per call (0: file and line only).
    pub stack_depth: usize,
    /// Unwind every call's stack even where frame pointers are missing (see [`crate::Site`]).
    pub exact_stacks: bool,
    /// Print violations to stderr as they happen.
    pub print: bool,
    /// How many violations are kept for inspection.
    pub keep_at_most: usize,
    /// The simulated physical memory.
    pub memory: MemoryConfig,
    /// Fingerprint streaming buffers at every hand-off, to catch CPU writes while the device
    /// owns them ([`cpu-write-device-owned`](crate::rules::CPU_WRITE_DEVICE_OWNED)). Costs a
    /// pass over the buffer at each map, sync and unmap.
    pub digests: bool,
    /// Trap mode ([`crate::trap`]): protect the pages of device-owned streaming buffers so a
    /// plain-pointer CPU access faults and is reported at its instruction. Linux x86_64 only.
    pub trap: bool,
    /// Bounce all streaming mappings (`swiotlb=force`), unless a device chooses otherwise.
    pub force_bounce: bool,
    /// Add a redzone after DMA pool blocks whose size leaves no padding
    /// ([`pool-overrun`](crate::rules::POOL_OVERRUN) checks the padding of the others anyway).
    pub pool_redzone: bool,
    /// Check at all. Off, the DMA API calls go straight to the backend: nothing is recorded,
    /// checked or reported.
    pub enabled: bool,
    /// Report only violations of devices bound to this driver (the kernel's driver filter).
    pub only_driver: Option<String>,
    /// Print at most this many violations to stderr (all are still counted and kept).
    pub print_first: u64,
    /// Failures to inject into maps and allocations.
    pub faults: Vec<crate::faults::FaultSpec>,
    /// The process's exit status when any checker found something (`exit-code=<n>`).
    pub exit_code: Option<u8>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            levels: Levels::default(),
            stack_depth: 0,
            exact_stacks: false,
            print: true,
            keep_at_most: 100_000,
            memory: MemoryConfig::default(),
            digests: true,
            trap: false,
            force_bounce: false,
            pool_redzone: false,
            enabled: true,
            only_driver: None,
            print_first: u64::MAX,
            faults: Vec::new(),
            exit_code: None,
        }
    }
}

impl Config {
    /// The level of `rule`.
    pub fn level(&self, rule: &'static Rule) -> Level {
        self.levels.get(rule)
    }

    /// Apply the directives of a `DMACHECK` value; returns the ones that were not understood,
    /// having applied the rest.
    pub fn apply_spec(&mut self, spec: &str) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        for directive in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            if let Err(reason) = self.apply_directive(directive) {
                errors.push(ConfigError {
                    directive: directive.to_string(),
                    reason,
                });
            }
        }
        errors
    }

    fn apply_directive(&mut self, directive: &str) -> Result<(), &'static str> {
        let (key, value) = match directive.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (directive, None),
        };
        let number = |v: Option<&str>| v.and_then(|v| v.parse::<usize>().ok());
        match (key, value) {
            ("stacks", None) => self.stack_depth = DEFAULT_STACK_DEPTH,
            ("stacks", v) => self.stack_depth = number(v).ok_or("stacks takes a frame count")?,
            ("exact-stacks", None) => self.exact_stacks = true,
            ("exact-stacks", v) => {
                self.exact_stacks = number(v).ok_or("exact-stacks takes 0 or 1")? != 0;
            }
            ("print", v) => self.print = number(v).ok_or("print takes 0 or 1")? != 0,
            ("keep", v) => self.keep_at_most = number(v).ok_or("keep takes a count")?,
            ("digests", v) => self.digests = number(v).ok_or("digests takes 0 or 1")? != 0,
            ("trap", None) => self.trap = true,
            ("trap", v) => self.trap = number(v).ok_or("trap takes 0 or 1")? != 0,
            ("off" | "disabled", None) => self.enabled = false,
            ("enabled", v) => self.enabled = number(v).ok_or("enabled takes 0 or 1")? != 0,
            ("driver", Some(name)) if !name.is_empty() => self.only_driver = Some(name.to_string()),
            ("print_first", v) => {
                self.print_first = number(v).ok_or("print_first takes a count")? as u64
            }
            ("fail", Some(spec)) => self.faults.push(crate::faults::FaultSpec::parse(spec)?),
            ("exit-code", v) => {
                let code = v
                    .and_then(|v| v.parse::<u8>().ok())
                    .ok_or("exit-code takes a status from 0 to 255")?;
                self.exit_code = (code != 0).then_some(code);
            }
            ("pool-redzone", None) => self.pool_redzone = true,
            ("pool-redzone", v) => {
                self.pool_redzone = number(v).ok_or("pool-redzone takes 0 or 1")? != 0;
            }
            ("bounce", None) => self.force_bounce = true,
            ("bounce", v) => self.force_bounce = number(v).ok_or("bounce takes 0 or 1")? != 0,
            (level, None) => {
                let level = Level::parse(level).ok_or("unknown directive")?;
                self.levels.set_all(level);
            }
            (target, Some(level)) => {
                let level = Level::parse(level).ok_or("level must be allow, warn or deny")?;
                let mut matched = false;
                for r in rules::all() {
                    if r.id == target || r.family == target {
                        self.levels.set(r, level);
                        matched = true;
                    }
                }
                if !matched {
                    return Err("no rule or family of that name");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{LEAK, SYNC_UNKNOWN, UNMAP_SIZE_MISMATCH, UNMAP_UNCHECKED};

    #[test]
    fn directives_apply_left_to_right() {
        let mut c = Config::default();
        let errors = c.apply_spec("deny, unmap-unchecked=allow ,sync=warn,stacks,keep=5,print=0");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(c.level(&UNMAP_SIZE_MISMATCH), Level::Deny);
        assert_eq!(c.level(&UNMAP_UNCHECKED), Level::Allow);
        assert_eq!(c.level(&SYNC_UNKNOWN), Level::Warn);
        assert_eq!(c.stack_depth, DEFAULT_STACK_DEPTH);
        assert_eq!(c.keep_at_most, 5);
        assert!(!c.print);
    }

    #[test]
    fn bad_directives_are_reported_and_the_rest_applied() {
        let mut c = Config::default();
        let errors = c.apply_spec("leak=deny,no-such-rule=warn,stacks=many,loud");
        assert_eq!(c.level(&LEAK), Level::Deny);
        let bad: Vec<&str> = errors.iter().map(|e| e.directive.as_str()).collect();
        assert_eq!(bad, ["no-such-rule=warn", "stacks=many", "loud"]);
        assert_eq!(c.stack_depth, 0);
    }

    /// The module doc's list of families is the catalogue's, in its order.
    #[test]
    fn the_documented_families_are_the_catalogues() {
        let mut families: Vec<&str> = Vec::new();
        for r in crate::rules::all() {
            if families.last() != Some(&r.family) {
                families.push(r.family);
            }
        }
        let listed: String = families
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let doc = include_str!("config.rs");
        assert!(
            doc.contains(&format!("families: {listed})")),
            "the `<family>=<level>` row of the module doc should list: {listed}"
        );
    }
}
