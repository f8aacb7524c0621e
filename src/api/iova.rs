//! The two-step IOVA API (Linux 6.17, Documentation/core-api/dma-api.rst Part Ie): reserve I/O
//! virtual address space once (`dma_iova_try_alloc`), link memory into it piece by piece
//! (`dma_iova_link`, then `dma_iova_sync` for the IOTLB), unlink (`dma_iova_unlink`) and give it
//! back (`dma_iova_destroy`, `dma_iova_free`). Only behind an IOMMU; elsewhere
//! `dma_iova_try_alloc` is false and the driver uses the streaming calls.
//!
//! Each link is a streaming page entry at its IOVA (named `dma_iova_link`), so ownership, syncs,
//! the device model and leaks treat it as any mapping; the device keeps its spaces.

use std::collections::BTreeMap;

use crate::backend::MapError;
use crate::device::Device;
use crate::event::{Event, Op};
use crate::rules::{self, Finding, Findings};
use crate::state::managed::IovaSpace;
use crate::types::{Direction, DmaAddr, DmaAttrs, MapKind, PAGE_SIZE};

use super::{event, release, report_refusal, unmap_event};

/// `struct dma_iova_state`: the space `dma_iova_try_alloc` reserved; all zero when none.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DmaIovaState {
    /// The first I/O virtual address of the space.
    pub addr: DmaAddr,
    /// Its size in bytes (the kernel's `__size`); 0: no space.
    pub size: u64,
}

const PAGE: u64 = PAGE_SIZE as u64;
const EINVAL: i32 = 22;
const EIO: i32 = 5;

/// Whether the IOVA API is in use for `state` (`dma_use_iova`).
pub fn dma_use_iova(state: &DmaIovaState) -> bool {
    state.size != 0
}

/// Reserve I/O virtual address space for `size` bytes whose first byte lies `phys % PAGE_SIZE`
/// into a page (`dma_iova_try_alloc`). False, with `state` cleared, where the device has no
/// IOMMU or the space is not there: use the streaming calls then.
#[track_caller]
pub fn dma_iova_try_alloc(dev: &Device, state: &mut DmaIovaState, phys: u64, size: usize) -> bool {
    *state = DmaIovaState::default();
    let mut ev = event(dev, Op::Map, "dma_iova_try_alloc", MapKind::Page);
    ev.size = size as u64;
    let Some(admitted) = dev.admit_or_report(&ev) else {
        return false;
    };
    let mut out = Findings::new();
    if size == 0 {
        // The kernel's WARN_ON_ONCE(!size).
        out.push(rules::modern::iova_zero_size());
    } else if let Some(addr) = dev
        .backend()
        .iova_reserve(&dev.params(), phys % PAGE, size as u64)
    {
        *state = DmaIovaState {
            addr,
            size: size as u64,
        };
        dev.0.iova_spaces.lock().push(IovaSpace {
            addr,
            size: size as u64,
            links: BTreeMap::new(),
        });
    }
    drop(admitted);
    dev.checker().inner().finish(&ev, out);
    dma_use_iova(state)
}

/// The I/O pages `len` bytes at `at` touch.
fn pages(at: DmaAddr, len: u64) -> std::ops::Range<u64> {
    at / PAGE..(at + len.max(1)).div_ceil(PAGE)
}

/// Link `size` bytes of memory at `phys` into the space at `offset` (`dma_iova_link`): the
/// device owns them from here, as after a map. 0; `-EINVAL` for a state, range or overlap the
/// space cannot take, `-EIO` for memory that is not DMA-able (each reported).
#[track_caller]
pub fn dma_iova_link(
    dev: &Device,
    state: &DmaIovaState,
    phys: u64,
    offset: usize,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
) -> i32 {
    let mut ev = event(dev, Op::Map, "dma_iova_link", MapKind::Page);
    (ev.size, ev.dir, ev.attrs) = (size as u64, dir, attrs);
    ev.dma_addr = state.addr.saturating_add(offset as u64);
    let Some(admitted) = dev.admit_or_report(&ev) else {
        return -EINVAL;
    };
    let c = dev.checker().inner();
    let mut out = Findings::new();
    let rc = link(dev, state, phys, offset as u64, &mut ev, &mut out);
    drop(admitted);
    c.finish(&ev, out);
    rc
}

