//! The modern calls of `<linux/dma-mapping.h>` over the Rust API: write-combined and page
//! allocations, mapping by physical address, and the device's limits and queries.

use std::ffi::{c_int, c_uint, c_ulong, c_void};

use super::device::{CDevice, device};
use super::regions::{CVmArea, dma_mmap_coherent};
use super::streaming::give_handle;
use super::{CPage, attrs, direction, ffi, gfp, page_or_nowhere, page_ptr};
use crate::{DMA_MAPPING_ERROR, DmaAddr};

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_alloc_wc(
    dev: *mut CDevice,
    size: usize,
    handle: *mut DmaAddr,
    flag: u32,
) -> *mut c_void {
    ffi("dma_alloc_wc", || {
        let mut dma = DMA_MAPPING_ERROR;
        let cpu = crate::dma_alloc_wc(&device(dev), size, &mut dma, gfp(flag));
        // SAFETY: the C contract: `handle` is NULL or writable.
        unsafe { give_handle(handle, dma) };
        cpu.cast()
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_free_wc(
    dev: *mut CDevice,
    size: usize,
    cpu_addr: *mut c_void,
    handle: DmaAddr,
) {
    ffi("dma_free_wc", || {
        crate::dma_free_wc(&device(dev), size, cpu_addr.cast(), handle);
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_alloc_pages(
    dev: *mut CDevice,
    size: usize,
    handle: *mut DmaAddr,
    dir: c_int,
    flag: u32,
) -> *mut CPage {
    ffi("dma_alloc_pages", || {
        let mut dma = DMA_MAPPING_ERROR;
        let page = crate::dma_alloc_pages(&device(dev), size, &mut dma, direction(dir), gfp(flag));
        // SAFETY: the C contract: `handle` is NULL or writable.
        unsafe { give_handle(handle, dma) };
        page.map_or(std::ptr::null_mut(), page_ptr)
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_free_pages(
    dev: *mut CDevice,
    size: usize,
    page: *mut CPage,
    handle: DmaAddr,
    dir: c_int,
) {
    ffi("dma_free_pages", || {
        if page.is_null() {
            return;
        }
        crate::dma_free_pages(
            &device(dev),
            size,
            page_or_nowhere(page),
            handle,
            direction(dir),
        );
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_map_resource(
    dev: *mut CDevice,
    phys: u64,
    size: usize,
    dir: c_int,
    a: c_ulong,
) -> DmaAddr {
    ffi("dma_map_resource", || {
        crate::dma_map_resource(&device(dev), phys, size, direction(dir), attrs(a))
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_unmap_resource(
    dev: *mut CDevice,
    addr: DmaAddr,
    size: usize,
    dir: c_int,
    a: c_ulong,
) {
    ffi("dma_unmap_resource", || {
        crate::dma_unmap_resource(&device(dev), addr, size, direction(dir), attrs(a));
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_map_phys(
    dev: *mut CDevice,
    phys: u64,
    size: usize,
    dir: c_int,
    a: c_ulong,
) -> DmaAddr {
    ffi("dma_map_phys", || {
        crate::dma_map_phys(&device(dev), phys, size, direction(dir), attrs(a))
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_unmap_phys(
    dev: *mut CDevice,
    addr: DmaAddr,
    size: usize,
    dir: c_int,
    a: c_ulong,
) {
    ffi("dma_unmap_phys", || {
        crate::dma_unmap_phys(&device(dev), addr, size, direction(dir), attrs(a));
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_set_max_seg_size(dev: *mut CDevice, size: c_uint) -> c_int {
    ffi("dma_set_max_seg_size", || {
        crate::dma_set_max_seg_size(&device(dev), size)
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_set_seg_boundary(dev: *mut CDevice, mask: c_ulong) -> c_int {
    ffi("dma_set_seg_boundary", || {
        crate::dma_set_seg_boundary(&device(dev), mask)
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_get_max_seg_size(dev: *mut CDevice) -> c_uint {
    ffi("dma_get_max_seg_size", || {
        crate::dma_get_max_seg_size(&device(dev))
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_get_seg_boundary(dev: *mut CDevice) -> c_ulong {
    ffi("dma_get_seg_boundary", || {
        crate::dma_get_seg_boundary(&device(dev))
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_max_mapping_size(dev: *mut CDevice) -> usize {
    ffi("dma_max_mapping_size", || {
        crate::dma_max_mapping_size(&device(dev))
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_opt_mapping_size(dev: *mut CDevice) -> usize {
    ffi("dma_opt_mapping_size", || {
        crate::dma_opt_mapping_size(&device(dev))
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_need_sync(dev: *mut CDevice, addr: DmaAddr) -> bool {
    ffi("dma_need_sync", || crate::dma_need_sync(&device(dev), addr))
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_need_unmap(dev: *mut CDevice) -> bool {
    ffi("dma_need_unmap", || crate::dma_need_unmap(&device(dev)))
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_can_mmap(dev: *mut CDevice) -> bool {
    ffi("dma_can_mmap", || crate::dma_can_mmap(&device(dev)))
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_get_merge_boundary(dev: *mut CDevice) -> c_ulong {
    ffi("dma_get_merge_boundary", || {
        crate::dma_get_merge_boundary(&device(dev))
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_addressing_limited(dev: *mut CDevice) -> bool {
    ffi("dma_addressing_limited", || {
        crate::dma_addressing_limited(&device(dev))
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_mmap_attrs(
    dev: *mut CDevice,
    vma: *mut CVmArea,
    cpu_addr: *mut c_void,
    dma_addr: DmaAddr,
    size: usize,
    _attrs: c_ulong,
) -> c_int {
    // SAFETY: the same contract.
    unsafe { dma_mmap_coherent(dev, vma, cpu_addr, dma_addr, size) }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_mmap_wc(
    dev: *mut CDevice,
    vma: *mut CVmArea,
    cpu_addr: *mut c_void,
    dma_addr: DmaAddr,
    size: usize,
) -> c_int {
    // SAFETY: the same contract.
    unsafe { dma_mmap_coherent(dev, vma, cpu_addr, dma_addr, size) }
}
