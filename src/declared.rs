//! Declared coherent memory (`dma_declare_coherent_memory`): a region of memory at a bus
//! address that a device reaches at its own device address, from which the device's coherent
//! allocations are served (page granular), with or without fallback to ordinary memory. The
//! memory is usually on the device (outside host memory: dmacheck backs it with memory of its
//! own), or a carve-out of host memory.
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

use crate::backend::PhysMemory;
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
/// Every device access asks, page by page: the devices are borrowed, not cloned.
pub(crate) fn translate(dev: &Device, dma: DmaAddr) -> Option<PhysAddr> {
    let mut device = Some(dev);
    while let Some(d) = device {
        if let Some(phys) = d.0.declared.translate(dma) {
            return Some(phys);
        }
        device = d.parent_ref();
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
/// (`dma_declare_coherent_memory`). The memory is the device's own (SRAM, a BAR: a bus
/// address outside host memory, for which dmacheck sets memory aside so that the CPU's view
/// and the device model reach the same bytes; `virt_to_phys` of its CPU addresses names that
/// memory), or a carve-out of host memory the platform reserved. Returns `DMA_MEMORY_MAP` or
/// `DMA_MEMORY_IO` (whichever was asked for, MAP first), or 0 on failure, which is reported.
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
    let memory = dev.checker().memory();
    let straddles = |size| window(memory, bus_addr, size) == Window::Straddling;
    let has_region = || dev.0.declared.active().is_some();
    let mut out = Findings::new();
    let declared = (bus_addr, device_addr, size, flags);
    let usable = rules::regions::check_declaration(declared, straddles, has_region, &mut out);
    let result = if !usable {
        0
    } else {
        let pages = size as u64 / PAGE;
        // Memory on the device (outside host memory) is backed by memory dmacheck sets aside,
        // so the CPU's mapping of it and the device model reach the same bytes.
        let backing = match window(memory, bus_addr, size as u64) {
            Window::HostMemory => Some((bus_addr, None)),
            _ => device_memory(memory, size as u64).map(|phys| (phys, Some(phys))),
        };
        let Some((bus, backing)) = backing else {
            out.push(rules::regions::no_backing(bus_addr, size as u64));
            dev.checker().inner().finish(&ev, out);
            return 0;
        };
        dev.0.declared.push(Region {
            bus,
            backing,
            device_addr,
            pages,
            flags,
            state: Mutex::new(RegionState {
                free: FreeRanges::new(0, pages),
                ..RegionState::default()
            }),
        });
        if flags & DMA_MEMORY_MAP != 0 {
            DMA_MEMORY_MAP
        } else {
            DMA_MEMORY_IO
        }
    };
    dev.checker().inner().finish(&ev, out);
    result
}

/// Where a declared range lies.
#[derive(PartialEq, Eq)]
enum Window {
    /// In host memory: a carve-out of RAM the platform reserved.
    HostMemory,
    /// Wholly outside host memory: memory on the device (SRAM, a BAR).
    DeviceMemory,
    /// Partly in host memory: no sensible region.
    Straddling,
}

fn window(memory: &PhysMemory, bus: PhysAddr, size: u64) -> Window {
    let end = bus.saturating_add(size);
    if memory.cpu_of(bus, size).is_some() {
        Window::HostMemory
    } else if end <= memory.phys_base() || bus >= memory.phys_end() {
        Window::DeviceMemory
    } else {
        Window::Straddling
    }
}

/// Memory of `size` bytes to stand for a device's memory: its physical address.
fn device_memory(memory: &PhysMemory, size: u64) -> Option<PhysAddr> {
    let cpu = memory.alloc_coherent(size, PhysAddr::MAX)?;
    memory.phys_of(cpu.as_ptr(), size).ok()
}

/// Free the memory standing for a region's device memory, if it has any.
fn release_backing(memory: &PhysMemory, region: &Region) {
    if let Some(cpu) = region.backing.and_then(|phys| memory.cpu_of(phys, 1)) {
        // Its guard is nobody's business: the region handed out whole pages only.
        let _ = memory.free_coherent(cpu, region.pages * PAGE);
    }
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
            release_backing(dev.checker().memory(), &region);
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
