//! CPU caches: mappings the device may write must not share cache lines.

use super::declare_rules;
use crate::event::Event;
use crate::report::{Finding, Findings, Value};
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
        level: Warn,
        seed: "DMA-API-2008.txt lines 183-192 (Part Id, mapped regions must begin and end on cache line boundaries so two mappings never share a line)",
        kernel: Some("add_dma_entry(): \"cacheline tracking EEXIST, overlapping mappings aren't supported\""),
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
