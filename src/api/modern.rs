//! Calls of the modern API (Linux 5.x to 6.18) over the families already here: write-combined
//! and page allocations, mapping by physical address, and the device's limits and queries.

use crate::backend::{MapError, Page};
use crate::device::Device;
use crate::event::Op;
use crate::faults::FaultKind;
use crate::rules::{self, Findings};
use crate::types::{DMA_MAPPING_ERROR, Direction, DmaAddr, DmaAttrs, Gfp, MapKind, PAGE_SIZE};

use super::{checking, event, injected_failure, report_refusal};

/// [`dma_alloc_attrs`](crate::dma_alloc_attrs) with `DMA_ATTR_WRITE_COMBINE` (`dma_alloc_wc`).
#[track_caller]
pub fn dma_alloc_wc(dev: &Device, size: usize, dma_handle: &mut DmaAddr, gfp: Gfp) -> *mut u8 {
    super::dma_alloc_attrs(dev, size, dma_handle, gfp, DmaAttrs::WRITE_COMBINE)
}

/// Free a [`dma_alloc_wc`] buffer (`dma_free_wc`).
#[track_caller]
pub fn dma_free_wc(dev: &Device, size: usize, cpu_addr: *const u8, dma_handle: DmaAddr) {
    super::dma_free_attrs(dev, size, cpu_addr, dma_handle, DmaAttrs::WRITE_COMBINE);
}

/// The smallest order whose pages hold `size` bytes (`get_order`).
fn order_of(size: usize) -> u32 {
    size.max(1)
        .div_ceil(PAGE_SIZE)
        .next_power_of_two()
        .trailing_zeros()
}

/// Pages for streaming DMA that stay mapped (`dma_alloc_pages`): allocated below the device's
/// mask and mapped as [`dma_map_page`](crate::dma_map_page) maps them, which is how the kernel
/// records them too (`debug_dma_map_page` in `__dma_alloc_pages`). The device owns them after
/// the allocation; hand them over with `dma_sync_single_for_cpu`/`_for_device` on the handle.
/// `None` on failure (reported where it is the driver's mistake).
#[track_caller]
pub fn dma_alloc_pages(
    dev: &Device,
    size: usize,
    dma_handle: &mut DmaAddr,
    dir: Direction,
    gfp: Gfp,
) -> Option<Page> {
    *dma_handle = DMA_MAPPING_ERROR;
    let checker = dev.checker();
    // The zone the mask reaches, as the kernel's allocator picks it for the device.
    let zone = match dev.params().dma_mask {
        m if m >= checker.memory().required_mask() => Gfp::empty(),
        m if m >= crate::dma_bit_mask(32) => Gfp::DMA32,
        _ => Gfp::DMA,
    };
    let order = order_of(size);
    let page = crate::alloc_pages(checker, gfp | zone, order)?;
    let dma = super::dma_map_page(dev, page, 0, size, dir);
    if dma == DMA_MAPPING_ERROR {
        let _ = checker.memory().free_pages(page, order);
        return None;
    }
    // The allocation is its own check: the kernel returns NULL, never an unchecked handle.
    super::dma_mapping_error(dev, dma);
    *dma_handle = dma;
    Some(page)
}

/// Unmap and free [`dma_alloc_pages`] pages (`dma_free_pages`): the same size, handle and
/// direction.
#[track_caller]
pub fn dma_free_pages(dev: &Device, size: usize, page: Page, dma_handle: DmaAddr, dir: Direction) {
    super::dma_unmap_page(dev, dma_handle, size, dir);
    crate::free_pages(dev.checker(), page, order_of(size));
}

/// Map `size` bytes at physical address `phys` (`dma_map_phys`, Linux 6.18): RAM as
/// [`dma_map_page`](crate::dma_map_page) maps the page holding it; with `DMA_ATTR_MMIO`, MMIO
/// as [`dma_map_resource`] maps it. Another address is refused as memory that is not DMA-able.
#[track_caller]
pub fn dma_map_phys(
    dev: &Device,
    phys: u64,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
) -> DmaAddr {
    if attrs.contains(DmaAttrs::MMIO) {
        return dma_map_resource(dev, phys, size, dir, attrs);
    }
    let cpu = dev
        .checker()
        .memory()
        .cpu_of(phys, 1)
        .map_or(std::ptr::without_provenance(PAGE_SIZE), |p| p.as_ptr());
    let page = Page::containing(cpu).expect("not NULL");
    let offset = cpu.addr() % PAGE_SIZE;
    super::streaming::map_page(dev, page, offset, size, dir, attrs, "dma_map_phys")
}

