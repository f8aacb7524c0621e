//! A CMA area's state: its bitmap and live allocations. The checker lists its areas, a device
//! names its own; the calls are in `src/cma.rs`.

use std::collections::HashMap;

use crate::backend::ranges::FreeRanges;
use crate::event::DeviceId;
use crate::site::Site;
use crate::sync::{Arc, Mutex};

/// A contiguous memory area. Cheap to clone; clones are the same area.
#[derive(Clone)]
pub struct CmaArea(pub(crate) Arc<AreaInner>);

pub(crate) struct AreaInner {
    /// The area's first page frame number (physical address >> `PAGE_SHIFT`).
    pub(crate) base_pfn: u64,
    /// Declared for one device (`dma_declare_contiguous` with a device): never the default.
    pub(crate) device_only: bool,
    pub(crate) count: u64,
    pub(crate) max_order: u32,
    pub(crate) state: Mutex<AreaState>,
}

#[derive(Default)]
pub(crate) struct AreaState {
    /// The bitmap, as the free runs of page frame numbers of the area (absolute, so alignment
    /// is of the page frame number itself).
    pub(crate) free: FreeRanges,
    /// Live allocations: first page frame number -> (pages, device, where allocated).
    pub(crate) live: HashMap<u64, (u64, DeviceId, Site)>,
    /// Released allocations: first page frame number -> where released.
    pub(crate) released: HashMap<u64, Site>,
}

impl CmaArea {
    /// The first page frame number and the number of pages.
    pub fn range(&self) -> (u64, u64) {
        (self.0.base_pfn, self.0.count)
    }

    /// Pages free in the area's bitmap (leaked pages stay taken).
    pub fn free_pages(&self) -> u64 {
        self.0.state.lock().free.free_units()
    }

    /// The live allocations of `device`: (page frame number, pages, where allocated).
    pub(crate) fn live_of(&self, device: DeviceId) -> Vec<(u64, u64, Site)> {
        let state = self.0.state.lock();
        let mut live: Vec<_> = state
            .live
            .iter()
            .filter(|(_, (_, d, _))| *d == device)
            .map(|(&pfn, (n, _, site))| (pfn, *n, *site))
            .collect();
        live.sort_by_key(|&(pfn, _, _)| pfn);
        live
    }

    /// Forget the live allocations of `device` (its release reported them).
    pub(crate) fn forget(&self, device: DeviceId) {
        self.0.state.lock().live.retain(|_, (_, d, _)| *d != device);
    }
}

/// The CMA allocations of `device` still live at its release (page frame number, pages, where
/// allocated), forgotten by their areas: the release reports them as leaks.
pub(crate) fn take_live(areas: &[CmaArea], device: DeviceId) -> Vec<(u64, u64, Site)> {
    let mut live = Vec::new();
    for area in areas {
        live.extend(area.live_of(device));
        area.forget(device);
    }
    live
}
