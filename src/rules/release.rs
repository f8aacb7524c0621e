//! Ending a mapping or allocation: the release must match what was mapped.

use super::declare_rules;
use crate::event::Event;
use crate::rules::{Finding, Findings, Value};
use crate::site::Site;
use crate::tracker::{Entry, Tombstone};
use crate::types::{DMA_MAPPING_ERROR, DeviceId, DmaAttrs, MapKind, SgState};

declare_rules! {
    family: "release";

    /// The address given to an unmap or free was never mapped on this device (and no recent
    /// release of it is remembered). The driver passes a wrong or corrupted handle, or one that
    /// belongs to another buffer. Nothing is released.
    pub static UNMAP_UNKNOWN = {
        id: "unmap-unknown",
        summary: "unmap or free of an address not mapped on this device",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, dma_unmap_single: parameters identical to those of the map)",
        kernel: Some("check_unmap(): \"device driver tries to free DMA memory it has not allocated\""),
    };

    /// The driver unmaps the value a failed map returned. A failed mapping has nothing to
    /// unmap: test every map with `dma_mapping_error` and skip the unmap on failure.
    pub static UNMAP_MAPPING_ERROR = {
        id: "unmap-mapping-error",
        summary: "unmap or free of the DMA_MAPPING_ERROR value",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, dma_mapping_error: a failed map creates no mapping)",
        kernel: Some("check_unmap(): \"device driver tries to free an invalid DMA memory address\""),
    };

    /// The address is mapped, but for another device. Unmap, free and sync must name the
    /// device the mapping was made for. Nothing is released or synced.
    pub static WRONG_DEVICE = {
        id: "wrong-device",
        summary: "unmap, free or sync names a different device than the mapping's",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Parts Ia and Id, dev must be the same as in the allocate or map)",
        kernel: None,
    };

    /// The size given to the release differs from the size mapped. The DMA API requires the
    /// parameters of an unmap or free to be those of the map; on an IOMMU a wrong size unmaps
    /// too little (a leak) or too much (another mapping). The mapping is released as mapped.
    pub static UNMAP_SIZE_MISMATCH = {
        id: "unmap-size-mismatch",
        summary: "unmap or free with a different size than mapped",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Parts Ia and Id, size must be the same as in the allocate or map)",
        kernel: Some("check_unmap(): \"device driver frees DMA memory with different size\""),
    };

    /// The direction given to the unmap differs from the one mapped. On non-coherent hardware
    /// the unmap's cache maintenance follows its direction, so received data can be lost.
    pub static UNMAP_DIRECTION_MISMATCH = {
        id: "unmap-direction-mismatch",
        summary: "unmap with a different direction than mapped",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, dma_unmap_single: parameters identical to those of the map)",
        kernel: Some("check_unmap(): \"device driver frees DMA memory with different direction\""),
    };

    /// The release call belongs to another family than the map: a single mapping unmapped with
    /// `dma_unmap_page`, coherent memory released with an unmap, a streaming mapping freed with
    /// `dma_free_coherent`. Each family must be ended by its own call. The entry is released as
    /// its own family requires.
    pub static UNMAP_FUNCTION_MISMATCH = {
        id: "unmap-function-mismatch",
        summary: "unmap or free with the wrong function for the kind of mapping",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, each map call has its own unmap call)",
        kernel: Some("check_unmap(): \"device driver frees DMA memory with wrong function\""),
    };

    /// `dma_free_coherent` names a CPU address other than the one `dma_alloc_coherent`
    /// returned for that handle. The memory is freed as allocated.
    pub static FREE_CPU_ADDRESS_MISMATCH = {
        id: "free-cpu-address-mismatch",
        summary: "coherent free with a different CPU address than allocated",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ia, cpu_addr must be the address returned by the allocate)",
        kernel: Some("check_unmap(): \"device driver frees DMA memory with different CPU address\""),
    };

    /// The mapping was already released, by the call named in the report. A second release
    /// can tear down a mapping that now belongs to someone else.
    pub static DOUBLE_UNMAP = {
        id: "double-unmap",
        summary: "unmap or free of a mapping already released",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, unmap ends a mapping previously made)",
        kernel: None,
    };

    /// A streaming mapping was unmapped without `dma_mapping_error` ever having been called on
    /// its address. A map can fail; a driver that never tests it hands the device an invalid
    /// address. (Scatter-gather and coherent calls report failure by 0 and NULL, so this rule
    /// does not apply to them.)
    pub static UNMAP_UNCHECKED = {
        id: "unmap-unchecked",
        summary: "a single or page mapping never tested with dma_mapping_error",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, test the returned address with dma_mapping_error)",
        kernel: Some("check_unmap(): \"device driver failed to check map error\""),
    };

    /// The release names other attributes than the map for an attribute whose mismatch
    /// matters. Streaming mappings: `DMA_ATTR_SKIP_CPU_SYNC` (an unmap that skips cache
    /// maintenance its map did not, or the reverse, loses or exposes stale data on non-coherent
    /// hardware) and `DMA_ATTR_MMIO` (memory versus device registers). Coherent memory:
    /// `DMA_ATTR_NO_KERNEL_MAPPING`, `DMA_ATTR_WRITE_COMBINE`, `DMA_ATTR_FORCE_CONTIGUOUS` and
    /// `DMA_ATTR_ALLOC_SINGLE_PAGES`, which choose how the memory was allocated and mapped, so
    /// the free must name them to undo exactly that. Other attributes (ordering hints,
    /// `DMA_ATTR_NO_WARN`) may differ.
    pub static UNMAP_ATTRS_MISMATCH = {
        id: "unmap-attrs-mismatch",
        summary: "unmap or free with attrs that differ from the map's where it matters",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, the _attrs calls; an unmap's parameters are those of its map)",
        kernel: None,
    };

    /// Coherent memory was freed with interrupts disabled. On some platforms freeing it unmaps
    /// pages and may sleep; move the free out of the IRQs-off region.
    pub static FREE_COHERENT_IRQS_DISABLED = {
        id: "free-coherent-irqs-disabled",
        summary: "dma_free_coherent called with IRQs disabled",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ia, the free routines may only be called with IRQs enabled); Linux 2.6.24, commit aa24886e37 \"dma_free_coherent() needs irqs enabled (sigh)\" (the change that made it part of the API)",
        kernel: Some("WARN_ON(irqs_disabled()) in dma_free_attrs()"),
    };
}