/// End a [`dma_map_phys`] mapping (`dma_unmap_phys`).
#[track_caller]
pub fn dma_unmap_phys(
    dev: &Device,
    dma_addr: DmaAddr,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
) {
    if attrs.contains(DmaAttrs::MMIO) {
        return dma_unmap_resource(dev, dma_addr, size, dir, attrs);
    }
    let kind = crate::types::MapKind::Page;
    super::streaming::unmap_streaming(dev, "dma_unmap_phys", kind, dma_addr, size, dir, attrs);
}

/// Whether the device's MMIO mappings are translated (behind an IOMMU, which maps them as it
/// maps memory); elsewhere the bus address is the physical address (`dma_direct_map_resource`:
/// no bounce buffer for MMIO).
pub(super) fn mmio_translated(dev: &Device) -> bool {
    dev.backend().name() == "iommu"
}

/// The bus address of `size` bytes of MMIO at `phys` for the device.
fn map_mmio(
    dev: &Device,
    phys: u64,
    size: u64,
    dir: Direction,
    attrs: DmaAttrs,
) -> Result<DmaAddr, MapError> {
    injected_failure(dev, FaultKind::Map)?;
    if mmio_translated(dev) {
        return dev.backend().map(&dev.params(), phys, size, dir, attrs);
    }
    let last = phys.saturating_add(size.max(1) - 1);
    let mask = dev.params().dma_mask;
    if last > mask {
        return Err(MapError::AboveMask {
            dma_end: last,
            mask,
        });
    }
    Ok(phys)
}

/// Map `size` bytes of another device's MMIO at physical address `phys_addr`
/// (`dma_map_resource`): a BAR, memory with no `struct page`, for peer-to-peer DMA. The entry is
/// a page mapping with `DMA_ATTR_MMIO`, as the trace replay records one; unmap it with
/// [`dma_unmap_resource`]. RAM is refused (`map-resource-ram`). The device model cannot reach
/// MMIO: its accesses to such a mapping fail.
#[track_caller]
pub fn dma_map_resource(
    dev: &Device,
    phys_addr: u64,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
) -> DmaAddr {
    let attrs = attrs | DmaAttrs::MMIO;
    if !checking(dev) {
        return map_mmio(dev, phys_addr, size as u64, dir, attrs).unwrap_or(DMA_MAPPING_ERROR);
    }
    let mut ev = event(dev, Op::Map, "dma_map_resource", MapKind::Page);
    (ev.size, ev.dir, ev.attrs, ev.dma_addr) = (size as u64, dir, attrs, DMA_MAPPING_ERROR);
    let Some(admitted) = dev.admit_or_report(&ev) else {
        return DMA_MAPPING_ERROR;
    };
    let c = dev.checker().inner();
    let mut out = Findings::new();
    if rules::map::check_direction(&ev, &mut out)
        && rules::map::check_map_range(&ev, phys_addr, &mut out)
    {
        let memory = dev.checker().memory();
        let last = phys_addr + ev.size - 1;
        if memory.cpu_of(phys_addr, 1).is_some() || memory.cpu_of(last, 1).is_some() {
            out.push(rules::modern::resource_is_ram(phys_addr, ev.size));
        } else {
            match map_mmio(dev, phys_addr, ev.size, dir, attrs) {
                Ok(dma) => {
                    ev.dma_addr = dma;
                    c.record_map(&ev, &mut out);
                }
                Err(e) => report_refusal(dev, &ev, &e, &mut out),
            }
        }
    }
    drop(admitted);
    c.finish(&ev, out);
    ev.dma_addr
}

