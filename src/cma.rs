//! The Contiguous Memory Allocator: a contiguous area of pages set aside at boot, from which
//! large, aligned, physically contiguous blocks are allocated (`dma_alloc_from_contiguous`)
//! and released (`dma_release_from_contiguous`), tracked in a bitmap.
//!
//! The review of the original patch found that a failure after the bitmap was marked left the
//! pages marked forever. Here a failure (which fault injection can force, kind `cma`) clears
//! the bitmap again and the next aligned position is tried, as the fixed kernel does.
//!
//! ```
//! use dmacheck::*;
//!
//! let checker = Checker::builder().env(false).build();
//! let area = checker.declare_cma(1024).unwrap();
//! let camera = checker.device("isp0").cma(&area).build();
//! let frame = dma_alloc_from_contiguous(&camera, 300, 8).unwrap();
//! assert!(dma_release_from_contiguous(&camera, frame, 300));
//! checker.assert_clean();
//! ```

use crate::backend::Page;
use crate::backend::ranges::FreeRanges;
use crate::checker::Checker;
use crate::device::Device;
use crate::event::{Event, Op};
use crate::faults::FaultKind;
use crate::rules;
use crate::rules::Findings;
use crate::state::cma::{AreaInner, AreaState, CmaArea};
use crate::sync::{Arc, Mutex};
use crate::types::{Gfp, MapKind, PAGE_SHIFT, PAGE_SIZE, PhysAddr};

/// The default largest alignment order honored (the kernel's `CONFIG_CMA_ALIGNMENT`, 8: 1 MiB).
pub const CMA_ALIGNMENT: u32 = 8;

impl Checker {
    /// Set aside `pages` contiguous pages as a CMA area, with the default alignment limit. The
    /// first area declared is also the default one, used by devices that name none. `None` if
    /// memory has no such run.
    pub fn declare_cma(&self, pages: u64) -> Option<CmaArea> {
        self.declare_cma_with_max_order(pages, CMA_ALIGNMENT)
    }

    /// [`Checker::declare_cma`] with another largest alignment order than [`CMA_ALIGNMENT`].
    pub fn declare_cma_with_max_order(&self, pages: u64, max_order: u32) -> Option<CmaArea> {
        self.reserve_cma(pages, max_order, PhysAddr::MAX, false)
    }

    /// Set aside an area of `pages` pages below physical `limit`, for one device (never the
    /// default) or for all.
    fn reserve_cma(
        &self,
        pages: u64,
        max_order: u32,
        limit: PhysAddr,
        device_only: bool,
    ) -> Option<CmaArea> {
        let size = pages.checked_mul(PAGE_SIZE as u64)?;
        // The area is taken from memory once, like a boot-time reservation.
        let cpu = self.memory().alloc_coherent(size, limit)?;
        let phys = self.memory().phys_of(cpu.as_ptr(), size).ok()?;
        let area = CmaArea(Arc::new(AreaInner {
            base_pfn: phys >> PAGE_SHIFT,
            device_only,
            count: pages,
            max_order,
            state: Mutex::new(AreaState {
                free: FreeRanges::new(phys >> PAGE_SHIFT, pages),
                ..AreaState::default()
            }),
        }));
        self.inner().cma_areas.lock().push(area.clone());
        Some(area)
    }

    fn default_cma(&self) -> Option<CmaArea> {
        let areas = self.inner().cma_areas.lock();
        areas.iter().find(|a| !a.0.device_only).cloned()
    }
}

/// `-EINVAL`.
const EINVAL: i32 = 22;
/// `-ENOMEM`.
const ENOMEM: i32 = 12;
/// `-EBUSY`.
const EBUSY: i32 = 16;

