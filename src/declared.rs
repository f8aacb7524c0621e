//! Declared coherent memory (`dma_declare_coherent_memory`): a region of memory at a bus
//! address that a device reaches at its own device address, from which the device's coherent
//! allocations are served (page granular), with or without fallback to ordinary memory.
//!
//! ```
//! use dmacheck::*;
//!
//! let checker = Checker::builder().env(false).build();
//! let dev = checker.device("sram0").build();
//! // A carve-out: 16 pages the platform reserved, which the device sees at 0x8000_0000.
//! let carve = alloc_pages(&checker, Gfp::KERNEL, 4).unwrap();
//! let bus = virt_to_phys(&checker, page_address(carve)).unwrap();
//! let flags = DMA_MEMORY_MAP | DMA_MEMORY_EXCLUSIVE;
//! assert_eq!(dma_declare_coherent_memory(&dev, bus, 0x8000_0000, 16 * PAGE_SIZE, flags), DMA_MEMORY_MAP);
//! let mut dma = 0;
//! let cpu = dma_alloc_coherent(&dev, 4096, &mut dma, Gfp::KERNEL);
//! assert!(!cpu.is_null() && (0x8000_0000..0x8001_0000).contains(&dma));
//! dma_free_coherent(&dev, 4096, cpu, dma);
//! dma_release_declared_memory(&dev);
//! free_pages(&checker, carve, 4);
//! checker.assert_clean();
//! ```

use std::ptr::NonNull;

use crate::backend::ranges::FreeRanges;
use crate::device::Device;
use crate::event::{Event, Op};
use crate::rules;
use crate::rules::Findings;
use crate::state::declared::{Region, RegionState};
use crate::sync::{Arc, Mutex};
use crate::types::{DmaAddr, EBUSY, EINVAL, MapKind, PAGE_SIZE, PhysAddr};

pub use crate::types::{
    DMA_MEMORY_EXCLUSIVE, DMA_MEMORY_INCLUDES_CHILDREN, DMA_MEMORY_IO, DMA_MEMORY_MAP,
};

const PAGE: u64 = PAGE_SIZE as u64;

/// The region serving `dev`'s coherent allocations: its own, or an ancestor's that includes
/// children.
fn serving_region(dev: &Device) -> Option<Arc<Region>> {
    if let Some(r) = dev.0.declared.active() {
        return Some(r);
    }
    let mut parent = dev.parent();
    while let Some(p) = parent {
        if let Some(r) =
            p.0.declared
                .active()
                .filter(|r| r.flags & DMA_MEMORY_INCLUDES_CHILDREN != 0)
        {
            return Some(r);
        }
        parent = p.parent();
    }
    None
}

/// What the coherent allocator should do for `dev`.
pub(crate) enum Served {
    /// Allocated from a declared region.
    Region(NonNull<u8>, DmaAddr),
    /// The region is exclusive and full: the allocation fails.
    Refused,
    /// No region, or it may fall back: allocate as usual.
    Elsewhere,
}

/// Serve a coherent allocation from `dev`'s declared region, if it has one.
pub(crate) fn alloc(dev: &Device, size: u64) -> Served {
    let Some(region) = serving_region(dev) else {
        return Served::Elsewhere;
    };
    match region.alloc(dev.checker().memory(), size) {
        Some((cpu, dma)) => Served::Region(cpu, dma),
        None if region.flags & DMA_MEMORY_EXCLUSIVE != 0 => Served::Refused,
        None => Served::Elsewhere,
    }
}

/// Give a coherent allocation back to the declared region it came from; `false` if it came
/// from ordinary memory.
pub(crate) fn free(dev: &Device, dma: DmaAddr) -> bool {
    let mut device = Some(dev.clone());
    while let Some(d) = device {
        if d.0.declared.all().iter().any(|r| r.free(dma)) {
            return true;
        }
        device = d.parent();
    }
    false
}

/// The physical address behind `dma` if it lies in a region `dev` allocates from.
pub(crate) fn translate(dev: &Device, dma: DmaAddr) -> Option<PhysAddr> {
    let mut device = Some(dev.clone());
    while let Some(d) = device {
        if let Some(phys) = d.0.declared.all().iter().find_map(|r| r.translate(dma)) {
            return Some(phys);
        }
        device = d.parent();
    }
    None
}