/// End a [`dma_map_resource`] mapping (`dma_unmap_resource`).
#[track_caller]
pub fn dma_unmap_resource(
    dev: &Device,
    dma_addr: DmaAddr,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
) {
    let attrs = attrs | DmaAttrs::MMIO;
    if !checking(dev) {
        if mmio_translated(dev) {
            let _ = dev
                .backend()
                .unmap(&dev.params(), dma_addr, size as u64, dir, attrs);
        }
        return;
    }
    let kind = MapKind::Page;
    super::streaming::unmap_streaming(dev, "dma_unmap_resource", kind, dma_addr, size, dir, attrs);
}

/// Set the longest DMA segment the device takes (`dma_set_max_seg_size`); an IOMMU merging an
/// sg list keeps to it. 0 (the kernel's `int` form; 6.11+ returns nothing); `-EIO`, reported, on a
/// released device.
#[track_caller]
pub fn dma_set_max_seg_size(dev: &Device, size: u32) -> i32 {
    if !super::limits::configurable(dev, "dma_set_max_seg_size") {
        return -crate::EIO;
    }
    dev.store_max_segment_size(u64::from(size));
    0
}

/// Set the boundary no DMA segment crosses, as a mask (`dma_set_seg_boundary`). 0.
#[track_caller]
pub fn dma_set_seg_boundary(dev: &Device, mask: u64) -> i32 {
    if !super::limits::configurable(dev, "dma_set_seg_boundary") {
        return -crate::EIO;
    }
    dev.store_segment_boundary_mask(mask);
    0
}

/// The longest DMA segment the device takes (`dma_get_max_seg_size`).
pub fn dma_get_max_seg_size(dev: &Device) -> u32 {
    u32::try_from(dev.params().max_segment_size).unwrap_or(u32::MAX)
}

/// The boundary mask no DMA segment crosses (`dma_get_seg_boundary`).
pub fn dma_get_seg_boundary(dev: &Device) -> u64 {
    dev.params().segment_boundary_mask
}

/// swiotlb's longest mapping: `IO_TLB_SIZE * IO_TLB_SEGSIZE` (2 KiB slots, 128 to a segment).
pub const SWIOTLB_MAX_MAPPING_SIZE: usize = 2048 * 128;
/// The IOMMU's optimal mapping size: the largest IOVA its caches keep (`iova_rcache_range()`,
/// `PAGE_SIZE << (IOVA_RANGE_CACHE_MAX_SIZE - 1)`).
pub const IOMMU_OPT_MAPPING_SIZE: usize = PAGE_SIZE << 5;

/// The largest single mapping the device can make (`dma_max_mapping_size`): a bounce buffer's
/// limit behind bounce buffers, else no limit.
pub fn dma_max_mapping_size(dev: &Device) -> usize {
    match dev.backend().name() {
        "bounce" => SWIOTLB_MAX_MAPPING_SIZE,
        _ => usize::MAX,
    }
}

/// The largest mapping without a slow path (`dma_opt_mapping_size`): the IOMMU's cached IOVA
/// size behind an IOMMU, at most [`dma_max_mapping_size`].
pub fn dma_opt_mapping_size(dev: &Device) -> usize {
    let opt = match dev.backend().name() {
        "iommu" => IOMMU_OPT_MAPPING_SIZE,
        _ => usize::MAX,
    };
    opt.min(dma_max_mapping_size(dev))
}

/// Whether syncs of the mapping at `dma_addr` do anything (`dma_need_sync`): always, as in a
/// kernel with `CONFIG_DMA_API_DEBUG` (`dma_dev_need_sync()` in kernel/dma/mapping.c calls every
/// sync when debugging), so a driver that skips syncs when this is false is still checked.
pub fn dma_need_sync(_dev: &Device, _dma_addr: DmaAddr) -> bool {
    true
}

/// Whether mappings of the device must be unmapped (`dma_need_unmap`): always, as in a kernel
/// with `CONFIG_DMA_API_DEBUG` (kernel/dma/mapping.c returns true there even for a direct-mapped
/// device that skips syncs), so a driver that leaves mappings when this is false is checked.
pub fn dma_need_unmap(_dev: &Device) -> bool {
    true
}

/// Whether coherent memory of the device can be mapped to user space (`dma_can_mmap`): always
/// here ([`dma_mmap_coherent`](crate::dma_mmap_coherent) is there for every backend).
pub fn dma_can_mmap(_dev: &Device) -> bool {
    true
}

