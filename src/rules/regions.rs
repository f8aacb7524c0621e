//! Memory regions set aside for DMA: declared coherent memory, CMA areas, and user mappings of
//! DMA buffers.

use super::declare_rules;
use crate::rules::{Finding, Findings, Value};
use crate::site::Site;
use crate::tracker::Entry;
use crate::types::{DMA_MEMORY_IO, DMA_MEMORY_MAP, DmaAddr, MapKind, PAGE_SIZE, PhysAddr};

declare_rules! {
    family: "regions";

    /// `dma_declare_coherent_memory` was refused: neither `DMA_MEMORY_MAP` nor `DMA_MEMORY_IO`
    /// in the flags, a size that is not a multiple of the page size, a bus or device address off
    /// a page, a bus range that is partly host memory, or a second region for a device that has
    /// one. It returns 0. (A bus range outside host memory is fine: memory on the device.)
    pub static DECLARED_MEMORY_BAD_PARAMETERS = {
        id: "declared-memory-bad-parameters",
        summary: "dma_declare_coherent_memory with bad flags, size or a second region",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part II, one or both of MAP/IO, size a multiple of PAGE_SIZE, one region per device)",
        kernel: None,
    };

    /// `dma_release_declared_memory` while allocations from the region are live. The DMA API
    /// document says the kernel does no in-use check here, leaving the driver to get it right; dmacheck
    /// checks. The live allocations can still be freed.
    pub static DECLARED_MEMORY_BUSY = {
        id: "declared-memory-busy",
        summary: "declared coherent memory released while allocations from it are live",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part II, no part of the region may be in use when it is released)",
        kernel: None,
    };

    /// `dma_release_from_contiguous` was given another page count than the allocation: the
    /// area's bitmap would be cleared wrongly. The allocation is released as it was made.
    pub static CMA_RELEASE_COUNT_MISMATCH = {
        id: "cma-release-count-mismatch",
        summary: "dma_release_from_contiguous with another count than allocated",
        seed: "linux-mm review of \"[PATCH 6/9] drivers: add Contiguous Memory Allocator\", October 2011 (dma_release_from_contiguous clears count pages of the bitmap)",
        kernel: None,
    };

    /// `dma_release_from_contiguous` of pages of the area that are not allocated (released
    /// already, or never allocated).
    pub static CMA_DOUBLE_RELEASE = {
        id: "cma-double-release",
        summary: "dma_release_from_contiguous of pages not allocated",
        seed: "linux-mm review of \"[PATCH 6/9] drivers: add Contiguous Memory Allocator\", October 2011 (dma_release_from_contiguous releases memory from dma_alloc_from_contiguous)",
        kernel: None,
    };

    /// A user mapping of a DMA buffer (`dma_mmap_coherent`, `remap_pfn_range`) reaches beyond
    /// the buffer: larger than it, or at an offset or page frame outside it. User space could
    /// then read and write memory that is not the buffer's. The mapping is refused.
    pub static MMAP_OUT_OF_BOUNDS = {
        id: "mmap-out-of-bounds",
        summary: "a user mapping of a DMA buffer reaches beyond the buffer",
        seed: "Linux Device Drivers, 3rd edition, chapter 15, \"The mmap Device Operation\" (remap_pfn_range: pfn and size name exactly the physical range mapped)",
        kernel: None,
    };

    /// A coherent buffer was freed while a user mapping of it still exists: user space keeps
    /// access to memory that will be handed to someone else. Unmap (close the mapping) first.
    pub static FREE_WHILE_MMAPPED = {
        id: "free-while-mmapped",
        summary: "a coherent buffer freed while user space still maps it",
        seed: "Linux Device Drivers, 3rd edition, chapter 15, \"The mmap Device Operation\" (remap_pfn_range), and Documentation/DMA-API.txt, Linux 2.6.27 (the mapping names the buffer's pages; the free ends the buffer)",
        kernel: None,
    };
}

/// `dma_declare_coherent_memory(bus_addr, device_addr, size, flags)` declares a region:
/// `straddles_host_memory(size)` says whether the bus range is partly host memory and partly
/// not (wholly host memory is a carve-out, wholly outside it memory on the device: both
/// serve), `has_region` whether the device has one already. Reports it otherwise.
pub(crate) fn check_declaration(
    (bus_addr, device_addr, size, flags): (PhysAddr, DmaAddr, usize, i32),
    straddles_host_memory: impl FnOnce(u64) -> bool,
    has_region: impl FnOnce() -> bool,
    out: &mut Findings,
) -> bool {
    let page = PAGE_SIZE as u64;
    let problem = if flags & (DMA_MEMORY_MAP | DMA_MEMORY_IO) == 0 {
        "neither DMA_MEMORY_MAP nor DMA_MEMORY_IO in the flags"
    } else if size == 0 || size % PAGE_SIZE != 0 {
        "a size that is not a multiple of the page size"
    } else if bus_addr % page != 0 {
        "a bus address that is not page-aligned"
    } else if straddles_host_memory(size as u64) {
        "a bus address range that is partly host memory and partly not"
    } else if device_addr % page != 0 || device_addr.checked_add(size as u64).is_none() {
        "a device address range that is not page-aligned"
    } else if has_region() {
        "a second region for a device that has one"
    } else {
        return true;
    };
    out.push(
        Finding::new(&DECLARED_MEMORY_BAD_PARAMETERS, problem)
            .with("bus_addr", Value::Addr(bus_addr))
            .with("device_addr", Value::Addr(device_addr))
            .with("size", Value::Num(size as u64))
            .with("flags", Value::Addr(flags as u64)),
    );
    false
}

