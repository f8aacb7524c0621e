//! Managed (devres) memory from C: `dmam_alloc_coherent`, `dmam_alloc_attrs`,
//! `dmam_free_coherent` (`<linux/dma-mapping.h>`), `dmam_pool_create` (`<linux/dmapool.h>`),
//! `devm_kmalloc` and `devm_kfree` (`<linux/device.h>`).

use std::ffi::{c_char, c_ulong, c_void};

use super::device::{CDevice, device};
use super::pool::{CDmaPool, register};
use super::streaming::give_handle;
use super::{attrs, c_str, ffi, gfp};
use crate::{DMA_MAPPING_ERROR, DmaAddr};

#[unsafe(no_mangle)]
unsafe extern "C" fn dmam_alloc_coherent(
    dev: *mut CDevice,
    size: usize,
    handle: *mut DmaAddr,
    flag: u32,
) -> *mut c_void {
    // SAFETY: the same contract.
    unsafe { dmam_alloc_attrs(dev, size, handle, flag, 0) }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dmam_alloc_attrs(
    dev: *mut CDevice,
    size: usize,
    handle: *mut DmaAddr,
    flag: u32,
    a: c_ulong,
) -> *mut c_void {
    ffi("dmam_alloc_coherent", || {
        let mut dma = DMA_MAPPING_ERROR;
        let cpu = crate::dmam_alloc_attrs(&device(dev), size, &mut dma, gfp(flag), attrs(a));
        // SAFETY: the C contract: `handle` is NULL or writable.
        unsafe { give_handle(handle, dma) };
        cpu.cast()
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dmam_free_coherent(
    dev: *mut CDevice,
    size: usize,
    vaddr: *mut c_void,
    handle: DmaAddr,
) {
    ffi("dmam_free_coherent", || {
        crate::dmam_free_coherent(&device(dev), size, vaddr.cast(), handle);
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dmam_pool_create(
    name: *const c_char,
    dev: *mut CDevice,
    size: usize,
    align: usize,
    allocation: usize,
) -> *mut CDmaPool {
    ffi("dmam_pool_create", || {
        // SAFETY: the C contract: NULL or a NUL-terminated name.
        let name = unsafe { c_str(name, "(unnamed)") };
        crate::dmam_pool_create(&name, &device(dev), size, align, allocation)
            .map_or(std::ptr::null_mut(), register)
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn devm_kmalloc(dev: *mut CDevice, size: usize, flag: u32) -> *mut c_void {
    ffi("devm_kmalloc", || {
        crate::devm_kmalloc(&device(dev), size, gfp(flag)).cast()
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn devm_kfree(dev: *mut CDevice, p: *const c_void) {
    ffi("devm_kfree", || crate::devm_kfree(&device(dev), p.cast()))
}