/// Set aside a CMA area of `size` bytes below physical `limit` (0: anywhere)
/// (`dma_declare_contiguous`, as Linux 4.x had it: `dma_contiguous_reserve_area()` then
/// `dev_set_cma_area()`). With a device, the area is that device's own: its
/// `dma_alloc_from_contiguous` takes from it, and no other device's does. Without one it is a
/// system area, the default if it is the first. `base` is not honoured: the area lies wherever
/// memory has room below `limit`. 0, or `-EINVAL` (size 0), `-EBUSY` (the device has an area
/// already) or `-ENOMEM`.
pub fn dma_declare_contiguous(
    checker: &Checker,
    dev: Option<&Device>,
    size: u64,
    _base: PhysAddr,
    limit: PhysAddr,
) -> i32 {
    if size == 0 {
        return -EINVAL;
    }
    if dev.is_some_and(|d| d.cma_area().is_some()) {
        return -EBUSY;
    }
    let pages = size.div_ceil(PAGE_SIZE as u64);
    let limit = if limit == 0 { PhysAddr::MAX } else { limit };
    let Some(area) = checker.reserve_cma(pages, CMA_ALIGNMENT, limit, dev.is_some()) else {
        return -ENOMEM;
    };
    match dev {
        // A race with another declaration for the device: the first one wins.
        Some(d) if d.0.cma.set(area).is_err() => -EBUSY,
        _ => 0,
    }
}

fn area_of(dev: &Device) -> Option<CmaArea> {
    dev.cma_area().or_else(|| dev.checker().default_cma())
}

/// Allocate `count` contiguous pages aligned to `2^align` pages (at most `2^max_order`) from
/// the device's CMA area (`dma_alloc_from_contiguous`). `None` without an area, for 0 pages, or
/// when no aligned run is free (or every try failed).
#[track_caller]
pub fn dma_alloc_from_contiguous(dev: &Device, count: usize, align: u32) -> Option<Page> {
    let area = area_of(dev)?;
    let a = &area.0;
    let count = count as u64;
    if count == 0 || count > a.count {
        return None;
    }
    let c = dev.checker().inner();
    let mut ev = Event::new(
        Op::MemoryAlloc,
        "dma_alloc_from_contiguous",
        MapKind::Coherent,
        dev.id(),
        dev.checker().capture_site(),
    );
    ev.size = count * PAGE_SIZE as u64;
    let mut out = Findings::new();
    rules::context::check_alloc(&ev, Gfp::KERNEL, &mut out);
    let align = 1u64 << align.min(a.max_order).min(63);
    let mut state = a.state.lock();
    let end = a.base_pfn + a.count;
    let mut from = a.base_pfn;
    let found = loop {
        let Some(pfn) = state.free.take_lowest(count, align, from, end) else {
            break None;
        };
        // The pages are marked; now they would be migrated out (`alloc_contig_range`), which
        // can fail. Then the marks must go, or the area leaks them for good.
        if c.faults.should_fail(FaultKind::Cma, dev.name()) {
            state.free.give(pfn, count);
            from = pfn + align;
            continue;
        }
        break Some(pfn);
    };
    let page = found.and_then(|pfn| {
        state.live.insert(pfn, (count, dev.id(), ev.site));
        state.released.remove(&pfn);
        c.memory
            .cpu_of(pfn << PAGE_SHIFT, count * PAGE_SIZE as u64)
            .and_then(|p| Page::containing(p.as_ptr()))
    });
    drop(state);
    c.finish(&ev, out);
    page
}

/// Release `count` pages from `dma_alloc_from_contiguous` (`dma_release_from_contiguous`):
/// `false` (doing nothing) for pages outside the device's area, `true` otherwise. A count other
/// than allocated, or pages not allocated, are reported; the allocation is released as made.
#[track_caller]
pub fn dma_release_from_contiguous(dev: &Device, pages: Page, count: usize) -> bool {
    let Some(area) = area_of(dev) else {
        return false;
    };
    let a = &area.0;
    let c = dev.checker().inner();
    let Ok(phys) = c.memory.phys_of(pages.address(), 1) else {
        return false;
    };
    let pfn = phys >> PAGE_SHIFT;
    if pfn < a.base_pfn || pfn >= a.base_pfn + a.count {
        return false;
    }
    let at = pfn;
    let mut ev = Event::new(
        Op::MemoryFree,
        "dma_release_from_contiguous",
        MapKind::Coherent,
        dev.id(),
        dev.checker().capture_site(),
    );
    ev.size = (count as u64).saturating_mul(PAGE_SIZE as u64);
    let mut out = Findings::new();
    let mut state = a.state.lock();
    let live = state.live.remove(&at);
    let allocation = live.as_ref().map(|(allocated, _, site)| (*allocated, site));
    let released_at = state.released.get(&at);
    rules::regions::check_cma_release(pfn, count, allocation, released_at, &mut out);
    if let Some((allocated, _, _)) = live {
        state.free.give(at, allocated);
        state.released.insert(at, ev.site);
    }
    drop(state);
    c.finish(&ev, out);
    true
}
