//! What a replay cannot know: mappings made before the trace began, and events the kernel
//! lost.
//!
//! Each finding of a replayed event is judged here before it is reported:
//!
//! - **Unknown to the trace.** A release or sync of an address no mapping of the trace holds
//!   (or that another device holds) is what a mapping made before the trace began looks like.
//!   Unless the trace is known to cover the driver from its start (`from_start`), such findings
//!   are counted in a quiet category of their own, not reported.
//! - **Lost events.** A `CPU:N [LOST M EVENTS]` marker (or a buffer that started late after the
//!   ring buffer overwrote it) means events of CPU N are missing from the line of that CPU's
//!   previous event to the marker. A finding that depends on the state of a mapping since line
//!   `s` (its map, or its release for a double release; the start of the trace for an unknown
//!   address) is explainable by the loss when that window overlaps `s..t`, `t` being the
//!   finding's line. Such findings are counted as uncertain, not reported. Because other CPUs'
//!   events precede a marker in the file, a finding is held until every CPU's events have
//!   passed its line (after which no later marker can explain it), or to the end; when the
//!   header does not say how many CPUs there are (`trace_pipe`), to the end.
//! - Findings that depend on nothing but the event itself (a free with IRQs disabled, a map
//!   with `DMA_NONE`) are reported at once.

use std::collections::VecDeque;

use crate::event::Event;
use crate::rules::Finding;
use crate::rules::{self, Rule};
use crate::types::DMA_MAPPING_ERROR;

/// How many findings may wait for the CPUs to pass their line; older ones are then reported.
const HELD_AT_MOST: usize = 1 << 20;

/// What becomes of one finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Report it now.
    Report,
    /// It concerns a mapping the trace never saw made: unknown to the trace.
    Unknown,
    /// Missing events could explain it: not reported.
    Uncertain(&'static str),
    /// Hold it until no later lost-events marker can explain it; it depends on the state of
    /// mappings since this line.
    Hold(u64),
}

/// Why a finding was not reported.
pub(crate) const LOST: &str = "events were lost";
pub(crate) const TRUNCATED: &str = "the kernel truncated an sg list of the device";

/// Rules that judge an event by itself, whatever came before.
fn independent(rule: &'static Rule) -> bool {
    [
        &rules::DIRECTION_NONE,
        &rules::MAP_ZERO_SIZE,
        &rules::MAP_RANGE_OVERFLOW,
        &rules::FREE_COHERENT_IRQS_DISABLED,
        &rules::UNMAP_MAPPING_ERROR,
        &rules::SLEEPING_ALLOC_IN_ATOMIC,
    ]
    .into_iter()
    .any(|r| std::ptr::eq(r, rule))
}

/// A finding whose only evidence is a missing mapping.
fn missing(f: &Finding) -> bool {
    std::ptr::eq(f.rule, &rules::UNMAP_UNKNOWN)
        || std::ptr::eq(f.rule, &rules::WRONG_DEVICE)
        || (std::ptr::eq(f.rule, &rules::SYNC_UNKNOWN) && f.related.is_none())
}

/// The trace line of a site, 0 for a site that is not a trace's.
fn line_of(site: &crate::site::Site) -> u64 {
    site.trace().map_or(0, |t| t.line)
}

/// A finding held until no lost-events marker can explain it.
pub(crate) struct Held {
    pub ev: Event,
    pub finding: Finding,
    line: u64,
    since: u64,
}

#[derive(Clone, Copy, Default)]
struct Cpu {
    /// The line of its latest event (or lost-events marker); 0 before any.
    last: u64,
    /// Part of the machine (declared by the header, or seen).
    known: bool,
    /// Declared empty by `trace-cmd report`.
    empty: bool,
}

/// The replay's knowledge of its own gaps.
pub(crate) struct Uncertainty {
    from_start: bool,
    /// The header said how many CPUs there are (`trace_pipe` output has no header).
    declared: bool,
    cpus: Vec<Cpu>,
    /// The line of the latest lost-events marker; 0 when none.
    last_loss: u64,
    held: VecDeque<Held>,
}

