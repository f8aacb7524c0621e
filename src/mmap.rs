//! User mappings of DMA buffers: `dma_mmap_coherent` and a `remap_pfn_range`-style call map the
//! pages of a coherent buffer a second time, at another address — a real second mapping of the
//! same memory, so a write through one view is seen through the other, as user space sees a
//! driver's buffer. Mappings that reach beyond the buffer are refused, and freeing a buffer
//! while a mapping of it lives is reported.
//!
//! ```
//! use dmacheck::*;
//!
//! let checker = Checker::builder().env(false).build();
//! let dev = checker.device("fb0").build();
//! let mut dma = 0;
//! let fb = dma_alloc_coherent(&dev, 2 * PAGE_SIZE, &mut dma, Gfp::KERNEL);
//! let user = dma_mmap_coherent(&dev, fb, dma, 2 * PAGE_SIZE, 0, 2 * PAGE_SIZE).unwrap();
//! // SAFETY: both point at the same two live pages.
//! unsafe {
//!     user.as_ptr().write(42);
//!     assert_eq!(fb.read(), 42);
//! }
//! drop(user); // user space unmaps first
//! dma_free_coherent(&dev, 2 * PAGE_SIZE, fb, dma);
//! checker.assert_clean();
//! ```

use crate::backend::Alias;
use crate::checker::Checker;
use crate::device::Device;
use crate::event::{DeviceId, Event, Op};
use crate::rules;
use crate::rules::Findings;

use crate::tracker::Entry;
use crate::types::{DmaAddr, EINVAL, ENOMEM, ENXIO, MapKind, PAGE_SHIFT, PAGE_SIZE, PhysAddr};

const PAGE: u64 = PAGE_SIZE as u64;

/// A user-space mapping of (part of) a coherent buffer. Dropping it unmaps it (`munmap`).
pub struct UserMapping {
    alias: Alias,
    /// The physical range it maps.
    range: (PhysAddr, PhysAddr),
    checker: Checker,
}

impl UserMapping {
    /// The mapping's first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.alias.as_ptr()
    }

    /// Its length in bytes (whole pages).
    pub fn len(&self) -> usize {
        self.alias.len()
    }

    /// Whether it is empty (never).
    pub fn is_empty(&self) -> bool {
        self.alias.is_empty()
    }
}

impl Drop for UserMapping {
    fn drop(&mut self) {
        let mut maps = self.checker.inner().user_maps.0.lock();
        if let Some(i) = maps.iter().position(|&r| r == self.range) {
            maps.swap_remove(i);
        }
    }
}

/// Map `vm_len` bytes of a coherent buffer, from page `vm_pgoff` of it, into "user space" (a
/// second mapping of the same pages) (`dma_mmap_coherent`). `cpu_addr`, `dma_handle` and `size`
/// are what `dma_alloc_coherent` returned and was given (`size` is not checked beyond the
/// buffer's own size). A mapping beyond the buffer is reported and refused with `-ENXIO`.
#[track_caller]
pub fn dma_mmap_coherent(
    dev: &Device,
    cpu_addr: *const u8,
    dma_handle: DmaAddr,
    _size: usize,
    vm_pgoff: usize,
    vm_len: usize,
) -> Result<UserMapping, i32> {
    let c = dev.checker().inner();
    let mut ev = Event::new(
        Op::MemoryAlloc,
        "dma_mmap_coherent",
        MapKind::Coherent,
        dev.id(),
        dev.checker().capture_site(),
    );
    (ev.dma_addr, ev.size, ev.cpu_addr) = (dma_handle, vm_len as u64, Some(cpu_addr.addr() as u64));
    let mut out = Findings::new();
    let mut buffer = None;
    c.tracker.update_first(
        dev.id(),
        dma_handle,
        |e| e.kind == MapKind::Coherent,
        |e| buffer = Some(e.clone()),
    );
    let request = (
        cpu_addr.addr() as u64,
        dma_handle,
        vm_pgoff as u64,
        vm_len as u64,
    );
    let in_bounds = rules::regions::check_mmap(request, buffer.as_ref(), &mut out);
    let result = match buffer {
        Some(e) if in_bounds => {
            let pages = (vm_len as u64).div_ceil(PAGE);
            alias(dev.checker(), &e, vm_pgoff as u64, pages)
        }
        _ => Err(-ENXIO),
    };
    c.finish(&ev, out);
    result
}

/// Map `size` bytes of physical memory from page frame `pfn` into "user space", as a driver's
/// `mmap` method does with `remap_pfn_range`. The pages must lie inside one live coherent
/// buffer; otherwise it is reported and refused with `-EINVAL`.
#[track_caller]
pub fn remap_pfn_range(checker: &Checker, pfn: u64, size: usize) -> Result<UserMapping, i32> {
    let c = checker.inner();
    let mut ev = Event::new(
        Op::MemoryAlloc,
        "remap_pfn_range",
        MapKind::Coherent,
        DeviceId::NONE,
        checker.capture_site(),
    );
    ev.size = size as u64;
    let start = pfn
        .checked_shl(PAGE_SHIFT)
        .filter(|s| s >> PAGE_SHIFT == pfn);
    let pages = (size as u64).div_ceil(PAGE);
    let end = start.and_then(|s| s.checked_add(pages.checked_mul(PAGE)?));
    let (start, end) = (start.unwrap_or(u64::MAX), end.unwrap_or(u64::MAX));
    let mut buffer = None;
    c.tracker.for_each_mut(|e| {
        if e.kind != MapKind::Coherent || buffer.is_some() {
            return;
        }
        if let Ok(phys) = c.memory.phys_of_addr(e.cpu_addr, e.size) {
            if phys <= start && end <= phys + e.size.div_ceil(PAGE) * PAGE {
                buffer = Some((e.clone(), (start - phys) / PAGE));
            }
        }
    });
    let mut out = Findings::new();
    let result = match buffer {
        Some((e, first_page)) if size > 0 && end != u64::MAX => {
            ev.device = e.device;
            alias(checker, &e, first_page, pages)
        }
        _ => {
            out.push(rules::regions::remap_out_of_bounds(pfn, size as u64));
            Err(-EINVAL)
        }
    };
    c.finish(&ev, out);
    result
}

/// The second mapping of pages `first_page..first_page + pages` of buffer `e`.
fn alias(checker: &Checker, e: &Entry, first_page: u64, pages: u64) -> Result<UserMapping, i32> {
    let c = checker.inner();
    let phys = c
        .memory
        .phys_of_addr(e.cpu_addr, e.size)
        .map_err(|_| -ENXIO)?;
    let alias = c
        .memory
        .alias(phys + first_page * PAGE, (pages * PAGE) as usize)
        .ok_or(-ENOMEM)?;
    let start = phys + first_page * PAGE;
    let range = (start, start + pages * PAGE);
    c.user_maps.0.lock().push(range);
    Ok(UserMapping {
        alias,
        range,
        checker: checker.clone(),
    })
}