/// How well an entry matches a release, to pick among entries at the same address.
pub(crate) fn match_rank(ev: &Event, e: &Entry) -> u32 {
    u32::from(e.kind == ev.kind) * 8
        + u32::from(ev.nents.is_some_and(|n| n == e.sg_nents)) * 4
        + u32::from(e.size == ev.size) * 2
        + u32::from(e.dir == ev.dir)
}

/// Rules of the release call itself, whatever it releases.
#[inline]
pub(crate) fn check_release_context(ev: &Event, out: &mut Findings) {
    if ev.kind == MapKind::Coherent && ev.context.irqs_disabled {
        coherent_freed_irqs_disabled(ev, out);
    }
}

/// The finding of [`check_release_context`], out of the calls' line.
#[cold]
#[inline(never)]
fn coherent_freed_irqs_disabled(ev: &Event, out: &mut Findings) {
    out.push(
        Finding::new(
            &FREE_COHERENT_IRQS_DISABLED,
            "coherent memory freed with IRQs disabled",
        )
        .with("dma_addr", Value::Addr(ev.dma_addr))
        .with("size", Value::Num(ev.size)),
    );
}

/// A release of the mapping-error value; reports it and returns true.
#[inline]
pub(crate) fn check_mapping_error_release(ev: &Event, out: &mut Findings) -> bool {
    if ev.dma_addr != DMA_MAPPING_ERROR {
        return false;
    }
    mapping_error_released(ev, out);
    true
}