#[track_caller]
fn event(dev: &Device, op: Op, call: &'static str) -> Event {
    Event::new(
        op,
        call,
        MapKind::Coherent,
        dev.id(),
        dev.checker().capture_site(),
    )
}

/// Declare `size` bytes of memory at bus (physical) address `bus_addr`, which the device
/// reaches at `device_addr`, as the source of its coherent allocations
/// (`dma_declare_coherent_memory`). Returns `DMA_MEMORY_MAP` or `DMA_MEMORY_IO` (whichever
/// was asked for, MAP first), or 0 on failure, which is reported.
#[track_caller]
pub fn dma_declare_coherent_memory(
    dev: &Device,
    bus_addr: PhysAddr,
    device_addr: DmaAddr,
    size: usize,
    flags: i32,
) -> i32 {
    let mut ev = event(dev, Op::MemoryAlloc, "dma_declare_coherent_memory");
    (ev.dma_addr, ev.size) = (device_addr, size as u64);
    let bus_is_memory = |size| dev.checker().memory().cpu_of(bus_addr, size).is_some();
    let has_region = || dev.0.declared.active().is_some();
    let mut out = Findings::new();
    let declared = (bus_addr, device_addr, size, flags);
    let usable = rules::regions::check_declaration(declared, bus_is_memory, has_region, &mut out);
    let result = if !usable {
        0
    } else {
        let pages = size as u64 / PAGE;
        dev.0.declared.0.lock().push(Arc::new(Region {
            bus: bus_addr,
            device_addr,
            pages,
            flags,
            state: Mutex::new(RegionState {
                free: FreeRanges::new(0, pages),
                ..RegionState::default()
            }),
        }));
        if flags & DMA_MEMORY_MAP != 0 {
            DMA_MEMORY_MAP
        } else {
            DMA_MEMORY_IO
        }
    };
    dev.checker().inner().finish(&ev, out);
    result
}

/// Remove the device's declared region (`dma_release_declared_memory`). Live allocations from it
/// are reported (the kernel does not check); they can still be freed.
#[track_caller]
pub fn dma_release_declared_memory(dev: &Device) {
    let ev = event(dev, Op::MemoryFree, "dma_release_declared_memory");
    let mut out = Findings::new();
    if let Some(region) = dev.0.declared.active() {
        let mut state = region.state.lock();
        state.retired = true;
        let live_bytes = state.live.values().sum::<u64>() * PAGE;
        rules::regions::check_release(region.device_addr, state.live.len(), live_bytes, &mut out);
        let empty = state.live.is_empty();
        drop(state);
        if empty {
            dev.0.declared.0.lock().retain(|r| !Arc::ptr_eq(r, &region));
        }
    }
    dev.checker().inner().finish(&ev, out);
}

/// Occupy `size` bytes of the declared region at device address `device_addr`, so allocations
/// avoid them (`dma_mark_declared_memory_occupied`): the CPU address, or `-EINVAL` (outside the
/// region, or no region) or `-EBUSY` (part already occupied).
pub fn dma_mark_declared_memory_occupied(
    dev: &Device,
    device_addr: DmaAddr,
    size: usize,
) -> Result<*mut u8, i32> {
    let region = dev.0.declared.active().ok_or(-EINVAL)?;
    let first = region.page_of(device_addr).ok_or(-EINVAL)?;
    let pages = (device_addr % PAGE)
        .checked_add(size as u64)
        .ok_or(-EINVAL)?
        .div_ceil(PAGE);
    if pages == 0 || first + pages > region.pages {
        return Err(-EINVAL);
    }
    let mut state = region.state.lock();
    // Occupied pages are the driver's for good: not allocations, so not "in use" at release.
    if !state.free.take_exact(first, pages) {
        return Err(-EBUSY);
    }
    drop(state);
    dev.checker()
        .memory()
        .cpu_of(region.bus + first * PAGE + device_addr % PAGE, size as u64)
        .map(|p| p.as_ptr())
        .ok_or(-EINVAL)
}
