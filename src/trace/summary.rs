//! What a replay saw besides the findings: how many events of which kind, per device; what it
//! skipped, could not read, or could not know; and the leaks, grouped by device and size.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::types::MapKind;

/// How many lines of its entries a leak group lists.
pub(crate) const LEAK_LINES: usize = 8;

/// How many examples each category keeps.
pub(crate) const EXAMPLES: usize = 20;

/// What a replay saw, skipped and could not know. Serializes to JSON for tools.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TraceSummary {
    /// The trace's name (its path, or `-`).
    pub source: String,
    /// Lines read.
    pub lines: u64,
    /// `dma` events replayed.
    pub dma_events: u64,
    /// `dma` events per event name.
    pub events: BTreeMap<String, u64>,
    /// Events of other subsystems, skipped.
    pub other_events: u64,
    /// The most frequent names among them (at most 32 names are counted).
    pub other_names: BTreeMap<String, u64>,
    /// Events named like the `dma` subsystem's that dmacheck does not know, per name (at most
    /// 32 names; more are counted under `...`).
    pub unknown_dma_events: BTreeMap<String, u64>,
    /// `dma` events of devices left out by the device filter.
    pub filtered_events: u64,
    /// Failed maps and allocations (`DMA_MAPPING_ERROR`, a NULL allocation, `dma_map_sg_err`,
    /// `dma_alloc_sgt_err`): no mapping was made.
    pub failed: u64,
    /// `dma_free` of NULL (`virt_addr=0000000000000000`): no-ops, as in the kernel.
    pub null_frees: u64,
    /// Lines that could not be read, in all.
    pub malformed: u64,
    /// The first of them.
    pub malformed_lines: Vec<MalformedLine>,
    /// `dma` events without a flags column: their IRQ state is unknown.
    pub without_flags: u64,
    /// The CPUs of the traced machine, as the header says.
    pub cpus: Option<u32>,
    /// Events the ring buffer overwrote before the trace was read (the header's
    /// `entries-in-buffer/entries-written`): the trace starts mid-run.
    pub overwritten: Option<u64>,
    /// Lost-events markers, in order.
    pub losses: Vec<Loss>,
    /// Lost-events markers in all (`losses` keeps the first 20).
    pub lost_markers: u64,
    /// Events lost, in all, where the markers say how many.
    pub lost_events: u64,
    /// Mappings live at a lost-events marker, forgotten there: their fate is unknown.
    pub forgotten: u64,
    /// Releases and syncs of mappings the trace never saw made (made before it began).
    pub unknown_to_trace: Category,
    /// Findings that lost events or truncated sg lists could explain, not reported.
    pub uncertain: Category,
    /// `dma_map_sg` events whose lists the kernel truncated (over 128 entries).
    pub truncated_sg: u64,
    /// Device-writable mappings whose cache lines could not be checked: the trace gives no
    /// physical address for them (MMIO, `dma_alloc_pages`, sg lists merged by an IOMMU).
    pub cache_unchecked: u64,
    /// Per device, in order of first appearance.
    pub devices: Vec<DeviceSummary>,
    /// Devices that skip their unmaps as `dma_need_unmap()` allows (direct-mapped, no syncs):
    /// what was not reported for them.
    pub unmaps_skipped: Vec<SkippedUnmaps>,
    /// Mappings live at the end of the trace, grouped by device, kind and size.
    pub leaks: Vec<LeakGroup>,
    /// Whether the replay took the trace to cover the driver from its start.
    pub from_start: bool,
}

/// A line that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MalformedLine {
    /// Its number, from 1.
    pub line: u64,
    /// Why.
    pub reason: String,
    /// Its text (cut at 160 bytes).
    pub text: String,
}

/// A lost-events marker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Loss {
    /// Its line.
    pub line: u64,
    /// The CPU that lost events.
    pub cpu: u32,
    /// How many, when the marker says.
    pub events: Option<u64>,
    /// Whether it is a `buffer started` annotation (the ring buffer overwrote the CPU's older
    /// events) rather than a `LOST` marker.
    pub buffer_started: bool,
}

/// Findings set aside, with examples.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Category {
    /// How many.
    pub total: u64,
    /// How many per rule id.
    pub per_rule: BTreeMap<String, u64>,
    /// The first few.
    pub examples: Vec<Example>,
}

impl Category {
    pub(crate) fn add(&mut self, example: Example) {
        self.total += 1;
        *self.per_rule.entry(example.rule.clone()).or_default() += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(example);
        }
    }
}

