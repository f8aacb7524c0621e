//! The heap behind streaming mappings: memory must stay allocated while a mapping of it lives.

use super::declare_rules;
use crate::event::Event;
use crate::rules::{Finding, Value};
use crate::state::freed::FreedMapping;
use crate::tracker::Entry;
use crate::types::MapKind;

declare_rules! {
    family: "heap";

    /// `kfree`, `free_pages` or `__free_pages` freed memory that a live streaming mapping
    /// (`dma_map_single`, `dma_map_page`) still covers. The device may
    /// still read or write it, and the allocator hands it to its next owner: unmap first, then
    /// free. The report names the mapping; the device's later accesses to the freed bytes are
    /// reported too (`device-access-freed`). (A `vfree` cannot free mapped memory here: dmacheck
    /// refuses to map `vmalloc` memory. Scatter-gather segments are not matched: a segment
    /// records no CPU address, as an IOMMU may merge several pages into it.)
    pub static FREE_WHILE_MAPPED = {
        id: "free-while-mapped",
        summary: "memory freed while a streaming mapping of it is live",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, the memory belongs to the device from the map until the unmap)",
        kernel: None,
    };

    /// The device read or wrote bytes of a mapping whose memory the driver had already freed
    /// (reported as `free-while-mapped`). The mapping still exists, so an IOMMU lets the access
    /// through: a write corrupts the memory's next owner, a read leaks its data.
    pub static DEVICE_ACCESS_FREED = {
        id: "device-access-freed",
        summary: "device access to a mapping whose memory was freed",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, the memory belongs to the device from the map until the unmap)",
        kernel: None,
    };
}

/// `ev` (a free of CPU bytes) frees memory the live entry `m` covers (the tracker found `m`
/// among the freed bytes): a finding if `m` is a streaming mapping.
pub(crate) fn check_free(ev: &Event, m: &Entry) -> Option<Finding> {
    let freed_at = ev.cpu_addr?;
    if !matches!(m.kind, MapKind::Single | MapKind::Page) {
        return None;
    }
    Some(
        Finding::new(
            &FREE_WHILE_MAPPED,
            format!(
                "{} frees memory still mapped by {} ({} bytes, {}); unmap it first",
                ev.call,
                m.mapped_by(),
                m.size,
                m.dir
            ),
        )
        .with("cpu_addr", Value::Addr(freed_at))
        .with("size", Value::Num(ev.size))
        .with("mapped_dma_addr", Value::Addr(m.dma_addr))
        .with("mapped_size", Value::Num(m.size))
        .mapped_at(&m.site, m.mapped_by()),
    )
}

/// The device accessed (`ev`) the mapping of `freed`, whose memory was freed.
pub(crate) fn check_device_access(ev: &Event, freed: &FreedMapping) -> Finding {
    Finding::new(
        &DEVICE_ACCESS_FREED,
        format!(
            "the device accessed a mapping whose memory {} freed",
            freed.freed_by
        ),
    )
    .with("dma_addr", Value::Addr(ev.dma_addr))
    .with("size", Value::Num(ev.size))
    .mapped_at(&freed.mapped_at, freed.mapped_by)
    .related("freed at", &freed.freed_at)
}
