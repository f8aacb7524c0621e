//! Streaming mappings (`dma_map_single`, `dma_map_page` and their unmaps), the error test,
//! and the syncs of one mapping.

use crate::backend::Page;
use crate::device::Device;
use crate::event::{Event, Op};
use crate::faults::FaultKind;
use crate::rules;
use crate::rules::Findings;
use crate::types::{DMA_MAPPING_ERROR, Direction, DmaAddr, DmaAttrs, MapKind};

use super::{checking, event, injected_failure, release, report_refusal, unchecked, unmap_event};

#[track_caller]
#[inline]
fn map(dev: &Device, ev: &mut Event, cpu: *const u8, range_start: u64) -> DmaAddr {
    let Some(admitted) = dev.admit_or_report(ev) else {
        return DMA_MAPPING_ERROR;
    };
    let c = dev.checker().inner();
    let mut out = Findings::new();
    ev.dma_addr = DMA_MAPPING_ERROR;
    if rules::map::check_direction(ev, &mut out)
        && rules::map::check_map_range(ev, range_start, &mut out)
    {
        let mapped = injected_failure(dev, FaultKind::Map)
            .and_then(|()| c.memory.phys_of(cpu, ev.size))
            .and_then(|phys| {
                dev.backend()
                    .map(dev.params_ref(), phys, ev.size, ev.dir, ev.attrs)
            });
        match mapped {
            Ok(dma) => {
                ev.dma_addr = dma;
                c.record_map(ev, &mut out);
            }
            Err(e) => report_refusal(dev, ev, &e, &mut out),
        }
    }
    drop(admitted);
    c.finish(ev, out);
    ev.dma_addr
}

/// Map `size` bytes of DMA-able memory at `cpu_addr` for the device (`dma_map_single`).
/// Returns the DMA address, or [`DMA_MAPPING_ERROR`]: test it with [`dma_mapping_error`].
///
/// ```
/// # use dmacheck::*;
/// # let checker = Checker::builder().env(false).build();
/// let dev = checker.device("eth0").build();
/// let skb = kmalloc(&checker, 1514, Gfp::ATOMIC);
/// let dma = dma_map_single(&dev, skb, 1514, Direction::ToDevice);
/// if dma_mapping_error(&dev, dma) != 0 {
///     kfree(&checker, skb);
///     return;
/// }
/// // ... hand `dma` to the device, wait for completion ...
/// dma_unmap_single(&dev, dma, 1514, Direction::ToDevice);
/// kfree(&checker, skb);
/// checker.assert_clean();
/// ```
#[track_caller]
#[inline]
pub fn dma_map_single(dev: &Device, cpu_addr: *const u8, size: usize, dir: Direction) -> DmaAddr {
    map_single(
        dev,
        cpu_addr,
        size,
        dir,
        DmaAttrs::empty(),
        "dma_map_single",
    )
}

/// [`dma_map_single`] with attributes (`dma_map_single_attrs`).
#[track_caller]
#[inline]
pub fn dma_map_single_attrs(
    dev: &Device,
    cpu_addr: *const u8,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
) -> DmaAddr {
    map_single(dev, cpu_addr, size, dir, attrs, "dma_map_single_attrs")
}

/// A single map, named in reports as `call` (the form the driver called).
#[track_caller]
#[inline]
fn map_single(
    dev: &Device,
    cpu_addr: *const u8,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
    call: &'static str,
) -> DmaAddr {
    if !checking(dev) {
        return unchecked::map(dev, cpu_addr, size, dir, attrs);
    }
    map_single_checked(dev, cpu_addr, size, dir, attrs, call)
}

/// [`map_single`] with checking on: out of line, so the switched-off test above stays inline
/// at the driver's call.
#[track_caller]
#[inline(never)]
fn map_single_checked(
    dev: &Device,
    cpu_addr: *const u8,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
    call: &'static str,
) -> DmaAddr {
    let mut ev = event(dev, Op::Map, call, MapKind::Single);
    (ev.size, ev.dir, ev.attrs, ev.cpu_addr) =
        (size as u64, dir, attrs, Some(cpu_addr.addr() as u64));
    map(dev, &mut ev, cpu_addr, cpu_addr.addr() as u64)
}

