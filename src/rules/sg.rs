//! Scatter-gather lists: mapped once, walked for the returned count, unmapped and synced with
//! the entry count passed to the map, with segments the device can take.

use super::declare_rules;
use crate::event::Event;
use crate::rules::{Finding, Findings, Value};
use crate::site::Site;
use crate::tracker::Entry;
use crate::types::DeviceParams;
use crate::types::{DmaAddr, MapKind, SgState};

declare_rules! {
    family: "sg";

    /// The list handed to `dma_map_sg` cannot be mapped: `nents` is 0 or larger than the list,
    /// or one of the first `nents` entries has no buffer or a length of 0. The map returns 0.
    pub static SG_INVALID_LIST = {
        id: "sg-invalid-list",
        summary: "dma_map_sg of an empty, short or incompletely filled list",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, dma_map_sg maps the nents entries of the list)",
        kernel: None,
    };

    /// The list is already mapped. A list is mapped once and unmapped before it is mapped
    /// again; the map call may rewrite its DMA fields. The second map is refused (returns 0).
    pub static SG_MAP_MAPPED = {
        id: "sg-map-mapped",
        summary: "dma_map_sg of a list that is already mapped",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, an sg list cannot be mapped again once mapped)",
        kernel: None,
    };

    /// A DMA segment is longer than the device's maximum segment size
    /// (`dma_get_max_seg_size`). Build the list from entries no longer than that; an IOMMU never
    /// merges past it.
    pub static SG_SEGMENT_TOO_LONG = {
        id: "sg-segment-too-long",
        summary: "an sg DMA segment longer than the device's maximum segment size",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, segments may be merged; the device's segment limits bound them)",
        kernel: Some("check_sg_segment(): \"mapping sg segment longer than device claims to support\""),
    };

    /// A DMA segment crosses the device's segment boundary (`dma_get_seg_boundary`): its first
    /// and last bytes differ in the bits above the boundary mask. Such a device cannot transfer
    /// it in one descriptor.
    pub static SG_SEGMENT_CROSSES_BOUNDARY = {
        id: "sg-segment-crosses-boundary",
        summary: "an sg DMA segment crosses the device's segment boundary",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, segments may be merged; the device's segment limits bound them)",
        kernel: Some("check_sg_segment(): \"mapping sg segment across boundary\""),
    };

    /// `dma_unmap_sg` was given another entry count than `dma_map_sg`. It must be the `nents`
    /// passed to the map, not the count the map returned. The whole mapping is released.
    pub static SG_UNMAP_NENTS_MISMATCH = {
        id: "sg-unmap-nents-mismatch",
        summary: "dma_unmap_sg with another entry count than passed to dma_map_sg",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, nents must be the number passed in, not the number returned)",
        kernel: Some("check_unmap(): \"device driver frees DMA sg list with different entry count\""),
    };

    /// `dma_sync_sg_*` was given another entry count than `dma_map_sg`. Like the unmap, a sync
    /// names the list with the `nents` it was mapped with.
    pub static SG_SYNC_NENTS_MISMATCH = {
        id: "sg-sync-nents-mismatch",
        summary: "dma_sync_sg_* with another entry count than passed to dma_map_sg",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, a sync's parameters are those of the mapping)",
        kernel: Some("check_sync(): \"device driver syncs DMA sg list with different entry count\""),
    };

    /// `dma_unmap_sg` of a list whose `dma_map_sg` failed (returned 0). Nothing was mapped;
    /// test the count and skip the unmap.
    pub static SG_UNMAP_FAILED_MAP = {
        id: "sg-unmap-failed-map",
        summary: "dma_unmap_sg of a list whose map returned 0",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, dma_map_sg returns 0 on failure and the driver must act on it)",
        kernel: None,
    };

    /// `sg_dma_address` or `sg_dma_len` read for an entry at or beyond the count `dma_map_sg`
    /// returned, or after the unmap. Only the first `count` entries carry DMA segments; loop
    /// `count` times, not `nents` times. From C, also for NULL and for an entry of a list that
    /// was never mapped (reported on no device): neither has a DMA side.
    pub static SG_DMA_BEYOND_COUNT = {
        id: "sg-dma-beyond-count",
        summary: "sg_dma_address/sg_dma_len of an entry past the mapped count",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, loop count times, which can be fewer than nents)",
        kernel: None,
    };
}

/// A map of a list that is mapped already is refused; reports it.
pub(crate) fn check_not_mapped(state: &SgState, nents: usize, out: &mut Findings) -> bool {
    let SgState::Mapped {
        nents: mapped,
        count,
        ..
    } = *state
    else {
        return true;
    };
    out.push(
        Finding::new(&SG_MAP_MAPPED, "the list is already mapped")
            .with("nents", Value::Num(nents as u64))
            .with("mapped_nents", Value::Num(mapped as u64))
            .with("mapped_count", Value::Num(count as u64)),
    );
    false
}

/// The first `nents` of the list's `entries` can be mapped (`filled`: each has a buffer and a
/// length); reports it otherwise.
pub(crate) fn check_list(nents: usize, entries: usize, filled: bool, out: &mut Findings) -> bool {
    if nents != 0 && nents <= entries && filled {
        return true;
    }
    out.push(
        Finding::new(
            &SG_INVALID_LIST,
            "nents is 0, beyond the list, or names an empty entry",
        )
        .with("nents", Value::Num(nents as u64))
        .with("entries", Value::Num(entries as u64)),
    );
    false
}

/// A list from C that cannot be walked (`problem`), or a negative `nents`.
#[cfg_attr(loom, allow(dead_code))] // only the C ABI, which loom builds leave out, calls it
pub(crate) fn invalid_list(problem: impl Into<String>, nents: Value) -> Finding {
    Finding::new(&SG_INVALID_LIST, problem).with("nents", nents)
}