/// One finding set aside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Example {
    /// The trace line of the event.
    pub line: u64,
    /// The device.
    pub device: String,
    /// The event's call.
    pub call: String,
    /// The rule that would have fired.
    pub rule: String,
    /// The DMA address concerned.
    pub dma_addr: u64,
    /// Why it was set aside.
    pub reason: String,
}

/// One device of the trace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeviceSummary {
    /// Its name.
    pub name: String,
    /// Its `dma` events.
    pub events: u64,
    /// Mappings and allocations made.
    pub maps: u64,
    /// Mappings and allocations ended.
    pub releases: u64,
    /// Syncs.
    pub syncs: u64,
    /// Violations reported for it (of those kept).
    pub violations: u64,
    /// Mappings live at the end of the trace.
    pub live_at_end: u64,
    /// Their bytes.
    pub live_bytes: u64,
}

/// A device that skips its unmaps on purpose: dma-direct with `dma_skip_sync` set, where
/// `dma_need_unmap()` is false and callers such as the block layer do not unmap. A new map of
/// a live address retires the old mapping, and mappings live at the end are no leaks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SkippedUnmaps {
    /// The device.
    pub device: String,
    /// Mappings retired by a later map of their address.
    pub retired: u64,
    /// Single mappings live at the end, not reported as leaks.
    pub live_at_end: u64,
}

/// Mappings live at the end of the trace, of one device, kind and size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeakGroup {
    /// The device.
    pub device: String,
    /// The kind of entry (`page`, `coherent`, `sg`, `noncoherent`).
    pub kind: String,
    /// The same, as a [`MapKind`].
    #[serde(skip)]
    pub map_kind: MapKind,
    /// MMIO mappings (`dma_map_resource`), grouped apart.
    #[serde(skip)]
    pub mmio: bool,
    /// The size of each.
    pub size: u64,
    /// How many.
    pub entries: u64,
    /// The line of the oldest.
    pub first_line: u64,
    /// The lines of the oldest few (at most 8), in order.
    pub lines: Vec<u64>,
}