impl Uncertainty {
    pub fn new(from_start: bool) -> Uncertainty {
        Uncertainty {
            from_start,
            declared: false,
            cpus: Vec::new(),
            last_loss: 0,
            held: VecDeque::new(),
        }
    }

    /// Whether the trace is taken to cover the driver from its start.
    pub fn covers_start(&self) -> bool {
        self.from_start
    }

    /// The trace does not cover the start after all (the ring buffer overwrote its beginning).
    pub fn started_mid_run(&mut self) {
        self.from_start = false;
    }

    fn cpu(&mut self, cpu: u32) -> &mut Cpu {
        // CPU numbers come from the trace: cap the table rather than trust them.
        let i = (cpu as usize).min(4095);
        if self.cpus.len() <= i {
            self.cpus.resize(i + 1, Cpu::default());
        }
        &mut self.cpus[i]
    }

    /// The header says the machine has `n` CPUs.
    pub fn declare_cpus(&mut self, n: u32) {
        self.declared = true;
        for c in 0..n.min(4096) {
            self.cpu(c).known = true;
        }
    }

    /// `trace-cmd report` says the CPU recorded nothing.
    pub fn empty_cpu(&mut self, cpu: u32) {
        self.cpu(cpu).empty = true;
    }

    /// An event of `cpu` at `line`.
    pub fn saw(&mut self, cpu: u32, line: u64) {
        let c = self.cpu(cpu);
        c.known = true;
        c.last = line;
    }

    /// The line every CPU's events have passed. Without a header naming the CPUs, a CPU not
    /// seen yet may still report a loss that covers everything: nothing is final before the end.
    fn watermark(&self) -> u64 {
        if !self.declared {
            return 0;
        }
        self.cpus
            .iter()
            .filter(|c| c.known && !c.empty)
            .map(|c| c.last)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Judge finding `f` of event `ev`; `truncated` when the device has a live sg list whose
    /// segments the kernel did not all print.
    pub fn classify(&self, ev: &Event, f: &Finding, truncated: bool) -> Verdict {
        if independent(f.rule) || ev.dma_addr == DMA_MAPPING_ERROR {
            return Verdict::Report;
        }
        let since = if missing(f) {
            if truncated {
                return Verdict::Uncertain(TRUNCATED);
            }
            if !self.from_start {
                return Verdict::Unknown;
            }
            0
        } else {
            let mapped = f.mapped_at.as_ref().map_or(0, |(s, _)| line_of(s));
            let related = f.related.as_ref().map_or(0, |r| line_of(&r.site));
            mapped.max(related)
        };
        if self.last_loss > since {
            return Verdict::Uncertain(LOST);
        }
        if line_of(&ev.site) > self.watermark() {
            return Verdict::Hold(since);
        }
        Verdict::Report
    }

    /// Hold a finding (see [`Verdict::Hold`]); returns one to report now if too many wait.
    pub fn hold(&mut self, ev: Event, finding: Finding, since: u64) -> Option<Held> {
        let line = line_of(&ev.site);
        self.held.push_back(Held {
            ev,
            finding,
            line,
            since,
        });
        if self.held.len() > HELD_AT_MOST {
            return self.held.pop_front();
        }
        None
    }

    /// Whether findings are held.
    pub fn holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// The held findings no marker can explain any more (all of them at the end of the trace).
    pub fn release(&mut self, all: bool) -> Vec<Held> {
        let mark = if all { u64::MAX } else { self.watermark() };
        let n = self.held.iter().take_while(|h| h.line <= mark).count();
        self.held.drain(..n).collect()
    }

    /// CPU `cpu` lost events just before `line`. Returns the held findings they explain.
    pub fn lost(&mut self, cpu: u32, line: u64) -> Vec<Held> {
        let c = self.cpu(cpu);
        let window_start = c.last;
        c.known = true;
        c.last = line;
        self.last_loss = line;
        let (explained, kept): (Vec<Held>, Vec<Held>) = self
            .held
            .drain(..)
            .partition(|h| h.line > window_start && h.since < line);
        self.held = kept.into();
        explained
    }
}
