//! The DMA API, under its Linux names. Each call is a short sequence: describe the call as an
//! [`Event`], validate its arguments, carry it out on the backend, record it in the tracker
//! (where the rules judge it), and report what was found.
//!
//! All functions are `#[track_caller]`: the site of every entry and violation is the driver's
//! own call, at no cost.

use std::ptr::{self, NonNull};

use crate::backend::{MapError, Page};
use crate::checker::Checker;
use crate::device::Device;
use crate::event::{DeviceId, Event, Op};
use crate::faults::FaultKind;
use crate::report::{Finding, Findings, Value};
use crate::rules;
use crate::sg::{SgState, SgTable};
use crate::sync::RwLockReadGuard;
use crate::tracker::Entry;
use crate::types::{DMA_MAPPING_ERROR, Direction, DmaAddr, DmaAttrs, Gfp, MapKind};

/// `EIO`, returned negated by the mask setters when a mask is not supported.
pub const EIO: i32 = 5;

/// The cache line size `dma_get_cache_alignment` reports (x86 and most arm64 parts).
pub const DMA_CACHE_ALIGNMENT: i32 = 64;

#[track_caller]
fn event(dev: &Device, op: Op, call: &'static str, kind: MapKind) -> Event {
    Event::new(op, call, kind, dev.id(), dev.checker().capture_site())
}

/// Admit a call on the device, or refuse it (reported) if the device was released. The guard
/// holds off a release until the call has recorded what it did: drop it before reporting.
#[track_caller]
fn admit<'d>(dev: &'d Device, ev: &Event) -> Option<RwLockReadGuard<'d, ()>> {
    let admitted = dev.admit();
    if admitted.is_none() {
        let f = rules::lifetime::released(dev);
        dev.checker().inner().finish(ev, [f].into_iter().collect());
    }
    admitted
}

/// Report a refused map, finding out where memory that is not DMA-able came from.
fn report_refusal(dev: &Device, ev: &Event, err: &MapError, out: &mut Findings) {
    let origin = match *err {
        MapError::NotDmaMemory { cpu_addr } => {
            crate::origin::classify(&dev.checker().inner().vmalloc, cpu_addr)
        }
        _ => crate::origin::Origin::Unknown,
    };
    rules::map::check_refusal(ev, err, origin, out);
}

