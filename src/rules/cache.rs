//! CPU caches: mappings the device may write must not share cache lines.

use super::declare_rules;
use crate::event::Event;
use crate::rules::{Finding, Findings, Value};
use crate::tracker::LineHolder;
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

    /// A partial sync (`dma_sync_single_range_*`, `dma_cache_sync`) whose start is not a
    /// multiple of `dma_get_cache_alignment()`, or whose end is not one and is not the end of
    /// the mapping. Cache maintenance works on whole lines, so the bytes beside the range
    /// are written back or discarded with it. Align partial syncs to cache lines.
    pub static SYNC_UNALIGNED = {
        id: "sync-unaligned",
        summary: "a partial sync not aligned to the cache line size",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part II, observe the cache alignment and width for partial syncs and dma_cache_sync)",
        kernel: None,
    };
}

/// The attrs that exempt a new mapping from the overlap rule.
pub(crate) fn exempt(attrs: DmaAttrs) -> bool {
    attrs.intersects(DmaAttrs::SKIP_CPU_SYNC | DmaAttrs::CPU_CACHE_CLEAN)
}

/// A new mapping shares cache lines with `others`.
pub(crate) fn check_overlap(ev: &Event, others: &[LineHolder], line_size: u64, out: &mut Findings) {
    if exempt(ev.attrs) {
        return;
    }
    for other in others {
        out.push(
            Finding::new(
                &CACHELINE_OVERLAP,
                format!("shares a {line_size}-byte cache line with another live mapping the device may write"),
            )
            .with("dma_addr", Value::Addr(ev.dma_addr))
            .with("size", Value::Num(ev.size))
            .with("other_dma_addr", Value::Addr(other.dma_addr))
            .mapped_at(&other.site, other.kind.map_call()),
        );
    }
}

/// The calls that sync part of a mapping on purpose.
fn is_partial_call(call: &str) -> bool {
    call.contains("_range_") || call == "dma_cache_sync"
}

/// A partial sync must cover whole cache lines (except where it ends at the mapping's end).
pub(crate) fn check_partial_sync(
    ev: &crate::event::Event,
    e: &crate::tracker::Entry,
    line: u64,
    out: &mut Findings,
) {
    if !is_partial_call(ev.call) {
        return;
    }
    let start = ev
        .dma_addr
        .saturating_add(ev.offset)
        .saturating_sub(e.dma_addr);
    let end = start.saturating_add(ev.size);
    let whole = start == 0 && end >= e.size;
    if end > e.size {
        return; // Out of range: reported as such, one problem at a time.
    }
    let misaligned = start % line != 0 || (end % line != 0 && end < e.size);
    if !whole && misaligned {
        out.push(
            Finding::new(
                &SYNC_UNALIGNED,
                format!(
                    "range {start}..{end} of the mapping is not aligned to {line}-byte cache lines"
                ),
            )
            .with("dma_addr", Value::Addr(ev.dma_addr))
            .with("offset", Value::Num(ev.offset))
            .with("size", Value::Num(ev.size))
            .mapped_at(&e.site, e.kind.map_call()),
        );
    }
}
