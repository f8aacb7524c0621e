//! Noncoherent memory (`dma_alloc_noncoherent`, `dma_cache_sync`): memory the driver keeps
//! consistent itself. On a coherent platform (the direct and IOMMU backends) the CPU and the
//! device see the same bytes and the syncs are no-ops, as the seed allows; behind bounce
//! buffers — a non-coherent platform — they see separate copies, and bytes move only at
//! `dma_cache_sync`, so a missing one shows as stale data. Either way ownership is tracked as
//! for streaming mappings: the CPU owns the memory after the allocation and after a sync
//! `DMA_FROM_DEVICE`, the device after a sync `DMA_TO_DEVICE` or `DMA_BIDIRECTIONAL`.

use std::ptr;

use crate::device::Device;
use crate::event::{Event, Op};
use crate::faults::FaultKind;
use crate::rules;
use crate::rules::Findings;

use crate::state::noncoherent::Buffer;
use crate::tracker::Entry;
use crate::types::{DMA_MAPPING_ERROR, Direction, DmaAddr, Gfp, MapKind, PhysAddr};

/// Allocate `size` bytes of noncoherent memory (`dma_alloc_noncoherent`): the CPU address, and
/// the DMA address in `dma_handle`; NULL on failure. The CPU owns it first.
#[track_caller]
pub fn dma_alloc_noncoherent(
    dev: &Device,
    size: usize,
    dma_handle: &mut DmaAddr,
    gfp: Gfp,
) -> *mut u8 {
    let c = dev.checker().inner();
    let mut ev = Event::new(
        Op::Map,
        "dma_alloc_noncoherent",
        MapKind::Noncoherent,
        dev.id(),
        dev.checker().capture_site(),
    );
    (ev.size, ev.dir) = (size as u64, Direction::Bidirectional);
    *dma_handle = DMA_MAPPING_ERROR;
    let mut out = Findings::new();
    // Held until the entry is recorded, so a racing release reports it or refuses this call.
    let Some(admitted) = dev.admit() else {
        out.push(rules::lifetime::released(dev.is_invalid()));
        c.finish(&ev, out);
        return ptr::null_mut();
    };
    rules::context::check_alloc(&ev, gfp, &mut out);
    if !rules::map::check_alloc_size(size, &mut out) {
        c.finish(&ev, out);
        return ptr::null_mut();
    }
    let allocated = (!c.faults.should_fail(FaultKind::Alloc, dev.name()))
        .then(|| {
            dev.backend()
                .alloc_coherent(&dev.params(), size as u64, gfp)
                .ok()
        })
        .flatten();
    let Some((dev_cpu, dma)) = allocated else {
        c.finish(&ev, out);
        return ptr::null_mut();
    };
    let dev_phys = c
        .memory
        .phys_of(dev_cpu.as_ptr(), size as u64)
        .expect("inside the arena");
    // A non-coherent platform: the CPU works on its own copy.
    let cpu = if dev.backend().is_coherent() {
        Some(dev_cpu)
    } else {
        c.memory.alloc_coherent(size as u64, PhysAddr::MAX)
    };
    let Some(cpu) = cpu else {
        let _ = dev.backend().free_coherent(&dev.params(), dma, size as u64);
        c.finish(&ev, out);
        return ptr::null_mut();
    };
    let cpu_phys = c
        .memory
        .phys_of(cpu.as_ptr(), size as u64)
        .expect("inside the arena");
    let start = cpu.as_ptr().addr() as u64;
    c.noncoherent.0.lock().insert(
        start,
        Buffer {
            device: dev.id(),
            dma,
            size: size as u64,
            cpu_phys,
            dev_phys,
        },
    );
    (ev.dma_addr, ev.cpu_addr) = (dma, Some(start));
    c.record_map(&ev, &mut out);
    drop(admitted);
    c.finish(&ev, out);
    *dma_handle = dma;
    cpu.as_ptr()
}