fn link(
    dev: &Device,
    state: &DmaIovaState,
    phys: u64,
    offset: u64,
    ev: &mut Event,
    out: &mut Findings,
) -> i32 {
    if !rules::map::check_direction(ev, out) || !rules::map::check_map_range(ev, phys, out) {
        return -EINVAL;
    }
    let mut spaces = dev.0.iova_spaces.lock();
    let Some(space) = spaces.iter_mut().find(|s| s.addr == state.addr) else {
        out.push(not_allocated(state));
        return -EINVAL;
    };
    let at = space.addr + offset;
    if offset
        .checked_add(ev.size)
        .is_none_or(|end| end > space.size)
        || at % PAGE != phys % PAGE
    {
        out.push(rules::modern::iova_link_out_of_range(
            at % PAGE != phys % PAGE,
            offset,
            ev.size,
            space.size,
        ));
        return -EINVAL;
    }
    let new = pages(at, ev.size);
    if let Some((&o, &l)) = space.links.iter().find(|&(&o, &l)| {
        let old = pages(space.addr + o, l);
        old.start < new.end && new.start < old.end
    }) {
        out.push(rules::modern::iova_link_overlap(offset, o, l));
        return -EINVAL;
    }
    let c = dev.checker().inner();
    let Some(cpu) = c.memory.cpu_of(phys, ev.size) else {
        report_refusal(dev, ev, &MapError::NotDmaMemory { cpu_addr: phys }, out);
        return -EIO;
    };
    dev.backend().iova_link(&dev.params(), at, phys, ev.size);
    ev.cpu_addr = Some(cpu.as_ptr().addr() as u64);
    c.record_map(ev, out);
    // A link has no DMA_MAPPING_ERROR to test: its return value is the test.
    c.record_error_check(ev.device, at);
    space.links.insert(offset, ev.size);
    0
}

fn not_allocated(state: &DmaIovaState) -> Finding {
    rules::modern::iova_not_allocated(state.addr, state.size)
}

/// Make links of the space visible to the device (`dma_iova_sync`: the IOTLB). 0, or
/// `-EINVAL` for a state or range the space does not have (reported).
#[track_caller]
pub fn dma_iova_sync(dev: &Device, state: &DmaIovaState, offset: usize, size: usize) -> i32 {
    let mut ev = event(dev, Op::SyncForDevice, "dma_iova_sync", MapKind::Page);
    (ev.dma_addr, ev.size) = (state.addr.saturating_add(offset as u64), size as u64);
    let Some(admitted) = dev.admit_or_report(&ev) else {
        return -EINVAL;
    };
    let mut out = Findings::new();
    let within = dev
        .0
        .iova_spaces
        .lock()
        .iter()
        .find(|s| s.addr == state.addr)
        .map(|s| {
            (offset as u64)
                .checked_add(size as u64)
                .is_some_and(|e| e <= s.size)
        });
    let rc = match within {
        None => {
            out.push(not_allocated(state));
            -EINVAL
        }
        Some(false) => {
            out.push(rules::modern::iova_sync_out_of_range(
                offset as u64,
                size as u64,
            ));
            -EINVAL
        }
        Some(true) => 0,
    };
    drop(admitted);
    dev.checker().inner().finish(&ev, out);
    rc
}

/// Unlink the links in `size` bytes at `offset` of the space (`dma_iova_unlink`): each ends as
/// an unmap would end it (the CPU owns the memory again). A link the range cuts through is
/// reported and stays; a range with no link is an unknown unmap.
#[track_caller]
pub fn dma_iova_unlink(
    dev: &Device,
    state: &DmaIovaState,
    offset: usize,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
) {
    let (start, len) = (offset as u64, size as u64);
    unlink(dev, state, start, len, dir, attrs, "dma_iova_unlink");
}

