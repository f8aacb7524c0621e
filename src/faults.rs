//! Fault injection: make maps and allocations fail on purpose — every Nth call, or with a
//! probability from a seeded generator (reproducible) — per call kind and device, within a
//! budget. A failure returns exactly what the real API returns on failure
//! (`DMA_MAPPING_ERROR`, 0, NULL), so a driver's error paths run, and the usual mistakes after a
//! failure (unmapping or using the error address, going on with a count of 0) are caught.
//!
//! In `DMACHECK`: `fail=<kind>[@<device>]:every=<n>` or `fail=<kind>[@<device>]:prob=<p>`, with
//! optional `:seed=<s>` and `:budget=<n>`; kinds are `map` (single and page), `map_sg`, `alloc`
//! (coherent allocations), `pool` (pool allocations), `cma` (the migration step of CMA
//! allocations) and `any`. For example
//! `DMACHECK=fail=map:every=10,fail=alloc@eth0:prob=0.05:seed=7:budget=3`.

use std::fmt;

use crate::sync::{AtomicU64, Ordering};

/// The calls a fault can be injected into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// `dma_map_single` and `dma_map_page`.
    Map,
    /// `dma_map_sg`.
    MapSg,
    /// `dma_alloc_coherent` and the other coherent or noncoherent allocations.
    Alloc,
    /// `dma_pool_alloc`.
    Pool,
    /// The page migration step of `dma_alloc_from_contiguous`.
    Cma,
    /// All of the above.
    Any,
}

impl FaultKind {
    fn parse(s: &str) -> Option<FaultKind> {
        Some(match s {
            "map" => FaultKind::Map,
            "map_sg" => FaultKind::MapSg,
            "alloc" => FaultKind::Alloc,
            "pool" => FaultKind::Pool,
            "cma" => FaultKind::Cma,
            "any" => FaultKind::Any,
            _ => return None,
        })
    }

    fn covers(self, call: FaultKind) -> bool {
        self == FaultKind::Any || self == call
    }
}

/// When a fault fires.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trigger {
    /// On every `n`th matching call (the `n`th, `2n`th, ...).
    Every(u64),
    /// On each matching call with probability `p`, from a generator seeded with `seed`.
    Probability {
        /// Between 0 and 1.
        p: f64,
        /// The generator's seed: the same seed and call order give the same failures.
        seed: u64,
    },
}

/// One fault-injection rule.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpec {
    /// The calls it applies to.
    pub kind: FaultKind,
    /// The device (by name) it applies to; all devices if `None`.
    pub device: Option<String>,
    /// When it fires.
    pub trigger: Trigger,
    /// How many failures it may inject at most.
    pub budget: Option<u64>,
}

impl FaultSpec {
    /// Fail every `n`th call of `kind`.
    pub fn every(kind: FaultKind, n: u64) -> FaultSpec {
        FaultSpec {
            kind,
            device: None,
            trigger: Trigger::Every(n.max(1)),
            budget: None,
        }
    }

    /// Fail calls of `kind` with probability `p`, reproducibly from `seed`.
    pub fn probability(kind: FaultKind, p: f64, seed: u64) -> FaultSpec {
        FaultSpec {
            kind,
            device: None,
            trigger: Trigger::Probability {
                p: p.clamp(0.0, 1.0),
                seed,
            },
            budget: None,
        }
    }

    /// Only for the device named `name`.
    pub fn device(mut self, name: &str) -> FaultSpec {
        self.device = Some(name.to_string());
        self
    }

    /// Inject at most `n` failures.
    pub fn budget(mut self, n: u64) -> FaultSpec {
        self.budget = Some(n);
        self
    }

    /// Parse the value of a `fail=` directive.
    pub fn parse(value: &str) -> Result<FaultSpec, &'static str> {
        let mut parts = value.split(':');
        let target = parts.next().unwrap_or_default();
        let (kind, device) = match target.split_once('@') {
            Some((k, d)) => (k, Some(d.to_string())),
            None => (target, None),
        };
        let kind =
            FaultKind::parse(kind).ok_or("fail takes map, map_sg, alloc, pool, cma or any")?;
        let (mut every, mut prob, mut seed, mut budget) = (None, None, 0, None);
        for part in parts {
            let (key, v) = part.split_once('=').ok_or("fail options are key=value")?;
            match key {
                "every" => every = Some(v.parse::<u64>().map_err(|_| "every takes a count")?),
                "prob" => prob = Some(v.parse::<f64>().map_err(|_| "prob takes a number")?),
                "seed" => seed = v.parse().map_err(|_| "seed takes a number")?,
                "budget" => budget = Some(v.parse().map_err(|_| "budget takes a count")?),
                _ => return Err("fail options are every, prob, seed and budget"),
            }
        }
        let spec = match (every, prob) {
            (Some(n), None) => FaultSpec::every(kind, n),
            (None, Some(p)) if (0.0..=1.0).contains(&p) => FaultSpec::probability(kind, p, seed),
            _ => return Err("fail needs one of every=<n> or prob=<0..1>"),
        };
        Ok(FaultSpec {
            device,
            budget,
            ..spec
        })
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.kind)?;
        if let Some(d) = &self.device {
            write!(f, "@{d}")?;
        }
        match self.trigger {
            Trigger::Every(n) => write!(f, " every {n}")?,
            Trigger::Probability { p, seed } => write!(f, " p={p} seed={seed}")?,
        }
        if let Some(b) = self.budget {
            write!(f, " budget {b}")?;
        }
        Ok(())
    }
}