/// The boundary below which `dma_map_sg` may merge segments (`dma_get_merge_boundary`): the
/// IOMMU's page mask behind the IOMMU (dma-iommu's `get_merge_boundary`), else 0: dma-direct
/// never merges.
pub fn dma_get_merge_boundary(dev: &Device) -> u64 {
    match dev.backend().name() {
        "iommu" => PAGE_SIZE as u64 - 1,
        _ => 0,
    }
}

/// Whether the streaming mask reaches less than all memory (`dma_addressing_limited`:
/// `dma_get_mask(dev) < dma_get_required_mask(dev)`).
pub fn dma_addressing_limited(dev: &Device) -> bool {
    super::dma_get_mask(dev) < super::dma_get_required_mask(dev)
}

/// Map a coherent buffer into user space (`dma_mmap_attrs`): as
/// [`dma_mmap_coherent`](crate::dma_mmap_coherent), with the allocation's attributes.
#[track_caller]
pub fn dma_mmap_attrs(
    dev: &Device,
    cpu_addr: *const u8,
    dma_handle: DmaAddr,
    size: usize,
    vm_pgoff: usize,
    vm_len: usize,
    _attrs: DmaAttrs,
) -> Result<crate::UserMapping, i32> {
    crate::dma_mmap_coherent(dev, cpu_addr, dma_handle, size, vm_pgoff, vm_len)
}

/// Map a [`dma_alloc_wc`] buffer into user space (`dma_mmap_wc`).
#[track_caller]
pub fn dma_mmap_wc(
    dev: &Device,
    cpu_addr: *const u8,
    dma_handle: DmaAddr,
    size: usize,
    vm_pgoff: usize,
    vm_len: usize,
) -> Result<crate::UserMapping, i32> {
    crate::dma_mmap_coherent(dev, cpu_addr, dma_handle, size, vm_pgoff, vm_len)
}

/// Memory for streaming DMA that the device sees contiguous (`dma_alloc_noncontiguous`): an
/// sg table of the pages, mapped for the device, which owns them after the allocation; hand them
/// over with [`dma_sync_sgtable_for_cpu`](crate::dma_sync_sgtable_for_cpu) and `_for_device`,
/// reach them from the CPU through [`dma_vmap_noncontiguous`]. As the kernel does without an
/// IOMMU's `alloc_noncontiguous` (`alloc_single_sgt`), the pages are one contiguous block and the
/// table one entry. `None` on failure.
#[track_caller]
pub fn dma_alloc_noncontiguous(
    dev: &Device,
    size: usize,
    dir: Direction,
    gfp: Gfp,
    attrs: DmaAttrs,
) -> Option<crate::SgTable> {
    let order = order_of(size);
    let page = crate::alloc_pages(dev.checker(), gfp, order)?;
    let mut table = crate::SgTable::new(1);
    crate::sg_set_page(&mut table, 0, page, size, 0);
    if crate::dma_map_sgtable(dev, &mut table, dir, attrs) != 0 {
        crate::free_pages(dev.checker(), page, order);
        return None;
    }
    Some(table)
}

/// Unmap and free [`dma_alloc_noncontiguous`] memory (`dma_free_noncontiguous`), with the same
/// size and direction.
#[track_caller]
pub fn dma_free_noncontiguous(
    dev: &Device,
    size: usize,
    mut table: crate::SgTable,
    dir: Direction,
) {
    crate::dma_unmap_sgtable(dev, &mut table, dir, DmaAttrs::empty());
    if let Some(page) = table.entries().first().and_then(|e| e.page()) {
        crate::free_pages(dev.checker(), page, order_of(size));
    }
}

/// The CPU address of [`dma_alloc_noncontiguous`] memory (`dma_vmap_noncontiguous`); reading
/// or writing it is judged like any CPU access to a streaming mapping (sync first).
pub fn dma_vmap_noncontiguous(_dev: &Device, _size: usize, table: &crate::SgTable) -> *mut u8 {
    table
        .entries()
        .first()
        .map_or(std::ptr::null_mut(), |e| e.virt())
}

/// Undo [`dma_vmap_noncontiguous`] (`dma_vunmap_noncontiguous`): the pages were never mapped
/// a second time, so nothing is to be done.
pub fn dma_vunmap_noncontiguous(_dev: &Device, _vaddr: *mut u8) {}