/// Free noncoherent memory (`dma_free_noncoherent`), with the values the allocation returned.
#[track_caller]
pub fn dma_free_noncoherent(dev: &Device, size: usize, cpu_addr: *const u8, dma_handle: DmaAddr) {
    let c = dev.checker().inner();
    let mut ev = Event::new(
        Op::Unmap,
        "dma_free_noncoherent",
        MapKind::Noncoherent,
        dev.id(),
        dev.checker().capture_site(),
    );
    (ev.dma_addr, ev.size, ev.dir, ev.cpu_addr) = (
        dma_handle,
        size as u64,
        Direction::Bidirectional,
        Some(cpu_addr.addr() as u64),
    );
    let mut out = Findings::new();
    let admitted = dev.admit();
    if admitted.is_none() {
        out.push(rules::lifetime::released(dev.is_invalid()));
    } else if let Some(entry) = c.record_release(&ev, &mut out) {
        release(dev, &entry, &mut out);
    }
    drop(admitted);
    c.finish(&ev, out);
}

/// Free what a noncoherent entry says was allocated (both copies).
pub(crate) fn release(dev: &Device, e: &Entry, out: &mut Findings) {
    let c = dev.checker().inner();
    let buffer = c.noncoherent.0.lock().remove(&e.cpu_addr);
    if dev
        .backend()
        .free_coherent(&dev.params(), e.dma_addr, e.size)
        .is_err()
    {
        out.push(rules::ownership::overrun(e));
    }
    if let Some(b) = buffer.filter(|b| b.cpu_phys != b.dev_phys) {
        if let Some(cpu) = c.memory.cpu_of(b.cpu_phys, b.size) {
            let _ = c.memory.free_coherent(cpu, b.size);
        }
    }
}

/// Make `size` bytes of noncoherent memory at `vaddr` consistent in direction `dir`
/// (`dma_cache_sync`): `DMA_TO_DEVICE` writes the CPU's bytes back for the device (which then
/// owns them), `DMA_FROM_DEVICE` brings the device's bytes to the CPU (which then owns them),
/// `DMA_BIDIRECTIONAL` does the first and hands them to the device. Start and length should be
/// multiples of `dma_get_cache_alignment()`.
#[track_caller]
pub fn dma_cache_sync(dev: &Device, vaddr: *const u8, size: usize, dir: Direction) {
    let c = dev.checker().inner();
    let op = if dir == Direction::FromDevice {
        Op::SyncForCpu
    } else {
        Op::SyncForDevice
    };
    let mut ev = Event::new(
        op,
        "dma_cache_sync",
        MapKind::Noncoherent,
        dev.id(),
        dev.checker().capture_site(),
    );
    (ev.size, ev.dir, ev.cpu_addr) = (size as u64, dir, Some(vaddr.addr() as u64));
    let mut out = Findings::new();
    let cpu = vaddr.addr() as u64;
    let found = c
        .noncoherent
        .containing(cpu)
        .filter(|(_, b)| b.device == dev.id());
    let admitted = dev.admit();
    if admitted.is_none() {
        out.push(rules::lifetime::released(dev.is_invalid()));
    } else if let Some((start, b)) = found {
        (ev.dma_addr, ev.offset) = (b.dma, cpu - start);
        if let Some((from, len)) = c.record_sync(&ev, &mut out) {
            let offset = from - b.dma;
            if b.cpu_phys != b.dev_phys {
                match op {
                    Op::SyncForCpu => c.memory.copy(b.dev_phys + offset, b.cpu_phys + offset, len),
                    _ => c.memory.copy(b.cpu_phys + offset, b.dev_phys + offset, len),
                };
            }
        }
    } else {
        ev.dma_addr = cpu;
        out.push(rules::sync::cache_sync_unknown(cpu, size as u64));
    }
    drop(admitted);
    c.finish(&ev, out);
}

/// Whether the device does consistent DMA on the memory at `dma_handle` (`dma_is_consistent`):
/// 0 only for noncoherent memory on a non-coherent platform (bounce buffering), else 1.
pub fn dma_is_consistent(dev: &Device, dma_handle: DmaAddr) -> i32 {
    let noncoherent = dev
        .checker()
        .inner()
        .noncoherent
        .0
        .lock()
        .values()
        .any(|b| b.device == dev.id() && b.dma == dma_handle && b.cpu_phys != b.dev_phys);
    i32::from(!noncoherent)
}