/// A rule with its running state.
struct Armed {
    spec: FaultSpec,
    calls: AtomicU64,
    injected: AtomicU64,
    rng: AtomicU64,
}

/// The fault injector of one checker.
#[derive(Default)]
pub(crate) struct FaultInjector {
    rules: Vec<Armed>,
}

impl FaultInjector {
    pub fn new(specs: &[FaultSpec]) -> FaultInjector {
        FaultInjector {
            rules: specs
                .iter()
                .map(|spec| Armed {
                    rng: AtomicU64::new(match spec.trigger {
                        Trigger::Probability { seed, .. } => seed ^ 0x9e37_79b9_7f4a_7c15,
                        Trigger::Every(_) => 0,
                    }),
                    spec: spec.clone(),
                    calls: AtomicU64::new(0),
                    injected: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    /// Whether this call of `kind` on the device named `device` must fail.
    #[inline]
    pub fn should_fail(&self, kind: FaultKind, device: &str) -> bool {
        !self.rules.is_empty() && self.rules.iter().any(|r| r.fires(kind, device))
    }

    /// Failures injected so far, in all.
    pub fn injected(&self) -> u64 {
        self.rules
            .iter()
            .map(|r| r.injected.load(Ordering::Relaxed))
            .sum()
    }
}

impl Armed {
    fn fires(&self, kind: FaultKind, device: &str) -> bool {
        if !self.spec.kind.covers(kind) || self.spec.device.as_deref().is_some_and(|d| d != device)
        {
            return false;
        }
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let hit = match self.spec.trigger {
            Trigger::Every(every) => n % every == 0,
            Trigger::Probability { p, .. } => {
                // xorshift64*: one step per matching call, so a seed replays the same failures
                // for the same sequence of calls.
                let mut x = self.rng.load(Ordering::Relaxed);
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                self.rng.store(x, Ordering::Relaxed);
                let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
                (r as f64) < p * (1u64 << 53) as f64
            }
        };
        if !hit {
            return false;
        }
        self.injected
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |i| {
                self.spec.budget.is_none_or(|b| i < b).then_some(i + 1)
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_call_fails_within_the_budget() {
        let f = FaultInjector::new(&[FaultSpec::every(FaultKind::Map, 3).budget(2)]);
        let fails: Vec<bool> = (0..12)
            .map(|_| f.should_fail(FaultKind::Map, "eth0"))
            .collect();
        let at: Vec<usize> = fails
            .iter()
            .enumerate()
            .filter(|(_, f)| **f)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            at,
            [2, 5],
            "the 3rd and 6th calls, then the budget is spent"
        );
        assert!(
            !f.should_fail(FaultKind::Alloc, "eth0"),
            "other kinds are untouched"
        );
        assert_eq!(f.injected(), 2);
    }

    #[test]
    fn a_seed_replays_the_same_failures() {
        let run = |seed| {
            let f = FaultInjector::new(&[FaultSpec::probability(FaultKind::Any, 0.3, seed)]);
            (0..200)
                .map(|_| f.should_fail(FaultKind::MapSg, "sda"))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let hits = run(7).iter().filter(|h| **h).count();
        assert!((30..90).contains(&hits), "about 30% of 200: {hits}");
    }

    #[test]
    fn device_filters_and_parsing() {
        let spec = FaultSpec::parse("alloc@eth0:prob=0.5:seed=3:budget=4").unwrap();
        assert_eq!(
            spec,
            FaultSpec::probability(FaultKind::Alloc, 0.5, 3)
                .device("eth0")
                .budget(4)
        );
        let f = FaultInjector::new(&[FaultSpec::parse("map@eth1:every=1").unwrap()]);
        assert!(!f.should_fail(FaultKind::Map, "eth0"));
        assert!(f.should_fail(FaultKind::Map, "eth1"));
        for bad in [
            "",
            "mapp:every=2",
            "map",
            "map:every=x",
            "map:prob=2",
            "map:every=1:color=red",
        ] {
            assert!(FaultSpec::parse(bad).is_err(), "{bad}");
        }
    }
}