/// Map `size` bytes at `offset` into `page` for the device (`dma_map_page`).
///
/// ```
/// # use dmacheck::*;
/// # let checker = Checker::builder().env(false).build();
/// let dev = checker.device("sda").build();
/// let page = alloc_pages(&checker, Gfp::KERNEL, 0).unwrap();
/// let dma = dma_map_page(&dev, page, 512, 512, Direction::FromDevice);
/// assert_eq!(dma_mapping_error(&dev, dma), 0);
/// dma_unmap_page(&dev, dma, 512, Direction::FromDevice);
/// free_pages(&checker, page, 0);
/// checker.assert_clean();
/// ```
#[track_caller]
#[inline]
pub fn dma_map_page(
    dev: &Device,
    page: Page,
    offset: usize,
    size: usize,
    dir: Direction,
) -> DmaAddr {
    map_page(
        dev,
        page,
        offset,
        size,
        dir,
        DmaAttrs::empty(),
        "dma_map_page",
    )
}

/// [`dma_map_page`] with attributes (`dma_map_page_attrs`).
#[track_caller]
#[inline]
pub fn dma_map_page_attrs(
    dev: &Device,
    page: Page,
    offset: usize,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
) -> DmaAddr {
    map_page(dev, page, offset, size, dir, attrs, "dma_map_page_attrs")
}

/// A page map, named in reports as `call`.
#[track_caller]
#[inline]
pub(super) fn map_page(
    dev: &Device,
    page: Page,
    offset: usize,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
    call: &'static str,
) -> DmaAddr {
    if !checking(dev) {
        return unchecked::map(dev, page.address().wrapping_add(offset), size, dir, attrs);
    }
    map_page_checked(dev, page, offset, size, dir, attrs, call)
}

/// [`map_page`] with checking on, out of line (see [`map_single_checked`]).
#[track_caller]
#[inline(never)]
fn map_page_checked(
    dev: &Device,
    page: Page,
    offset: usize,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
    call: &'static str,
) -> DmaAddr {
    let start = page.address().addr().checked_add(offset);
    let cpu = page.address().wrapping_add(offset);
    let mut ev = event(dev, Op::Map, call, MapKind::Page);
    (ev.size, ev.dir, ev.attrs, ev.cpu_addr) = (size as u64, dir, attrs, Some(cpu.addr() as u64));
    map(dev, &mut ev, cpu, start.map_or(u64::MAX, |s| s as u64))
}

/// The unmap of a single or page mapping: straight to the backend with checking off.
#[track_caller]
#[inline]
pub(super) fn unmap_streaming(
    dev: &Device,
    call: &'static str,
    kind: MapKind,
    dma_addr: DmaAddr,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
) {
    if !checking(dev) {
        return unchecked::unmap(dev, dma_addr, size, dir, attrs);
    }
    unmap_checked(dev, call, kind, dma_addr, size, dir, attrs);
}

/// [`unmap_streaming`] with checking on, out of line (see [`map_single_checked`]).
#[track_caller]
#[inline(never)]
fn unmap_checked(
    dev: &Device,
    call: &'static str,
    kind: MapKind,
    dma_addr: DmaAddr,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
) {
    release(
        dev,
        &unmap_event(dev, call, kind, dma_addr, size, dir, attrs),
    );
}

/// End a mapping made by [`dma_map_single`] (`dma_unmap_single`): the same address, size and
/// direction.
#[track_caller]
#[inline]
pub fn dma_unmap_single(dev: &Device, dma_addr: DmaAddr, size: usize, dir: Direction) {
    let attrs = DmaAttrs::empty();
    unmap_streaming(
        dev,
        "dma_unmap_single",
        MapKind::Single,
        dma_addr,
        size,
        dir,
        attrs,
    );
}

/// [`dma_unmap_single`] with attributes (`dma_unmap_single_attrs`).
#[track_caller]
#[inline]
pub fn dma_unmap_single_attrs(
    dev: &Device,
    dma_addr: DmaAddr,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
) {
    unmap_streaming(
        dev,
        "dma_unmap_single_attrs",
        MapKind::Single,
        dma_addr,
        size,
        dir,
        attrs,
    );
}

/// End a mapping made by [`dma_map_page`] (`dma_unmap_page`).
#[track_caller]
#[inline]
pub fn dma_unmap_page(dev: &Device, dma_addr: DmaAddr, size: usize, dir: Direction) {
    let attrs = DmaAttrs::empty();
    unmap_streaming(
        dev,
        "dma_unmap_page",
        MapKind::Page,
        dma_addr,
        size,
        dir,
        attrs,
    );
}

/// [`dma_unmap_page`] with attributes (`dma_unmap_page_attrs`).
#[track_caller]
#[inline]
pub fn dma_unmap_page_attrs(
    dev: &Device,
    dma_addr: DmaAddr,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
) {
    unmap_streaming(
        dev,
        "dma_unmap_page_attrs",
        MapKind::Page,
        dma_addr,
        size,
        dir,
        attrs,
    );
}