#[track_caller]
fn unlink(
    dev: &Device,
    state: &DmaIovaState,
    start: u64,
    len: u64,
    dir: Direction,
    attrs: DmaAttrs,
    call: &'static str,
) {
    let end = start.saturating_add(len);
    let found = {
        let mut spaces = dev.0.iova_spaces.lock();
        spaces
            .iter_mut()
            .find(|s| s.addr == state.addr)
            .map(|space| {
                let (mut whole, mut cut) = (Vec::new(), Vec::new());
                for (&o, &l) in &space.links {
                    if start <= o && o + l <= end {
                        whole.push((o, l));
                    } else if o < end && start < o + l {
                        cut.push((o, l));
                    }
                }
                for (o, _) in &whole {
                    space.links.remove(o);
                }
                (whole, cut)
            })
    };
    let c = dev.checker().inner();
    let Some((whole, cut)) = found else {
        let mut ev = unmap_event(
            dev,
            call,
            MapKind::Page,
            state.addr,
            len as usize,
            dir,
            attrs,
        );
        ev.offset = start;
        if let Some(admitted) = dev.admit_or_report(&ev) {
            drop(admitted);
            c.finish(&ev, [not_allocated(state)].into_iter().collect());
        }
        return;
    };
    for (o, l) in &cut {
        let ev = unmap_event(
            dev,
            call,
            MapKind::Page,
            state.addr + o,
            *l as usize,
            dir,
            attrs,
        );
        let f = rules::modern::iova_unlink_partial(start, len, *o, *l);
        c.finish(&ev, [f].into_iter().collect());
    }
    if whole.is_empty() && cut.is_empty() {
        // Nothing linked there: the release path reports the unknown address.
        let dma = state.addr.saturating_add(start);
        release(
            dev,
            &unmap_event(dev, call, MapKind::Page, dma, len as usize, dir, attrs),
        );
    }
    for (o, l) in whole {
        let dma = state.addr + o;
        release(
            dev,
            &unmap_event(dev, call, MapKind::Page, dma, l as usize, dir, attrs),
        );
    }
}

/// Unlink the first `mapped_len` bytes of the space and free it (`dma_iova_destroy`); the
/// state is cleared. Links past `mapped_len` are reported and ended.
#[track_caller]
pub fn dma_iova_destroy(
    dev: &Device,
    state: &mut DmaIovaState,
    mapped_len: usize,
    dir: Direction,
    attrs: DmaAttrs,
) {
    if mapped_len > 0 {
        unlink(
            dev,
            state,
            0,
            mapped_len as u64,
            dir,
            attrs,
            "dma_iova_destroy",
        );
    }
    free(dev, state, dir, "dma_iova_destroy");
}

/// Free the space (`dma_iova_free`), which should have nothing linked; the state is cleared.
#[track_caller]
pub fn dma_iova_free(dev: &Device, state: &mut DmaIovaState) {
    free(dev, state, Direction::Bidirectional, "dma_iova_free");
}

#[track_caller]
fn free(dev: &Device, state: &mut DmaIovaState, dir: Direction, call: &'static str) {
    let space = {
        let mut spaces = dev.0.iova_spaces.lock();
        let at = spaces.iter().position(|s| s.addr == state.addr);
        at.map(|i| spaces.swap_remove(i))
    };
    let c = dev.checker().inner();
    let Some(space) = space else {
        let ev = unmap_event(
            dev,
            call,
            MapKind::Page,
            state.addr,
            0,
            dir,
            DmaAttrs::empty(),
        );
        if let Some(admitted) = dev.admit_or_report(&ev) {
            drop(admitted);
            c.finish(&ev, [not_allocated(state)].into_iter().collect());
        }
        return;
    };
    for (o, l) in space.links {
        let dma = space.addr + o;
        let mut ev = unmap_event(
            dev,
            call,
            MapKind::Page,
            dma,
            l as usize,
            dir,
            DmaAttrs::empty(),
        );
        let f = rules::modern::iova_free_linked(o, l);
        // End the link as an unmap would, with the values it was made with, so nothing else
        // is reported about it.
        c.tracker.for_each_mut(|e| {
            if e.device == dev.id() && e.dma_addr == dma && e.kind == MapKind::Page {
                (ev.dir, ev.attrs) = (e.dir, e.attrs);
            }
        });
        super::release_with(dev, &ev, [f].into_iter().collect());
    }
    dev.backend().iova_free(&dev.params(), space.addr);
    *state = DmaIovaState::default();
}
