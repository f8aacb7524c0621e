//! Ownership hand-offs: `dma_sync_*` must name a live mapping, stay inside it, and move data
//! the way the mapping allows.

use super::declare_rules;
use crate::event::{Event, Op};
use crate::rules::{Finding, Findings, Value};
use crate::tracker::{Entry, Tombstone};
use crate::types::{DMA_MAPPING_ERROR, Direction, MapKind};

declare_rules! {
    family: "sync";

    /// The address given to a sync is not inside any mapping of this device: never mapped,
    /// already unmapped (the report then names the unmap), or the mapping-error value. Nothing
    /// is synced.
    pub static SYNC_UNKNOWN = {
        id: "sync-unknown",
        summary: "sync of an address not inside a live mapping of this device",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, a sync names a mapping made by the map API)",
        kernel: Some("check_sync(): \"device driver tries to sync DMA memory it has not allocated\""),
    };

    /// The synced range starts inside a mapping but runs past its end. Only the mapping's own
    /// bytes belong to this hand-off; the rest may be another buffer. (The kernel compares only
    /// the sizes, so a range sync with an offset escapes it; dmacheck compares the ends.)
    pub static SYNC_OUT_OF_RANGE = {
        id: "sync-out-of-range",
        summary: "sync range reaches past the end of the mapping",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part II, dma_sync_single_range: a partial sync within the mapping)",
        kernel: Some("check_sync(): \"device driver syncs DMA memory outside allocated range\""),
    };

    /// The sync's direction differs from the mapping's. A `DMA_TO_DEVICE` mapping is read-only
    /// for the device and a `DMA_FROM_DEVICE` one is write-only; syncing them the other way
    /// moves stale data over good data on non-coherent hardware. Sync with the mapping's own
    /// direction; any direction is accepted for a `DMA_BIDIRECTIONAL` mapping.
    pub static SYNC_DIRECTION_MISMATCH = {
        id: "sync-direction-mismatch",
        summary: "sync with a different direction than mapped",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, directions and when each sync is due)",
        kernel: Some("check_sync(): \"syncs DMA memory with different direction\" / \"device read-only DMA memory for cpu\" / \"device write-only DMA memory to device\""),
    };
}

/// How well a mapping containing a sync's handle matches the sync, to choose among several.
pub(crate) fn match_rank(ev: &Event, e: &Entry) -> u32 {
    let fits = ev
        .dma_range()
        .is_some_and(|r| r.end <= e.dma_addr.saturating_add(e.size));
    u32::from(e.dma_addr == ev.dma_addr) * 16
        + u32::from(fits) * 8
        + u32::from(ev.nents.is_some_and(|n| n == e.sg_nents)) * 4
        + u32::from(e.dir == ev.dir) * 2
        + u32::from(e.size == ev.size)
}

/// Judge a sync against the mapping that contains its handle.
pub(crate) fn check_sync(ev: &Event, e: &Entry, out: &mut Findings) {
    let mapped = |f: Finding| f.mapped_at(&e.site, e.mapped_by());
    let entry_end = e.dma_addr.saturating_add(e.size);
    if ev.dma_range().is_none_or(|r| r.end > entry_end) {
        let f = Finding::new(&SYNC_OUT_OF_RANGE, "sync runs past the end of the mapping");
        out.push(mapped(
            at(ev, f)
                .with("size", Value::Num(ev.size))
                .with("mapped_dma_addr", Value::Addr(e.dma_addr))
                .with("mapped_size", Value::Num(e.size)),
        ));
    }
    crate::rules::sg::check_nents(ev, e, out);
    crate::rules::cache::check_partial_sync(ev, e, crate::DMA_CACHE_ALIGNMENT as u64, out);
    if e.kind == MapKind::Coherent || e.dir == Direction::Bidirectional || ev.dir == e.dir {
        return;
    }
    let message = match (ev.op, e.dir) {
        (Op::SyncForCpu, Direction::ToDevice) => {
            format!(
                "device-read-only (TO_DEVICE) mapping synced for the CPU with {}",
                ev.dir
            )
        }
        (Op::SyncForDevice, Direction::FromDevice) => {
            format!(
                "device-write-only (FROM_DEVICE) mapping synced for the device with {}",
                ev.dir
            )
        }
        _ => format!("synced with {}, mapped with {}", ev.dir, e.dir),
    };
    out.push(mapped(
        at(ev, Finding::new(&SYNC_DIRECTION_MISMATCH, message))
            .with("dir", Value::Dir(ev.dir))
            .with("mapped_dir", Value::Dir(e.dir)),
    ));
}

/// A sync that found no mapping of its device.
pub(crate) fn check_missing(ev: &Event, tomb: Option<&Tombstone>, out: &mut Findings) {
    let f = if ev.dma_addr == DMA_MAPPING_ERROR {
        Finding::new(&SYNC_UNKNOWN, "sync of the address a failed map returned")
    } else if let Some(t) = tomb {
        Finding::new(
            &SYNC_UNKNOWN,
            format!("sync after the mapping was released by {}", t.released_by),
        )
        .mapped_at(&t.mapped_at, t.mapped_by)
        .related("released at", &t.released_at)
    } else {
        Finding::new(
            &SYNC_UNKNOWN,
            "no mapping of this device contains the address",
        )
    };
    out.push(at(ev, f).with("size", Value::Num(ev.size)));
}

/// The address fields of a sync: its handle, and the offset of a range sync.
pub(crate) fn at(ev: &Event, f: Finding) -> Finding {
    let f = f.with("dma_addr", Value::Addr(ev.dma_addr));
    if ev.offset == 0 {
        f
    } else {
        f.with("offset", Value::Num(ev.offset))
    }
}

/// A sync of an sg list that is not mapped.
pub(crate) fn sync_unknown_list() -> Finding {
    Finding::new(&SYNC_UNKNOWN, "the list is not mapped")
}

/// A `dma_cache_sync` of `size` bytes at `cpu_addr`, which no `dma_alloc_noncoherent` buffer of
/// the device holds.
pub(crate) fn cache_sync_unknown(cpu_addr: u64, size: u64) -> Finding {
    Finding::new(
        &SYNC_UNKNOWN,
        "dma_cache_sync of memory not from dma_alloc_noncoherent of this device",
    )
    .with("cpu_addr", Value::Addr(cpu_addr))
    .with("size", Value::Num(size))
}