/// The finding of [`check_mapping_error_release`], out of the calls' line.
#[cold]
#[inline(never)]
fn mapping_error_released(ev: &Event, out: &mut Findings) {
    out.push(
        Finding::new(
            &UNMAP_MAPPING_ERROR,
            "release of the address a failed map returned",
        )
        .with("dma_addr", Value::Addr(ev.dma_addr))
        .with("size", Value::Num(ev.size)),
    );
}

/// Compare a release with the entry it ends. `unchecked_reported`: whether `unmap-unchecked`
/// is reported at all (a trace replay allows it on every unmap; its message is not built then).
#[inline]
pub(crate) fn check_release(ev: &Event, e: &Entry, unchecked_reported: bool, out: &mut Findings) {
    // The usual release repeats its map exactly: then no rule below can fire (each needs a
    // field that differs, a CPU address or `nents` given, or the unchecked rule reported), and
    // the rules are not walked. Anything else is judged in full.
    let repeats_the_map = ev.kind == e.kind
        && ev.size == e.size
        && ev.dir == e.dir
        && ev.attrs == e.attrs
        && ev.cpu_addr.is_none()
        && ev.nents.is_none()
        && !unchecked_reported;
    if !repeats_the_map {
        judge_release(ev, e, unchecked_reported, out);
    }
}

/// [`check_release`] of a release that differs from its map in anything.
#[inline(never)]
fn judge_release(ev: &Event, e: &Entry, unchecked_reported: bool, out: &mut Findings) {
    let mapped = |f: Finding| f.mapped_at(&e.site, e.mapped_by());
    if ev.kind != e.kind {
        out.push(mapped(
            Finding::new(
                &UNMAP_FUNCTION_MISMATCH,
                format!(
                    "{} released with {} (use {})",
                    e.mapped_by(),
                    ev.call,
                    e.kind.release_call()
                ),
            )
            .with("dma_addr", Value::Addr(ev.dma_addr))
            .with("mapped_kind", Value::Kind(e.kind))
            .with("kind", Value::Kind(ev.kind)),
        ));
    }
    if ev.size != e.size {
        out.push(mapped(
            Finding::new(&UNMAP_SIZE_MISMATCH, "size differs from the mapping's")
                .with("dma_addr", Value::Addr(ev.dma_addr))
                .with("size", Value::Num(ev.size))
                .with("mapped_size", Value::Num(e.size)),
        ));
    }
    // Coherent memory has no direction of its own; the function mismatch already says enough.
    let streaming = ev.kind != MapKind::Coherent && e.kind != MapKind::Coherent;
    if streaming && ev.dir.is_valid() && ev.dir != e.dir {
        out.push(mapped(
            Finding::new(
                &UNMAP_DIRECTION_MISMATCH,
                "direction differs from the mapping's",
            )
            .with("dma_addr", Value::Addr(ev.dma_addr))
            .with("dir", Value::Dir(ev.dir))
            .with("mapped_dir", Value::Dir(e.dir)),
        ));
    }
    if let Some(cpu) = ev
        .cpu_addr
        .filter(|&c| e.kind == MapKind::Coherent && c != e.cpu_addr)
    {
        out.push(mapped(
            Finding::new(
                &FREE_CPU_ADDRESS_MISMATCH,
                "CPU address differs from the one allocated",
            )
            .with("dma_addr", Value::Addr(ev.dma_addr))
            .with("cpu_addr", Value::Addr(cpu))
            .with("mapped_cpu_addr", Value::Addr(e.cpu_addr)),
        ));
    }
    let relevant = if e.kind == MapKind::Coherent {
        DmaAttrs::NO_KERNEL_MAPPING
            | DmaAttrs::WRITE_COMBINE
            | DmaAttrs::FORCE_CONTIGUOUS
            | DmaAttrs::ALLOC_SINGLE_PAGES
    } else {
        DmaAttrs::SKIP_CPU_SYNC | DmaAttrs::MMIO
    };
    let differing = (ev.attrs ^ e.attrs) & relevant;
    if !differing.is_empty() && ev.kind == e.kind {
        out.push(mapped(
            Finding::new(
                &UNMAP_ATTRS_MISMATCH,
                format!("attrs differ from the map's in {differing:?}"),
            )
            .with("dma_addr", Value::Addr(ev.dma_addr))
            .with("attrs", Value::Addr(ev.attrs.bits()))
            .with("mapped_attrs", Value::Addr(e.attrs.bits())),
        ));
    }
    crate::rules::sg::check_nents(ev, e, out);
    if unchecked_reported && e.kind.fails_with_mapping_error() && !e.error_checked {
        out.push(mapped(
            Finding::new(
                &UNMAP_UNCHECKED,
                format!(
                    "{} result never tested with dma_mapping_error",
                    e.mapped_by()
                ),
            )
            .with("dma_addr", Value::Addr(e.dma_addr))
            .with("size", Value::Num(e.size)),
        ));
    }
}

