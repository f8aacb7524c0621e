//! CPU caches: mappings the device may write must not share cache lines.

use super::declare_rules;
use crate::event::Event;
use crate::rules::{Finding, Findings, Value};
use crate::tracker::{Entry, LineHolder};
use crate::types::DmaAttrs;

declare_rules! {
    family: "cache";

    /// Two live mappings the device may write (not `DMA_TO_DEVICE`) share a CPU cache line
    /// (`dma_get_cache_alignment()` bytes). On non-coherent hardware, the cache maintenance of
    /// one destroys data of the other. Every line of every such mapping is tracked, not only
    /// the first as in the kernel. Exempt: a later mapping with `DMA_ATTR_SKIP_CPU_SYNC` or
    /// `DMA_ATTR_CPU_CACHE_CLEAN`. Give each buffer its own cache lines (allocate
    /// cache-aligned sizes, or map the whole buffer once).
    pub static CACHELINE_OVERLAP = {
        id: "cacheline-overlap",
        summary: "two device-writable mappings share a CPU cache line",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, mapped regions must begin and end on cache line boundaries so two mappings never share a line)",
        kernel: Some("add_dma_entry(): \"cacheline tracking EEXIST, overlapping mappings aren't supported\""),
    };

    /// A partial sync whose cache lines reach bytes outside what it syncs may lose data.
    /// Cache maintenance works on whole lines (`dma_get_cache_alignment()` bytes), and the
    /// architecture widens a streaming sync to them by itself, so a partial sync of a streaming
    /// mapping (`dma_sync_single_range_*`, a `dma_sync_single_*` of part of a mapping) is
    /// reported only where the widened lines reach bytes outside the mapping: those may belong
    /// to someone else and are written back or discarded with it. A range that starts or ends
    /// where the mapping does touches there only what the map and every whole sync touch, so
    /// that edge is not counted. A packet-length sync inside a mapped page (the igb receive
    /// path) is fine. `dma_cache_sync` on non-coherent memory
    /// is the driver's own maintenance and must itself start on a line and end on one (or at
    /// the buffer's end). Give buffers whole cache lines; align `dma_cache_sync` ranges.
    pub static SYNC_UNALIGNED = {
        id: "sync-unaligned",
        summary: "a partial sync whose cache lines reach bytes outside the mapping (or an unaligned dma_cache_sync)",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part II, observe the cache alignment and width for partial syncs and dma_cache_sync); Linux 6.12 kernel/dma/direct.h (dma_direct_sync_single_for_cpu() passes the unrounded range to arch_sync_dma_for_cpu()) and arch/arm64/mm/cache.S (dcache_inval_poc rounds to lines and cleans the partial lines at its ends)",
        kernel: None,
    };
}

/// The attrs that exempt a new mapping from the overlap rule.
pub(crate) fn exempt(attrs: DmaAttrs) -> bool {
    attrs.intersects(DmaAttrs::SKIP_CPU_SYNC | DmaAttrs::CPU_CACHE_CLEAN)
}

/// A new mapping shares cache lines with `others`.
#[inline]
pub(crate) fn check_overlap(ev: &Event, others: &[LineHolder], line_size: u64, out: &mut Findings) {
    if !others.is_empty() && !exempt(ev.attrs) {
        lines_shared(ev, others, line_size, out);
    }
}

/// The findings of [`check_overlap`], out of the calls' line (most mappings share no line).
#[cold]
#[inline(never)]
fn lines_shared(ev: &Event, others: &[LineHolder], line_size: u64, out: &mut Findings) {
    for other in others {
        out.push(
            Finding::new(
                &CACHELINE_OVERLAP,
                format!("shares a {line_size}-byte cache line with another live mapping the device may write"),
            )
            .with("dma_addr", Value::Addr(ev.dma_addr))
            .with("size", Value::Num(ev.size))
            .with("other_dma_addr", Value::Addr(other.dma_addr))
            .mapped_at(&other.site, other.mapped_by),
        );
    }
}

/// Judge a sync that covers part of a mapping against the cache lines it touches.
pub(crate) fn check_partial_sync(ev: &Event, e: &Entry, line: u64, out: &mut Findings) {
    let start = ev.dma_addr.saturating_add(ev.offset);
    let end = start.saturating_add(ev.size);
    let mapped_end = e.dma_addr.saturating_add(e.size);
    // Out of range is reported as such (one problem at a time); an empty sync touches no line.
    // (A sync is judged against the mapping containing its start.)
    let Some(offset) = start.checked_sub(e.dma_addr) else {
        return;
    };
    if end > mapped_end || ev.size == 0 {
        return;
    }
    let finding = if ev.call == "dma_cache_sync" {
        unaligned_cache_sync(offset, offset + ev.size, e.size, line)
    } else {
        lines_outside_the_mapping(start, end, e.dma_addr, mapped_end, line)
    };
    if let Some(f) = finding {
        out.push(
            f.with("dma_addr", Value::Addr(ev.dma_addr))
                .with("offset", Value::Num(ev.offset))
                .with("size", Value::Num(ev.size))
                .mapped_at(&e.site, e.mapped_by()),
        );
    }
}

/// `dma_cache_sync` of `start..end` (offsets into a buffer of `size` bytes): the driver's own
/// cache maintenance, which must cover whole lines.
fn unaligned_cache_sync(start: u64, end: u64, size: u64, line: u64) -> Option<Finding> {
    let misaligned = start % line != 0 || (end % line != 0 && end < size);
    misaligned.then(|| {
        Finding::new(
            &SYNC_UNALIGNED,
            format!("range {start}..{end} of the buffer is not aligned to {line}-byte cache lines"),
        )
    })
}

/// A streaming sync of `start..end` (DMA addresses) widened to whole lines: the bytes of
/// those lines before `mapped_start` or from `mapped_end` on are not the mapping's, where the
/// range's edge is not the mapping's.
fn lines_outside_the_mapping(
    start: u64,
    end: u64,
    mapped_start: u64,
    mapped_end: u64,
    line: u64,
) -> Option<Finding> {
    let first = start - start % line;
    let last = end.div_ceil(line).saturating_mul(line);
    // An edge of the range that is the mapping's own edge touches only lines the map and every
    // whole sync touch too: where the mapping lies is `cacheline-overlap`'s concern.
    let before = if start > mapped_start {
        mapped_start.saturating_sub(first)
    } else {
        0
    };
    let after = if end < mapped_end {
        last.saturating_sub(mapped_end)
    } else {
        0
    };
    if before == 0 && after == 0 {
        return None;
    }
    let sides: Vec<String> = [(before, "before"), (after, "after")]
        .into_iter()
        .filter(|&(n, _)| n > 0)
        .map(|(n, side)| format!("{n} byte(s) {side}"))
        .collect();
    Some(Finding::new(
        &SYNC_UNALIGNED,
        format!(
            "the {line}-byte cache lines of the synced range reach {} the mapping, which cache \
             maintenance writes back or discards with it",
            sides.join(" and ")
        ),
    ))
}