impl TraceSummary {
    /// The summary as text, for people: counts, what was skipped or set aside and why, and
    /// what the trace cannot show.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let devices = self.devices.len();
        let _ = writeln!(
            s,
            "dmacheck trace: {}: {} lines, {} dma events on {} {}",
            self.source,
            self.lines,
            self.dma_events,
            devices,
            if devices == 1 { "device" } else { "devices" }
        );
        if !self.events.is_empty() {
            let per: Vec<String> = self
                .events
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(s, "  events: {}", per.join(", "));
        }
        for d in &self.devices {
            let _ = writeln!(
                s,
                "  {}: {}, {} made, {} ended, {}; {}; {} live at the end ({})",
                d.name,
                plural(d.events, "event"),
                plural(d.maps, "mapping"),
                d.releases,
                plural(d.syncs, "sync"),
                plural(d.violations, "violation"),
                d.live_at_end,
                plural(d.live_bytes, "byte")
            );
        }
        for u in &self.unmaps_skipped {
            let _ = writeln!(
                s,
                "  {}: direct-mapped without syncs, so dma_need_unmap() is false and unmaps may be skipped (as the block layer does): {} retired by a new map of their address, {} live at the end; neither reported",
                u.device,
                plural(u.retired, "mapping"),
                u.live_at_end
            );
        }
        if self.other_events > 0 {
            let names: Vec<String> = self
                .other_names
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(
                s,
                "  skipped {} events of other subsystems ({})",
                self.other_events,
                names.join(", ")
            );
        }
        if !self.unknown_dma_events.is_empty() {
            let names: Vec<String> = self
                .unknown_dma_events
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(s, "  unknown dma events, not checked: {}", names.join(", "));
        }
        if self.filtered_events > 0 {
            let _ = writeln!(
                s,
                "  {} events of other devices left out",
                self.filtered_events
            );
        }
        if self.failed > 0 {
            let _ = writeln!(
                s,
                "  {} failed maps or allocations (no mapping made)",
                self.failed
            );
        }
        if self.malformed > 0 {
            let _ = writeln!(s, "  {} malformed lines, skipped:", self.malformed);
            for m in &self.malformed_lines {
                let _ = writeln!(s, "    line {}: {}: {}", m.line, m.reason, m.text);
            }
            if self.malformed > self.malformed_lines.len() as u64 {
                let _ = writeln!(s, "    ...");
            }
        }
        if self.without_flags > 0 {
            let _ = writeln!(
                s,
                "  {} dma events have no flags column: their IRQ state is unknown (free-coherent-irqs-disabled and sleeping-alloc-in-atomic not checked for them)",
                self.without_flags
            );
        }
        if let Some(n) = self.overwritten {
            let _ = writeln!(
                s,
                "  the ring buffer overwrote {n} events before the trace was read: the trace starts mid-run"
            );
        }
        if self.lost_markers > 0 {
            let _ = writeln!(
                s,
                "  STATE UNCERTAIN: {} lost-events markers ({} events lost where counted); {} live mappings forgotten there; findings the lost events could explain are not reported",
                self.lost_markers, self.lost_events, self.forgotten
            );
            for l in self.losses.iter().take(EXAMPLES) {
                let what = match (l.buffer_started, l.events) {
                    (true, _) => "buffer started (older events overwritten)".to_string(),
                    (false, Some(n)) => format!("lost {n} events"),
                    (false, None) => "lost events".to_string(),
                };
                let _ = writeln!(s, "    line {}: CPU {} {what}", l.line, l.cpu);
            }
        }
        category(
            &mut s,
            &self.unknown_to_trace,
            "unknown to the trace (mappings made before it began), not checked",
        );
        category(
            &mut s,
            &self.uncertain,
            "uncertain (missing events could explain them), not reported",
        );
        if self.truncated_sg > 0 {
            let _ = writeln!(
                s,
                "  {} sg lists truncated by the kernel (over 128 entries): their unseen segments are not checked",
                self.truncated_sg
            );
        }
        if self.cache_unchecked > 0 {
            let _ = writeln!(
                s,
                "  cache-line overlap not decidable for {} device-writable mappings (no physical address in the trace)",
                self.cache_unchecked
            );
        }
        let _ = writeln!(
            s,
            "  not decidable from a trace: dma_mapping_error calls (kernel traces do not show them: unmap-unchecked is allowed), sg list contents and device segment limits, CPU and device accesses to the memory (ownership rules)"
        );
        if !self.from_start {
            let _ = writeln!(
                s,
                "  releases of unknown addresses are taken as mappings made before the trace began; pass --from-start if it covers the driver from its load"
            );
        }
        if !self.leaks.is_empty() {
            let total: u64 = self.leaks.iter().map(|l| l.entries).sum();
            let _ = writeln!(
                s,
                "  {total} mappings live at the end of the trace, by device and size (a trace may end while the driver is running: capture past the driver's removal for a definite answer):"
            );
            for l in &self.leaks {
                let lines: Vec<String> = l.lines.iter().map(u64::to_string).collect();
                let more = l.entries.saturating_sub(l.lines.len() as u64);
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                let _ = writeln!(
                    s,
                    "    {}: {} {} x {} bytes, made at {} {}{more}",
                    l.device,
                    l.entries,
                    l.kind,
                    l.size,
                    if l.entries == 1 { "line" } else { "lines" },
                    lines.join(", ")
                );
            }
        }
        s
    }
}

/// Bytes of a trace as text that is safe to print on a terminal: at most `max` bytes of it,
/// valid UTF-8 as is, control characters and invalid bytes escaped (`\x1b`), so a trace can
/// never send escape sequences to the terminal through a report.
pub(crate) fn printable(bytes: &[u8], max: usize) -> String {
    let cut = &bytes[..bytes.len().min(max)];
    let mut s = String::with_capacity(cut.len());
    for chunk in cut.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                if (c as u32) < 0x100 {
                    let _ = write!(s, "\\x{:02x}", c as u32);
                } else {
                    let _ = write!(s, "\\u{{{:x}}}", c as u32);
                }
            } else {
                s.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}

/// `1 event`, `2 events`.
fn plural(n: u64, one: &str) -> String {
    format!("{n} {one}{}", if n == 1 { "" } else { "s" })
}

fn category(s: &mut String, c: &Category, what: &str) {
    if c.total == 0 {
        return;
    }
    let per: Vec<String> = c.per_rule.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(s, "  {} findings {what}: {}", c.total, per.join(", "));
    for e in &c.examples {
        let _ = writeln!(
            s,
            "    line {}: {} on {} dma_addr={:#x} ({}; {})",
            e.line, e.call, e.device, e.dma_addr, e.rule, e.reason
        );
    }
}