/// A release that found no entry on its device: a double release, or an unknown address.
pub(crate) fn check_missing(ev: &Event, tomb: Option<&Tombstone>, out: &mut Findings) {
    let f = match tomb {
        Some(t) => Finding::new(
            &DOUBLE_UNMAP,
            format!("already released by {}", t.released_by),
        )
        .mapped_at(&t.mapped_at, t.mapped_by)
        .related("first released at", &t.released_at),
        None => Finding::new(&UNMAP_UNKNOWN, "no mapping at this address on this device"),
    };
    out.push(
        f.with("dma_addr", Value::Addr(ev.dma_addr))
            .with("size", Value::Num(ev.size)),
    );
}

/// The address belongs to another device's entry.
pub(crate) fn check_other_device(ev: &Event, e: &Entry, other_name: &str, out: &mut Findings) {
    let f = Finding::new(
        &WRONG_DEVICE,
        format!("the address is mapped for device {other_name}"),
    );
    out.push(
        crate::rules::sync::at(ev, f)
            .with("mapped_device", Value::Text(other_name.to_string()))
            .mapped_at(&e.site, e.mapped_by()),
    );
}

/// An unmap of an sg list that is not mapped (`why`: never, or not now).
pub(crate) fn unmap_unknown_list(why: &'static str) -> Finding {
    Finding::new(&UNMAP_UNKNOWN, why)
}

/// The same in a trace: no map of a list whose first entry is at `phys_addr`.
pub(crate) fn unmap_unknown_list_in_trace(phys_addr: u64, nents: u32) -> Finding {
    Finding::new(
        &UNMAP_UNKNOWN,
        "no dma_map_sg of this list (by its first entry's physical address) in the trace",
    )
    .with("phys_addr", Value::Addr(phys_addr))
    .with("nents", Value::Num(u64::from(nents)))
}

/// An sg call on `device` names a list mapped (or last mapped, `mapped_at`) for another device
/// (`owner`, named by `name_of`): reported, and nothing is done to either device's mappings.
pub(crate) fn check_list_device(
    state: &SgState,
    device: DeviceId,
    owner: Option<DeviceId>,
    name_of: impl FnOnce(DeviceId) -> std::sync::Arc<str>,
    mapped_at: Option<&Site>,
    out: &mut Findings,
) -> bool {
    let Some(owner) = owner.filter(|&owner| owner != device) else {
        return true;
    };
    if matches!(state, SgState::Unmapped | SgState::Failed) {
        return true;
    }
    let name = name_of(owner);
    let mut f = Finding::new(
        &WRONG_DEVICE,
        format!("the list is mapped for device {name}"),
    )
    .with("mapped_device", Value::Text(name.to_string()));
    if let Some(site) = mapped_at {
        f = f.mapped_at(site, "dma_map_sg");
    }
    out.push(f);
    false
}