/// A failure injected into this call, as the backend refusing for want of memory.
fn injected_failure(dev: &Device, kind: FaultKind) -> Result<(), MapError> {
    let c = dev.checker().inner();
    if c.faults.should_fail(kind, dev.name()) {
        Err(MapError::OutOfMemory)
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Streaming mappings

#[track_caller]
fn map(dev: &Device, mut ev: Event, cpu: *const u8, range_start: u64) -> DmaAddr {
    let Some(admitted) = admit(dev, &ev) else {
        return DMA_MAPPING_ERROR;
    };
    let c = dev.checker().inner();
    let mut out = Findings::new();
    ev.dma_addr = DMA_MAPPING_ERROR;
    if rules::map::check_direction(&ev, &mut out)
        && rules::map::check_map_range(&ev, range_start, &mut out)
    {
        let mapped = injected_failure(dev, FaultKind::Map)
            .and_then(|()| c.memory.phys_of(cpu, ev.size))
            .and_then(|phys| {
                dev.backend()
                    .map(&dev.params(), phys, ev.size, ev.dir, ev.attrs)
            });
        match mapped {
            Ok(dma) => {
                ev.dma_addr = dma;
                c.record_map(&ev, &mut out);
            }
            Err(e) => report_refusal(dev, &ev, &e, &mut out),
        }
    }
    drop(admitted);
    c.finish(&ev, out);
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
    dma_map_single_attrs(dev, cpu_addr, size, dir, DmaAttrs::empty())
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
    if !checking(dev) {
        return unchecked::map(dev, cpu_addr, size, dir, attrs);
    }
    let mut ev = event(dev, Op::Map, "dma_map_single", MapKind::Single);
    (ev.size, ev.dir, ev.attrs, ev.cpu_addr) =
        (size as u64, dir, attrs, Some(cpu_addr.addr() as u64));
    map(dev, ev, cpu_addr, cpu_addr.addr() as u64)
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
    dma_map_page_attrs(dev, page, offset, size, dir, DmaAttrs::empty())
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
    if !checking(dev) {
        return unchecked::map(dev, page.address().wrapping_add(offset), size, dir, attrs);
    }
    let start = page.address().addr().checked_add(offset);
    let cpu = page.address().wrapping_add(offset);
    let mut ev = event(dev, Op::Map, "dma_map_page", MapKind::Page);
    (ev.size, ev.dir, ev.attrs, ev.cpu_addr) = (size as u64, dir, attrs, Some(cpu.addr() as u64));
    map(dev, ev, cpu, start.map_or(u64::MAX, |s| s as u64))
}

#[track_caller]
fn release(dev: &Device, ev: Event) {
    let Some(admitted) = admit(dev, &ev) else {
        return;
    };
    let c = dev.checker().inner();
    let mut out = Findings::new();
    if !ev.dir.is_valid() {
        rules::map::check_direction(&ev, &mut out);
    }
    if let Some(entry) = c.record_release(&ev, &mut out) {
        carry_out_release(dev, &entry, &mut out);
    }
    drop(admitted);
    c.finish(&ev, out);
}

/// Release what the entry says was made, whatever the call said: a mismatched release must not
/// leave the backend inconsistent. Reports guard bytes found overwritten.
fn carry_out_release(dev: &Device, e: &Entry, out: &mut Findings) {
    let params = dev.params();
    // Only coherent buffers can be mapped into user space; don't take the lock for the rest.
    let user_mapped = || {
        let memory = dev.checker().memory();
        memory
            .phys_of_addr(e.cpu_addr, e.size)
            .is_ok_and(|phys| dev.checker().inner().user_maps.mapped(phys, phys + e.size))
    };
    if e.kind == MapKind::Coherent && user_mapped() {
        out.push(
            Finding::new(
                &rules::FREE_WHILE_MMAPPED,
                "user space still maps the buffer",
            )
            .with("dma_addr", Value::Addr(e.dma_addr))
            .with("size", Value::Num(e.size))
            .mapped_at(&e.site, e.kind.map_call()),
        );
    }
    let released = match e.kind {
        MapKind::Single | MapKind::Page | MapKind::Sg => dev
            .backend()
            .unmap(&params, e.dma_addr, e.size, e.dir, e.attrs),
        MapKind::Coherent if crate::declared::free(dev, e.dma_addr) => Ok(()),
        MapKind::Coherent => dev.backend().free_coherent(&params, e.dma_addr, e.size),
        MapKind::Noncoherent => return crate::noncoherent::release(dev, e, out),
    };
    if released.is_err() {
        out.push(rules::ownership::overrun(e));
    }
}

#[track_caller]
fn unmap_event(
    dev: &Device,
    call: &'static str,
    kind: MapKind,
    dma: DmaAddr,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
) -> Event {
    let mut ev = event(dev, Op::Unmap, call, kind);
    (ev.dma_addr, ev.size, ev.dir, ev.attrs) = (dma, size as u64, dir, attrs);
    ev
}

/// The unmap of a single or page mapping: straight to the backend with checking off.
#[track_caller]
#[inline]
fn unmap_streaming(
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
    release(
        dev,
        unmap_event(dev, call, kind, dma_addr, size, dir, attrs),
    );
}

/// End a mapping made by [`dma_map_single`] (`dma_unmap_single`): the same address, size and
/// direction.
#[track_caller]
#[inline]
pub fn dma_unmap_single(dev: &Device, dma_addr: DmaAddr, size: usize, dir: Direction) {
    dma_unmap_single_attrs(dev, dma_addr, size, dir, DmaAttrs::empty());
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
        "dma_unmap_single",
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
    dma_unmap_page_attrs(dev, dma_addr, size, dir, DmaAttrs::empty());
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
        "dma_unmap_page",
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
    let Some(admitted) = admit(dev, &ev) else {
        return;
    };
    let c = dev.checker().inner();
    let mut out = Findings::new();
    if let Some((start, len)) = c.record_sync(&ev, &mut out) {
        let params = dev.params();
        match op {
            Op::SyncForCpu => dev.backend().sync_for_cpu(&params, start, len, dir),
            _ => dev.backend().sync_for_device(&params, start, len, dir),
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

// ---------------------------------------------------------------------------------------------
// Scatter-gather lists

#[track_caller]
fn sg_event(
    dev: &Device,
    op: Op,
    call: &'static str,
    nents: usize,
    dir: Direction,
    attrs: DmaAttrs,
) -> Event {
    let mut ev = event(dev, op, call, MapKind::Sg);
    (ev.nents, ev.dir, ev.attrs) = (Some(u32::try_from(nents).unwrap_or(u32::MAX)), dir, attrs);
    ev
}

/// The event of one DMA segment of an sg call.
fn segment(ev: &Event, (dma_addr, size): (DmaAddr, u64)) -> Event {
    let mut seg = ev.clone();
    (seg.dma_addr, seg.size) = (dma_addr, size);
    seg
}

/// Map the first `nents` entries of `sgl` for the device (`dma_map_sg`). Returns the number of
/// DMA segments, which an IOMMU may make fewer than `nents` by merging; 0 on failure. Walk
/// `count` entries with [`for_each_sg`](crate::for_each_sg); unmap with `nents`.
#[track_caller]
pub fn dma_map_sg(dev: &Device, sgl: &mut SgTable, nents: usize, dir: Direction) -> usize {
    dma_map_sg_attrs(dev, sgl, nents, dir, DmaAttrs::empty())
}

/// [`dma_map_sg`] with attributes (`dma_map_sg_attrs`).
#[track_caller]
pub fn dma_map_sg_attrs(
    dev: &Device,
    sgl: &mut SgTable,
    nents: usize,
    dir: Direction,
    attrs: DmaAttrs,
) -> usize {
    if !checking(dev) {
        return unchecked::map_sg(dev, sgl, nents, dir, attrs);
    }
    let mut ev = sg_event(dev, Op::Map, "dma_map_sg", nents, dir, attrs);
    let Some(admitted) = admit(dev, &ev) else {
        return 0;
    };
    let mut out = Findings::new();
    let count = map_sg(dev, sgl, nents, &mut ev, &mut out);
    rules::sg::dedupe(&mut out);
    drop(admitted);
    dev.checker().inner().finish(&ev, out);
    count
}

fn map_sg(
    dev: &Device,
    sgl: &mut SgTable,
    nents: usize,
    ev: &mut Event,
    out: &mut Findings,
) -> usize {
    let c = dev.checker().inner();
    if !rules::map::check_direction(ev, out) {
        return 0;
    }
    if let SgState::Mapped {
        nents: mapped,
        count,
        ..
    } = sgl.state
    {
        out.push(
            Finding::new(&rules::SG_MAP_MAPPED, "the list is already mapped")
                .with("nents", Value::Num(nents as u64))
                .with("mapped_nents", Value::Num(mapped as u64))
                .with("mapped_count", Value::Num(count as u64)),
        );
        return 0;
    }
    sgl.owner = Some((dev.checker().clone(), dev.id()));
    sgl.mapped_at = Some(ev.site);
    sgl.state = SgState::Failed;
    let filled = sgl
        .entries()
        .iter()
        .take(nents)
        .all(|e| e.page().is_some() && e.length() > 0);
    if nents == 0 || nents > sgl.len() || !filled {
        out.push(
            Finding::new(
                &rules::SG_INVALID_LIST,
                "nents is 0, beyond the list, or names an empty entry",
            )
            .with("nents", Value::Num(nents as u64))
            .with("entries", Value::Num(sgl.len() as u64)),
        );
        return 0;
    }
    let mut segs = Vec::with_capacity(nents);
    for e in &sgl.entries()[..nents] {
        match c.memory.phys_of(e.virt(), e.length() as u64) {
            Ok(phys) => segs.push((phys, e.length() as u64)),
            Err(err) => {
                report_refusal(dev, ev, &err, out);
                return 0;
            }
        }
    }
    let params = dev.params();
    let mapped = injected_failure(dev, FaultKind::MapSg)
        .and_then(|()| dev.backend().map_sg(&params, &segs, ev.dir, ev.attrs));
    let dma_segs = match mapped {
        Ok(dma_segs) => dma_segs,
        Err(err) => {
            report_refusal(dev, ev, &err, out);
            return 0;
        }
    };
    rules::sg::check_segments(&params, &dma_segs, out);
    ev.mapped_ents = dma_segs.len() as u32;
    ev.dma_addr = dma_segs[0].0;
    for &seg in &dma_segs {
        c.record_map(&segment(ev, seg), out);
    }
    sgl.store_dma(&dma_segs);
    sgl.state = SgState::Mapped {
        nents,
        count: dma_segs.len(),
        dir: ev.dir,
    };
    dma_segs.len()
}

/// End the mapping of an sg list (`dma_unmap_sg`): `nents` is the count passed to
/// [`dma_map_sg`], not the count it returned.
#[track_caller]
pub fn dma_unmap_sg(dev: &Device, sgl: &mut SgTable, nents: usize, dir: Direction) {
    dma_unmap_sg_attrs(dev, sgl, nents, dir, DmaAttrs::empty());
}

/// [`dma_unmap_sg`] with attributes (`dma_unmap_sg_attrs`).
#[track_caller]
pub fn dma_unmap_sg_attrs(
    dev: &Device,
    sgl: &mut SgTable,
    nents: usize,
    dir: Direction,
    attrs: DmaAttrs,
) {
    if !checking(dev) {
        return unchecked::unmap_sg(dev, sgl, dir, attrs);
    }
    let ev = sg_event(dev, Op::Unmap, "dma_unmap_sg", nents, dir, attrs);
    let Some(admitted) = admit(dev, &ev) else {
        return;
    };
    let c = dev.checker().inner();
    let mut out = Findings::new();
    if !ev.dir.is_valid() {
        rules::map::check_direction(&ev, &mut out);
    }
    match sgl.state {
        SgState::Failed => out.push(Finding::new(
            &rules::SG_UNMAP_FAILED_MAP,
            "dma_map_sg returned 0 for this list",
        )),
        SgState::Unmapped => out.push(
            Finding::new(&rules::UNMAP_UNKNOWN, "the list was never mapped")
                .with("nents", Value::Num(nents as u64)),
        ),
        _ if sg_on_other_device(dev, sgl, &mut out) => {}
        SgState::Released { count } => {
            // Only the record of the earlier unmap is consulted: the addresses may have been
            // handed out again, and the new mappings are not this list's to touch.
            if let Some(&seg) = sgl.dma_segments(count).first() {
                let tomb = c.tracker.tombstone(dev.id(), seg.0);
                rules::release::check_missing(&segment(&ev, seg), tomb.as_ref(), &mut out);
            }
        }
        SgState::Mapped { count, .. } => {
            let mut released = false;
            for seg in sgl.dma_segments(count) {
                if let Some(entry) = c.record_release(&segment(&ev, seg), &mut out) {
                    carry_out_release(dev, &entry, &mut out);
                    released = true;
                }
            }
            if released {
                sgl.state = SgState::Released { count };
            }
        }
    }
    rules::sg::dedupe(&mut out);
    drop(admitted);
    c.finish(&ev, out);
}

#[track_caller]
fn sync_sg(dev: &Device, op: Op, call: &'static str, sgl: &SgTable, nents: usize, dir: Direction) {
    if !checking(dev) {
        if let Some((_, count, _)) = sgl.mapping() {
            for (dma, len) in sgl.dma_segments(count) {
                unchecked::sync(dev, op, dma, len as usize, dir);
            }
        }
        return;
    }
    let ev = sg_event(dev, op, call, nents, dir, DmaAttrs::empty());
    let Some(admitted) = admit(dev, &ev) else {
        return;
    };
    let c = dev.checker().inner();
    let mut out = Findings::new();
    match sgl.state {
        _ if sg_on_other_device(dev, sgl, &mut out) => {}
        SgState::Mapped { count, .. } => {
            let params = dev.params();
            for seg in sgl.dma_segments(count) {
                if let Some((start, len)) = c.record_sync(&segment(&ev, seg), &mut out) {
                    match op {
                        Op::SyncForCpu => dev.backend().sync_for_cpu(&params, start, len, dir),
                        _ => dev.backend().sync_for_device(&params, start, len, dir),
                    }
                }
            }
        }
        SgState::Released { count } if count > 0 => {
            let seg = sgl.dma_segments(1)[0];
            let tomb = c.tracker.tombstone(dev.id(), seg.0);
            rules::sync::check_missing(&segment(&ev, seg), tomb.as_ref(), &mut out);
        }
        _ => out.push(
            Finding::new(&rules::SYNC_UNKNOWN, "the list is not mapped")
                .with("nents", Value::Num(nents as u64)),
        ),
    }
    rules::sg::dedupe(&mut out);
    drop(admitted);
    c.finish(&ev, out);
}

/// A list mapped (or last mapped) for another device than the one named: reported, and
/// nothing is done to either device's mappings.
fn sg_on_other_device(dev: &Device, sgl: &SgTable, out: &mut Findings) -> bool {
    let Some((_, owner)) = sgl.owner.as_ref().filter(|(_, owner)| *owner != dev.id()) else {
        return false;
    };
    if matches!(sgl.state, SgState::Unmapped | SgState::Failed) {
        return false;
    }
    let name = dev.checker().device_name(*owner);
    let mut f = Finding::new(
        &rules::WRONG_DEVICE,
        format!("the list is mapped for device {name}"),
    )
    .with("mapped_device", Value::Text(name.to_string()));
    if let Some(site) = &sgl.mapped_at {
        f = f.mapped_at(site, "dma_map_sg");
    }
    out.push(f);
    true
}

/// Hand a mapped sg list to the CPU (`dma_sync_sg_for_cpu`), with the `nents` it was mapped with.
#[track_caller]
pub fn dma_sync_sg_for_cpu(dev: &Device, sgl: &SgTable, nents: usize, dir: Direction) {
    sync_sg(dev, Op::SyncForCpu, "dma_sync_sg_for_cpu", sgl, nents, dir);
}

/// Hand a mapped sg list back to the device (`dma_sync_sg_for_device`).
#[track_caller]
pub fn dma_sync_sg_for_device(dev: &Device, sgl: &SgTable, nents: usize, dir: Direction) {
    sync_sg(
        dev,
        Op::SyncForDevice,
        "dma_sync_sg_for_device",
        sgl,
        nents,
        dir,
    );
}

// ---------------------------------------------------------------------------------------------
// Coherent memory

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
    let Some(admitted) = admit(dev, &ev) else {
        return ptr::null_mut();
    };
    let c = dev.checker().inner();
    let mut out = Findings::new();
    rules::context::check_alloc(&ev, gfp, &mut out);
    let mut cpu = ptr::null_mut();
    if size == 0 {
        out.push(
            Finding::new(&rules::MAP_ZERO_SIZE, "allocation of zero bytes refused")
                .with("size", Value::Num(0)),
        );
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
        "dma_free_coherent",
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
    release(dev, ev);
}

// ---------------------------------------------------------------------------------------------
// Checking switched off

/// Whether the device's checker checks at all (`DMACHECK=off` turns it off).
#[inline]
fn checking(dev: &Device) -> bool {
    dev.checking()
}

/// The DMA API carried out on the backend alone: nothing recorded, checked or reported. What a
/// real kernel does, invalid arguments included (within what memory safety allows).
mod unchecked {
    use super::*;

    #[inline]
    pub(super) fn map(
        dev: &Device,
        cpu: *const u8,
        size: usize,
        dir: Direction,
        attrs: DmaAttrs,
    ) -> DmaAddr {
        dev.checker()
            .memory()
            .phys_of(cpu, size as u64)
            .and_then(|phys| {
                dev.backend()
                    .map(&dev.params(), phys, size as u64, dir, attrs)
            })
            .unwrap_or(DMA_MAPPING_ERROR)
    }

    #[inline]
    pub(super) fn unmap(dev: &Device, dma: DmaAddr, size: usize, dir: Direction, attrs: DmaAttrs) {
        if dma != DMA_MAPPING_ERROR {
            let _ = dev
                .backend()
                .unmap(&dev.params(), dma, size as u64, dir, attrs);
        }
    }

    pub(super) fn sync(dev: &Device, op: Op, dma: DmaAddr, size: usize, dir: Direction) {
        match op {
            Op::SyncForCpu => dev
                .backend()
                .sync_for_cpu(&dev.params(), dma, size as u64, dir),
            _ => dev
                .backend()
                .sync_for_device(&dev.params(), dma, size as u64, dir),
        }
    }

    pub(super) fn map_sg(
        dev: &Device,
        sgl: &mut SgTable,
        nents: usize,
        dir: Direction,
        attrs: DmaAttrs,
    ) -> usize {
        let memory = dev.checker().memory();
        let segs: Option<Vec<(u64, u64)>> = sgl
            .entries()
            .get(..nents)
            .unwrap_or(&[])
            .iter()
            .map(|e| {
                memory
                    .phys_of(e.virt(), e.length() as u64)
                    .ok()
                    .map(|p| (p, e.length() as u64))
            })
            .collect();
        let mapped = segs
            .filter(|s| !s.is_empty())
            .and_then(|segs| dev.backend().map_sg(&dev.params(), &segs, dir, attrs).ok());
        let Some(dma_segs) = mapped else {
            sgl.state = SgState::Failed;
            return 0;
        };
        sgl.store_dma(&dma_segs);
        sgl.state = SgState::Mapped {
            nents,
            count: dma_segs.len(),
            dir,
        };
        dma_segs.len()
    }

    pub(super) fn unmap_sg(dev: &Device, sgl: &mut SgTable, dir: Direction, attrs: DmaAttrs) {
        if let SgState::Mapped { count, .. } = sgl.state {
            for (dma, len) in sgl.dma_segments(count) {
                let _ = dev.backend().unmap(&dev.params(), dma, len, dir, attrs);
            }
            sgl.state = SgState::Released { count };
        }
    }

    pub(super) fn alloc(dev: &Device, size: usize, handle: &mut DmaAddr, gfp: Gfp) -> *mut u8 {
        match dev
            .backend()
            .alloc_coherent(&dev.params(), size as u64, gfp)
        {
            Ok((cpu, dma)) if size > 0 => {
                *handle = dma;
                cpu.as_ptr()
            }
            _ => {
                *handle = DMA_MAPPING_ERROR;
                ptr::null_mut()
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Addressing limits

/// Whether the platform can do DMA for the device with `mask` (`dma_supported`): 1 or 0. A mask
/// must reach the whole `GFP_DMA` zone.
pub fn dma_supported(dev: &Device, mask: u64) -> i32 {
    i32::from(mask >= dev.checker().memory().min_supported_mask())
}

/// Set the streaming mask if supported (`dma_set_mask`): 0, or `-EIO`.
pub fn dma_set_mask(dev: &Device, mask: u64) -> i32 {
    if dma_supported(dev, mask) == 0 {
        return -EIO;
    }
    dev.store_dma_mask(mask);
    0
}

/// Set the coherent mask if supported (`dma_set_coherent_mask`): 0, or `-EIO`.
pub fn dma_set_coherent_mask(dev: &Device, mask: u64) -> i32 {
    if dma_supported(dev, mask) == 0 {
        return -EIO;
    }
    dev.store_coherent_dma_mask(mask);
    0
}

/// Set both masks (`dma_set_mask_and_coherent`): 0, or `-EIO` with neither changed.
pub fn dma_set_mask_and_coherent(dev: &Device, mask: u64) -> i32 {
    let rc = dma_set_mask(dev, mask);
    if rc == 0 {
        dma_set_coherent_mask(dev, mask);
    }
    rc
}

/// The streaming mask in force (`dma_get_mask`).
pub fn dma_get_mask(dev: &Device) -> u64 {
    dev.params().dma_mask
}

/// The smallest mask that reaches all memory (`dma_get_required_mask`).
pub fn dma_get_required_mask(dev: &Device) -> u64 {
    dev.checker().memory().required_mask()
}

/// The minimum alignment and width of a mapping or partial sync (`dma_get_cache_alignment`).
pub fn dma_get_cache_alignment() -> i32 {
    DMA_CACHE_ALIGNMENT
}

// ---------------------------------------------------------------------------------------------
// DMA-able memory

/// Report an allocation of DMA-able memory made where it may not sleep.
#[track_caller]
fn check_memory_alloc(checker: &Checker, call: &'static str, size: usize, gfp: Gfp) {
    if !checker.config().enabled || !gfp.contains(Gfp::DIRECT_RECLAIM) || !crate::in_atomic() {
        return;
    }
    let mut ev = Event::new(
        Op::MemoryAlloc,
        call,
        MapKind::Single,
        DeviceId::NONE,
        checker.capture_site(),
    );
    ev.size = size as u64;
    let mut out = Findings::new();
    rules::context::check_alloc(&ev, gfp, &mut out);
    checker.inner().finish(&ev, out);
}

/// Allocate `size` bytes of DMA-able memory (`kmalloc`); NULL for size 0 or when memory runs
/// out. `Gfp::DMA` places it below 16 MiB.
#[track_caller]
pub fn kmalloc(checker: &Checker, size: usize, gfp: Gfp) -> *mut u8 {
    check_memory_alloc(checker, "kmalloc", size, gfp);
    if let Some(ptr) = crate::trap::kmalloc(checker, size, gfp) {
        return ptr;
    }
    checker
        .memory()
        .kmalloc(size, gfp)
        .map_or(ptr::null_mut(), NonNull::as_ptr)
}

/// [`kmalloc`], zeroed (`kzalloc`).
#[track_caller]
pub fn kzalloc(checker: &Checker, size: usize, gfp: Gfp) -> *mut u8 {
    kmalloc(checker, size, gfp | Gfp::ZERO)
}

#[track_caller]
fn invalid_free(
    checker: &Checker,
    call: &'static str,
    ptr: *const u8,
    why: crate::backend::FreeError,
) {
    let mut ev = Event::new(
        Op::MemoryFree,
        call,
        MapKind::Single,
        DeviceId::NONE,
        checker.capture_site(),
    );
    ev.cpu_addr = Some(ptr.addr() as u64);
    let f = Finding::new(&rules::INVALID_FREE, why.to_string())
        .with("cpu_addr", Value::Addr(ptr.addr() as u64));
    checker.inner().finish(&ev, [f].into_iter().collect());
}

/// Free memory from [`kmalloc`] (`kfree`). NULL does nothing; anything else that is not a live
/// allocation is reported and left alone.
#[track_caller]
pub fn kfree(checker: &Checker, ptr: *const u8) {
    if crate::trap::kfree(checker, ptr) {
        return;
    }
    if let Err(why) = checker.memory().kfree(ptr) {
        invalid_free(checker, "kfree", ptr, why);
    }
}

/// Allocate `size` bytes of virtually contiguous memory (`vmalloc`): not DMA-able, so mapping
/// it is reported. NULL for size 0.
#[track_caller]
pub fn vmalloc(checker: &Checker, size: usize) -> *mut u8 {
    check_memory_alloc(checker, "vmalloc", size, Gfp::KERNEL);
    checker
        .inner()
        .vmalloc
        .alloc(size, false)
        .map_or(ptr::null_mut(), NonNull::as_ptr)
}

/// [`vmalloc`], zeroed (`vzalloc`).
#[track_caller]
pub fn vzalloc(checker: &Checker, size: usize) -> *mut u8 {
    check_memory_alloc(checker, "vzalloc", size, Gfp::KERNEL);
    checker
        .inner()
        .vmalloc
        .alloc(size, true)
        .map_or(ptr::null_mut(), NonNull::as_ptr)
}

/// Free memory from [`vmalloc`] (`vfree`). NULL does nothing; anything else that is not a
/// live `vmalloc` block is reported and left alone.
#[track_caller]
pub fn vfree(checker: &Checker, ptr: *mut u8) {
    if !ptr.is_null() && !checker.inner().vmalloc.free(ptr) {
        invalid_free(
            checker,
            "vfree",
            ptr,
            crate::backend::FreeError::NotAllocated,
        );
    }
}

/// Allocate 2^`order` contiguous pages (`alloc_pages`).
#[track_caller]
pub fn alloc_pages(checker: &Checker, gfp: Gfp, order: u32) -> Option<Page> {
    check_memory_alloc(
        checker,
        "alloc_pages",
        crate::PAGE_SIZE << order.min(20),
        gfp,
    );
    checker.memory().alloc_pages(gfp, order)
}

/// Free pages from [`alloc_pages`] with the order they were allocated with (`__free_pages`).
#[track_caller]
pub fn free_pages(checker: &Checker, page: Page, order: u32) {
    if let Err(why) = checker.memory().free_pages(page, order) {
        invalid_free(checker, "__free_pages", page.address(), why);
    }
}

/// The physical address of DMA-able memory at `addr` (`virt_to_phys`); `None` if it is not
/// memory of this checker.
pub fn virt_to_phys(checker: &Checker, addr: *const u8) -> Option<crate::PhysAddr> {
    checker.memory().phys_of(addr, 1).ok()
}

/// The CPU address of a page (`page_address`).
pub fn page_address(page: Page) -> *mut u8 {
    page.address()
}

/// The page containing a CPU address (`virt_to_page`); `None` for NULL.
pub fn virt_to_page(addr: *const u8) -> Option<Page> {
    Page::containing(addr)
}

#[cfg(test)]
mod tests {
    //! Small-memory round trips through the whole shim, sized to run under Miri too
    //! (`cargo +nightly miri test --lib`).

    use crate::*;

    fn small() -> Checker {
        Checker::builder()
            .env(false)
            .print(false)
            .memory(MemoryConfig {
                size: 20 << 20,
                phys_base: 1 << 20,
            })
            .build()
    }

    /// What a device sees at `dma`: the bytes behind the address, through the backend.
    fn device_view(checker: &Checker, dev: &Device, dma: DmaAddr, len: usize) -> Vec<u8> {
        let phys = checker
            .backend()
            .dma_to_phys(&dev.params(), dma)
            .expect("reachable");
        let cpu = checker
            .memory()
            .cpu_of(phys, len as u64)
            .expect("in memory");
        // SAFETY: `cpu` names `len` bytes of live memory inside the arena.
        unsafe { std::slice::from_raw_parts(cpu.as_ptr(), len).to_vec() }
    }

    #[test]
    fn mapped_bytes_are_what_the_device_reads_at_the_dma_address() {
        let checker = small();
        let dev = checker.device("dev").build();
        let buf = kzalloc(&checker, 100, Gfp::KERNEL);
        // SAFETY: buf is a live allocation of 100 bytes.
        unsafe { std::ptr::copy_nonoverlapping(b"hello".as_ptr(), buf, 5) };
        let dma = dma_map_single(&dev, buf, 100, Direction::ToDevice);
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        assert_ne!(
            dma,
            buf.addr() as u64,
            "the DMA address is not the CPU pointer"
        );
        assert_eq!(&device_view(&checker, &dev, dma, 5), b"hello");
        dma_unmap_single(&dev, dma, 100, Direction::ToDevice);
        kfree(&checker, buf);

        let mut handle = 0;
        let ring = dma_alloc_coherent(&dev, 300, &mut handle, Gfp::KERNEL);
        assert!(!ring.is_null());
        assert_eq!(device_view(&checker, &dev, handle, 300), vec![0; 300]);
        // SAFETY: ring is a live coherent allocation of at least 300 bytes.
        unsafe { ring.add(299).write(7) };
        assert_eq!(device_view(&checker, &dev, handle + 299, 1), [7]);
        dma_free_coherent(&dev, 300, ring, handle);

        let page = alloc_pages(&checker, Gfp::KERNEL, 1).unwrap();
        let dma = dma_map_page(&dev, page, PAGE_SIZE, 64, Direction::FromDevice);
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        assert_eq!(
            checker
                .memory()
                .phys_of(page_address(page).wrapping_add(PAGE_SIZE), 64),
            Ok(dma)
        );
        dma_unmap_page(&dev, dma, 64, Direction::FromDevice);
        free_pages(&checker, page, 1);
        checker.assert_clean();
        assert_eq!(
            checker.memory().bytes_in_use(),
            PAGE_SIZE,
            "one slab page stays"
        );
    }
}
