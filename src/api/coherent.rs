//! Coherent memory: `dma_alloc_coherent` and `dma_free_coherent`, with their attrs forms.

use std::ptr::{self};

use crate::backend::MapError;
use crate::device::Device;
use crate::event::Op;
use crate::faults::FaultKind;
use crate::rules;
use crate::rules::Findings;
use crate::types::{DMA_MAPPING_ERROR, Direction, DmaAddr, DmaAttrs, Gfp, MapKind};

use super::{checking, event, injected_failure, release_with, unchecked, unmap_event};

/// Allocate `size` bytes of zeroed coherent memory (`dma_alloc_coherent`). Returns the CPU
/// address and stores the DMA address in `dma_handle`; NULL on failure.
///
/// ```
/// # use dmacheck::*;
/// # let checker = Checker::builder().env(false).build();
/// let dev = checker.device("eth0").build();
/// let mut ring_dma = 0;
/// let ring = dma_alloc_coherent(&dev, 4096, &mut ring_dma, Gfp::KERNEL);
/// assert!(!ring.is_null());
/// assert_ne!(ring_dma, ring as u64, "the device address is not the CPU pointer");
/// dma_free_coherent(&dev, 4096, ring, ring_dma);
/// checker.assert_clean();
/// ```
#[track_caller]
pub fn dma_alloc_coherent(
    dev: &Device,
    size: usize,
    dma_handle: &mut DmaAddr,
    gfp: Gfp,
) -> *mut u8 {
    dma_alloc_attrs(dev, size, dma_handle, gfp, DmaAttrs::empty())
}

/// [`dma_alloc_coherent`]; the memory is always zeroed, as in Linux since 5.0
/// (`dma_zalloc_coherent`).
#[track_caller]
pub fn dma_zalloc_coherent(
    dev: &Device,
    size: usize,
    dma_handle: &mut DmaAddr,
    gfp: Gfp,
) -> *mut u8 {
    dma_alloc_attrs(dev, size, dma_handle, gfp | Gfp::ZERO, DmaAttrs::empty())
}

/// [`dma_alloc_coherent`] with attributes (`dma_alloc_attrs`).
#[track_caller]
pub fn dma_alloc_attrs(
    dev: &Device,
    size: usize,
    dma_handle: &mut DmaAddr,
    gfp: Gfp,
    attrs: DmaAttrs,
) -> *mut u8 {
    if !checking(dev) {
        return unchecked::alloc(dev, size, dma_handle, gfp);
    }
    let mut ev = event(dev, Op::Map, "dma_alloc_coherent", MapKind::Coherent);
    (ev.size, ev.attrs) = (size as u64, attrs);
    *dma_handle = DMA_MAPPING_ERROR;
    let Some(admitted) = dev.admit_or_report(&ev) else {
        return ptr::null_mut();
    };
    let c = dev.checker().inner();
    let mut out = Findings::new();
    rules::context::check_alloc(&ev, gfp, &mut out);
    let mut cpu = ptr::null_mut();
    if !rules::map::check_alloc_size(size, &mut out) {
        // Refused: nothing is allocated.
    } else if let Ok((p, dma)) = injected_failure(dev, FaultKind::Alloc).and_then(|()| {
        // Declared coherent memory first, then (unless it is exclusive) the backend.
        match crate::declared::alloc(dev, size as u64) {
            crate::declared::Served::Region(p, dma) => Ok((p, dma)),
            crate::declared::Served::Refused => Err(MapError::OutOfMemory),
            crate::declared::Served::Elsewhere => {
                dev.backend()
                    .alloc_coherent(&dev.params(), size as u64, gfp)
            }
        }
    }) {
        (cpu, *dma_handle) = (p.as_ptr(), dma);
        (ev.dma_addr, ev.cpu_addr) = (dma, Some(p.as_ptr().addr() as u64));
        c.record_map(&ev, &mut out);
    }
    drop(admitted);
    c.finish(&ev, out);
    cpu
}

/// Free memory from [`dma_alloc_coherent`] (`dma_free_coherent`): the same size and handle,
/// and the CPU address it returned. Must be called with IRQs enabled. NULL does nothing.
#[track_caller]
pub fn dma_free_coherent(dev: &Device, size: usize, cpu_addr: *const u8, dma_handle: DmaAddr) {
    dma_free_attrs(dev, size, cpu_addr, dma_handle, DmaAttrs::empty());
}

/// [`dma_free_coherent`] with attributes (`dma_free_attrs`).
#[track_caller]
pub fn dma_free_attrs(
    dev: &Device,
    size: usize,
    cpu_addr: *const u8,
    dma_handle: DmaAddr,
    attrs: DmaAttrs,
) {
    free_attrs(
        dev,
        size,
        cpu_addr,
        dma_handle,
        attrs,
        "dma_free_coherent",
        FreeBy::Unmanaged,
    );
}

/// Which family of calls frees a coherent buffer (see `managed.rs`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FreeBy {
    /// `dma_free_coherent`, `dma_free_attrs`, `dma_free_wc`.
    Unmanaged,
    /// `dmam_free_coherent`.
    Managed,
    /// The device's release of its managed buffers.
    Devres,
}

#[track_caller]
pub(super) fn free_attrs(
    dev: &Device,
    size: usize,
    cpu_addr: *const u8,
    dma_handle: DmaAddr,
    attrs: DmaAttrs,
    call: &'static str,
    by: FreeBy,
) {
    if !checking(dev) {
        if !cpu_addr.is_null() {
            let _ = dev
                .backend()
                .free_coherent(&dev.params(), dma_handle, size as u64);
        }
        return;
    }
    let mut ev = unmap_event(
        dev,
        call,
        MapKind::Coherent,
        dma_handle,
        size,
        Direction::Bidirectional,
        attrs,
    );
    ev.cpu_addr = Some(cpu_addr.addr() as u64);
    if cpu_addr.is_null() {
        // As in the kernel: the context is still checked, then a NULL free is a no-op.
        let mut out = Findings::new();
        rules::release::check_release_context(&ev, &mut out);
        dev.checker().inner().finish(&ev, out);
        return;
    }
    let mut found = Findings::new();
    let managed_attrs = super::managed::check_free(dev, cpu_addr, dma_handle, by, &mut found);
    if by == FreeBy::Managed {
        // dmam_free_coherent takes no attrs: devres frees with the allocation's.
        ev.attrs = managed_attrs.unwrap_or(ev.attrs);
    }
    release_with(dev, &ev, found);
}