/// An unmap of a list whose last map returned 0.
pub(crate) fn unmap_failed_map() -> Finding {
    Finding::new(&SG_UNMAP_FAILED_MAP, "dma_map_sg returned 0 for this list")
}

/// The same in a trace: the list's map failed at `failed_at` (a `dma_map_sg_err` line).
pub(crate) fn unmap_failed_map_in_trace(nents: u32, failed_at: &Site) -> Finding {
    Finding::new(
        &SG_UNMAP_FAILED_MAP,
        "dma_map_sg of this list failed (dma_map_sg_err)",
    )
    .with("nents", Value::Num(u64::from(nents)))
    .mapped_at(failed_at, "dma_map_sg")
}

/// An unmap (`unmap`) or sync from C with a negative entry count, of a list mapped with
/// `mapped` entries.
#[cfg_attr(loom, allow(dead_code))] // only the C ABI, which loom builds leave out, calls it
pub(crate) fn negative_nents(unmap: bool, nents: i32, mapped: usize) -> Finding {
    let rule = if unmap {
        &SG_UNMAP_NENTS_MISMATCH
    } else {
        &SG_SYNC_NENTS_MISMATCH
    };
    Finding::new(
        rule,
        format!("entry count {nents} differs from the {mapped} passed to dma_map_sg"),
    )
}

/// A read of entry `index`'s DMA fields is allowed by the state of its list; reports it
/// otherwise.
pub(crate) fn check_dma_read(state: &SgState, index: usize) -> Option<Finding> {
    let problem = match *state {
        SgState::Mapped { count, .. } if index >= count => {
            format!("entry {index} read, but dma_map_sg returned {count}")
        }
        SgState::Mapped { .. } | SgState::Unmapped => return None,
        SgState::Failed => format!("entry {index} read after dma_map_sg failed"),
        SgState::Released { .. } => format!("entry {index} read after dma_unmap_sg"),
    };
    Some(Finding::new(&SG_DMA_BEYOND_COUNT, problem).with("index", Value::Num(index as u64)))
}

/// A read from C of the DMA fields of an entry of no list dmacheck mapped (`what` names the
/// accessor; `sg` is the entry's address, 0 for NULL).
#[cfg_attr(loom, allow(dead_code))] // only the C ABI, which loom builds leave out, calls it
pub(crate) fn dma_read_of_no_list(what: &str, sg: u64) -> Finding {
    let problem = if sg == 0 {
        format!("{what}(NULL): there is no entry")
    } else {
        format!("{what} of an entry of a list that was never mapped")
    };
    Finding::new(&SG_DMA_BEYOND_COUNT, problem).with("sg", Value::Addr(sg))
}

/// Check the DMA segments a map produced against the device's limits.
pub(crate) fn check_segments(dev: &DeviceParams, segs: &[(DmaAddr, u64)], out: &mut Findings) {
    for (i, &(start, len)) in segs.iter().enumerate() {
        if len > dev.max_segment_size {
            out.push(
                Finding::new(
                    &SG_SEGMENT_TOO_LONG,
                    format!("segment {i} exceeds the device's maximum"),
                )
                .with("dma_addr", Value::Addr(start))
                .with("size", Value::Num(len))
                .with("max_segment_size", Value::Num(dev.max_segment_size)),
            );
        }
        let last = start.saturating_add(len.max(1) - 1);
        if (start & !dev.segment_boundary_mask) != (last & !dev.segment_boundary_mask) {
            out.push(
                Finding::new(
                    &SG_SEGMENT_CROSSES_BOUNDARY,
                    format!("segment {i} crosses a boundary"),
                )
                .with("dma_addr", Value::Addr(start))
                .with("size", Value::Num(len))
                .with("boundary_mask", Value::Addr(dev.segment_boundary_mask)),
            );
        }
    }
}

/// Compare the entry count of an sg unmap or sync with the map's.
#[inline]
pub(crate) fn check_nents(ev: &Event, e: &Entry, out: &mut Findings) {
    // A count of 0 is a count (and unmaps nothing in Linux); only an unknown one is skipped.
    if let Some(nents) = ev
        .nents
        .filter(|&n| ev.kind == MapKind::Sg && e.kind == MapKind::Sg && n != e.sg_nents)
    {
        nents_mismatch(ev, e, nents, out);
    }
}

/// The finding of [`check_nents`], out of the calls' line.
#[cold]
#[inline(never)]
fn nents_mismatch(ev: &Event, e: &Entry, nents: u32, out: &mut Findings) {
    let rule = if ev.op == crate::event::Op::Unmap {
        &SG_UNMAP_NENTS_MISMATCH
    } else {
        &SG_SYNC_NENTS_MISMATCH
    };
    let message = if nents == e.sg_mapped_ents {
        format!(
            "passed the count dma_map_sg returned ({}) instead of the nents passed to it ({})",
            e.sg_mapped_ents, e.sg_nents
        )
    } else {
        format!(
            "entry count {nents} differs from the {} passed to dma_map_sg",
            e.sg_nents
        )
    };
    out.push(
        Finding::new(rule, message)
            .with("nents", Value::Num(u64::from(nents)))
            .with("mapped_nents", Value::Num(u64::from(e.sg_nents)))
            .with("mapped_count", Value::Num(u64::from(e.sg_mapped_ents)))
            .mapped_at(&e.site, e.mapped_by()),
    );
}

/// Keep the first finding of each rule: one sg call can trip the same rule on every segment.
pub(crate) fn dedupe(out: &mut Findings) {
    let mut seen: Vec<&'static str> = Vec::new();
    out.retain(|f| {
        let first = !seen.contains(&f.rule.id);
        seen.push(f.rule.id);
        first
    });
}