/// No memory was left to stand for a declared region's device memory.
pub(crate) fn no_backing(bus_addr: PhysAddr, size: u64) -> Finding {
    Finding::new(
        &DECLARED_MEMORY_BAD_PARAMETERS,
        "no memory left to stand for the device's memory",
    )
    .with("bus_addr", Value::Addr(bus_addr))
    .with("size", Value::Num(size))
}

/// `dma_release_declared_memory` of the region at `device_addr` while `allocations` of it
/// (`live_bytes`) are live.
pub(crate) fn check_release(
    device_addr: DmaAddr,
    allocations: usize,
    live_bytes: u64,
    out: &mut Findings,
) {
    if allocations == 0 {
        return;
    }
    out.push(
        Finding::new(
            &DECLARED_MEMORY_BUSY,
            format!("{allocations} allocation(s) from the region are still live"),
        )
        .with("device_addr", Value::Addr(device_addr))
        .with("live_bytes", Value::Num(live_bytes)),
    );
}

/// `dma_release_from_contiguous` of `count` pages at `pfn`: `allocation` is the live
/// allocation there (its pages and site), `released_at` where the pages were last released.
pub(crate) fn check_cma_release(
    pfn: u64,
    count: usize,
    allocation: Option<(u64, &Site)>,
    released_at: Option<&Site>,
    out: &mut Findings,
) {
    match allocation {
        Some((allocated, _)) if allocated == count as u64 => {}
        Some((allocated, site)) => out.push(
            Finding::new(
                &CMA_RELEASE_COUNT_MISMATCH,
                format!("{count} pages released, {allocated} allocated"),
            )
            .with("pfn", Value::Addr(pfn))
            .with("count", Value::Num(count as u64))
            .with("allocated", Value::Num(allocated))
            .mapped_at(site, "dma_alloc_from_contiguous"),
        ),
        None => {
            let mut f = Finding::new(&CMA_DOUBLE_RELEASE, "the pages are not allocated")
                .with("pfn", Value::Addr(pfn))
                .with("count", Value::Num(count as u64));
            if let Some(first) = released_at {
                f = f.related("released at", first);
            }
            out.push(f);
        }
    }
}

/// `dma_mmap_coherent` of the buffer at `dma_addr` (`request`: its CPU address, and the
/// mapping's first page and length in bytes) stays inside `buffer`, the device's live coherent
/// allocation there; reports it otherwise.
pub(crate) fn check_mmap(
    (cpu_addr, dma_addr, vm_pgoff, vm_len): (u64, DmaAddr, u64, u64),
    buffer: Option<&Entry>,
    out: &mut Findings,
) -> bool {
    let Some(e) = buffer else {
        out.push(
            Finding::new(
                &MMAP_OUT_OF_BOUNDS,
                "no live coherent allocation of this device at the handle",
            )
            .with("dma_addr", Value::Addr(dma_addr)),
        );
        return false;
    };
    let page = PAGE_SIZE as u64;
    let buffer_pages = e.size.div_ceil(page);
    let pages = vm_len.div_ceil(page);
    let beyond = vm_len == 0 || vm_pgoff.saturating_add(pages) > buffer_pages;
    if !beyond && e.cpu_addr == cpu_addr {
        return true;
    }
    let why = if beyond {
        "the mapping reaches beyond the buffer"
    } else {
        "cpu_addr is not the buffer's"
    };
    out.push(
        Finding::new(&MMAP_OUT_OF_BOUNDS, why)
            .with("dma_addr", Value::Addr(dma_addr))
            .with("vm_pgoff", Value::Num(vm_pgoff))
            .with("vm_len", Value::Num(vm_len))
            .with("buffer_pages", Value::Num(buffer_pages))
            .mapped_at(&e.site, e.mapped_by()),
    );
    false
}

/// `remap_pfn_range` of `size` bytes from page frame `pfn` that no one live coherent buffer
/// holds.
pub(crate) fn remap_out_of_bounds(pfn: u64, size: u64) -> Finding {
    Finding::new(
        &MMAP_OUT_OF_BOUNDS,
        "the page frames are not inside one live coherent buffer",
    )
    .with("pfn", Value::Addr(pfn))
    .with("size", Value::Num(size))
}

/// A coherent buffer is freed while user space maps it (`user_mapped`, asked of coherent
/// buffers only: only they can be mapped).
#[inline]
pub(crate) fn check_free_unmapped(
    e: &Entry,
    user_mapped: impl FnOnce() -> bool,
    out: &mut Findings,
) {
    if e.kind == MapKind::Coherent && user_mapped() {
        freed_while_mmapped(e, out);
    }
}

/// The finding of [`check_free_unmapped`], out of the calls' line.
#[cold]
#[inline(never)]
fn freed_while_mmapped(e: &Entry, out: &mut Findings) {
    out.push(
        Finding::new(&FREE_WHILE_MMAPPED, "user space still maps the buffer")
            .with("dma_addr", Value::Addr(e.dma_addr))
            .with("size", Value::Num(e.size))
            .mapped_at(&e.site, e.mapped_by()),
    );
}
