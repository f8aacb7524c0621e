//! A device's declared coherent regions: their free pages and live allocations. The device
//! holds them; the calls are in `src/declared.rs`.

use std::collections::HashMap;
use std::ptr::NonNull;

use crate::backend::PhysMemory;
use crate::backend::ranges::FreeRanges;
use crate::sync::{Arc, Mutex};
use crate::types::{DmaAddr, PAGE_SIZE, PhysAddr};

const PAGE: u64 = PAGE_SIZE as u64;

/// One declared region.
pub(crate) struct Region {
    /// Where its bytes are in the checker's memory: the bus address for host memory, the
    /// backing for device memory.
    pub(crate) bus: PhysAddr,
    /// The memory standing for device memory (its physical address), freed with the region.
    pub(crate) backing: Option<PhysAddr>,
    pub(crate) device_addr: DmaAddr,
    pub(crate) pages: u64,
    pub(crate) flags: i32,
    pub(crate) state: Mutex<RegionState>,
}

#[derive(Default)]
pub(crate) struct RegionState {
    pub(crate) free: FreeRanges,
    /// Live allocations: first page -> pages.
    pub(crate) live: HashMap<u64, u64>,
    /// Released by the driver: no new allocations, frees still served.
    pub(crate) retired: bool,
}

impl Region {
    /// The CPU address and DMA address of `size` bytes taken from the region.
    pub(crate) fn alloc(&self, memory: &PhysMemory, size: u64) -> Option<(NonNull<u8>, DmaAddr)> {
        let pages = size.div_ceil(PAGE);
        let mut state = self.state.lock();
        if state.retired {
            return None;
        }
        let first = state.free.take_lowest(pages, 1, 0, self.pages)?;
        state.live.insert(first, pages);
        drop(state);
        let cpu = memory.cpu_of(self.bus + first * PAGE, size)?;
        memory.mark_dirty(self.bus + first * PAGE, pages * PAGE);
        memory.fill(self.bus + first * PAGE, pages * PAGE, 0);
        Some((cpu, self.device_addr + first * PAGE))
    }

    /// Take an allocation at `dma` back; `false` if it is not one of this region's.
    pub(crate) fn free(&self, dma: DmaAddr) -> bool {
        let Some(first) = self.page_of(dma) else {
            return false;
        };
        let mut state = self.state.lock();
        match state.live.remove(&first) {
            Some(pages) => {
                state.free.give(first, pages);
                true
            }
            None => false,
        }
    }

    pub(crate) fn page_of(&self, dma: DmaAddr) -> Option<u64> {
        let offset = dma.checked_sub(self.device_addr)?;
        (offset < self.pages * PAGE).then_some(offset / PAGE)
    }

    /// The physical address behind a device address of the region.
    pub(crate) fn translate(&self, dma: DmaAddr) -> Option<PhysAddr> {
        self.page_of(dma)
            .map(|_| self.bus + (dma - self.device_addr))
    }
}

/// A device's declared regions: the active one, and released ones whose allocations live on;
/// and whether it ever had one (most devices never do, and every device access asks: a load
/// instead of a lock). Std's atomic: set once, before any access through the region.
#[derive(Default)]
pub(crate) struct DeviceRegions(
    pub(crate) Mutex<Vec<Arc<Region>>>,
    std::sync::atomic::AtomicBool,
);

impl DeviceRegions {
    /// Add a region.
    pub(crate) fn push(&self, region: Region) {
        self.0.lock().push(Arc::new(region));
        self.1.store(true, std::sync::atomic::Ordering::Release);
    }

    pub(crate) fn active(&self) -> Option<Arc<Region>> {
        self.0
            .lock()
            .iter()
            .find(|r| !r.state.lock().retired)
            .cloned()
    }

    /// The physical address behind `dma` if it lies in one of the regions.
    pub(crate) fn translate(&self, dma: DmaAddr) -> Option<PhysAddr> {
        if !self.1.load(std::sync::atomic::Ordering::Acquire) {
            return None;
        }
        self.0.lock().iter().find_map(|r| r.translate(dma))
    }

    pub(crate) fn all(&self) -> Vec<Arc<Region>> {
        self.0.lock().clone()
    }
}