/// Whether a map failed (`dma_mapping_error`): non-zero for [`DMA_MAPPING_ERROR`]. Calling it
/// is what the [`unmap-unchecked`](rules::UNMAP_UNCHECKED) rule looks for.
#[track_caller]
#[inline]
pub fn dma_mapping_error(dev: &Device, dma_addr: DmaAddr) -> i32 {
    if !checking(dev) {
        return i32::from(dma_addr == DMA_MAPPING_ERROR);
    }
    // Recorded, never reported: no event or site is needed.
    dev.checker().inner().record_error_check(dev.id(), dma_addr);
    i32::from(dma_addr == DMA_MAPPING_ERROR)
}

// ---------------------------------------------------------------------------------------------
// Syncs

#[track_caller]
fn sync(
    dev: &Device,
    op: Op,
    call: &'static str,
    dma: DmaAddr,
    offset: usize,
    size: usize,
    dir: Direction,
) {
    if !checking(dev) {
        return unchecked::sync(dev, op, dma.saturating_add(offset as u64), size, dir);
    }
    let mut ev = event(dev, op, call, MapKind::Single);
    (ev.dma_addr, ev.offset, ev.size, ev.dir) = (dma, offset as u64, size as u64, dir);
    let Some(admitted) = dev.admit_or_report(&ev) else {
        return;
    };
    let c = dev.checker().inner();
    let mut out = Findings::new();
    if let Some((start, len)) = c.record_sync(&ev, &mut out) {
        let params = dev.params_ref();
        match op {
            Op::SyncForCpu => dev.backend().sync_for_cpu(params, start, len, dir),
            _ => dev.backend().sync_for_device(params, start, len, dir),
        }
    }
    drop(admitted);
    c.finish(&ev, out);
}

/// Hand a streaming mapping to the CPU (`dma_sync_single_for_cpu`): after the device wrote it,
/// before the CPU reads it.
///
/// ```
/// # use dmacheck::*;
/// # let checker = Checker::builder().env(false).build();
/// # let dev = checker.device("eth0").build();
/// # let buf = kmalloc(&checker, 2048, Gfp::KERNEL);
/// let dma = dma_map_single(&dev, buf, 2048, Direction::FromDevice);
/// assert_eq!(dma_mapping_error(&dev, dma), 0);
/// // The device filled the buffer; the CPU takes it, reads, and gives it back.
/// dma_sync_single_for_cpu(&dev, dma, 2048, Direction::FromDevice);
/// let first_byte = unsafe { buf.read() };
/// dma_sync_single_for_device(&dev, dma, 2048, Direction::FromDevice);
/// # dma_unmap_single(&dev, dma, 2048, Direction::FromDevice);
/// # kfree(&checker, buf);
/// # checker.assert_clean();
/// ```
#[track_caller]
pub fn dma_sync_single_for_cpu(dev: &Device, dma_addr: DmaAddr, size: usize, dir: Direction) {
    sync(
        dev,
        Op::SyncForCpu,
        "dma_sync_single_for_cpu",
        dma_addr,
        0,
        size,
        dir,
    );
}

/// Hand a streaming mapping back to the device (`dma_sync_single_for_device`): after the CPU
/// wrote it, before the device reads it.
#[track_caller]
pub fn dma_sync_single_for_device(dev: &Device, dma_addr: DmaAddr, size: usize, dir: Direction) {
    sync(
        dev,
        Op::SyncForDevice,
        "dma_sync_single_for_device",
        dma_addr,
        0,
        size,
        dir,
    );
}

/// Hand `size` bytes at `offset` into a mapping to the CPU (`dma_sync_single_range_for_cpu`).
#[track_caller]
pub fn dma_sync_single_range_for_cpu(
    dev: &Device,
    dma_addr: DmaAddr,
    offset: usize,
    size: usize,
    dir: Direction,
) {
    sync(
        dev,
        Op::SyncForCpu,
        "dma_sync_single_range_for_cpu",
        dma_addr,
        offset,
        size,
        dir,
    );
}

/// Hand `size` bytes at `offset` into a mapping to the device
/// (`dma_sync_single_range_for_device`).
#[track_caller]
pub fn dma_sync_single_range_for_device(
    dev: &Device,
    dma_addr: DmaAddr,
    offset: usize,
    size: usize,
    dir: Direction,
) {
    sync(
        dev,
        Op::SyncForDevice,
        "dma_sync_single_range_for_device",
        dma_addr,
        offset,
        size,
        dir,
    );
}
