//! The two-step IOVA API from C (`<linux/dma-mapping.h>`, Linux 6.17): `struct dma_iova_state`
//! is the Rust API's [`DmaIovaState`](crate::DmaIovaState), read and written in place.

use std::ffi::{c_int, c_ulong};

use super::device::{CDevice, device};
use super::{attrs, direction, ffi};
use crate::DmaIovaState;

/// The state C passed; a NULL one reads as "no space".
///
/// # Safety
/// `state` is NULL or a readable `struct dma_iova_state`.
unsafe fn read(state: *const DmaIovaState) -> DmaIovaState {
    if state.is_null() {
        return DmaIovaState::default();
    }
    // SAFETY: the caller's contract.
    unsafe { state.read() }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_iova_try_alloc(
    dev: *mut CDevice,
    state: *mut DmaIovaState,
    phys: u64,
    size: usize,
) -> bool {
    ffi("dma_iova_try_alloc", || {
        let mut s = DmaIovaState::default();
        let ok = crate::dma_iova_try_alloc(&device(dev), &mut s, phys, size);
        if !state.is_null() {
            // SAFETY: the C contract: a writable `struct dma_iova_state`.
            unsafe { state.write(s) };
        }
        ok && !state.is_null()
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_iova_link(
    dev: *mut CDevice,
    state: *mut DmaIovaState,
    phys: u64,
    offset: usize,
    size: usize,
    dir: c_int,
    a: c_ulong,
) -> c_int {
    ffi("dma_iova_link", || {
        // SAFETY: the C contract.
        let s = unsafe { read(state) };
        crate::dma_iova_link(
            &device(dev),
            &s,
            phys,
            offset,
            size,
            direction(dir),
            attrs(a),
        )
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_iova_sync(
    dev: *mut CDevice,
    state: *mut DmaIovaState,
    offset: usize,
    size: usize,
) -> c_int {
    ffi("dma_iova_sync", || {
        // SAFETY: the C contract.
        let s = unsafe { read(state) };
        crate::dma_iova_sync(&device(dev), &s, offset, size)
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_iova_unlink(
    dev: *mut CDevice,
    state: *mut DmaIovaState,
    offset: usize,
    size: usize,
    dir: c_int,
    a: c_ulong,
) {
    ffi("dma_iova_unlink", || {
        // SAFETY: the C contract.
        let s = unsafe { read(state) };
        crate::dma_iova_unlink(&device(dev), &s, offset, size, direction(dir), attrs(a));
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_iova_destroy(
    dev: *mut CDevice,
    state: *mut DmaIovaState,
    mapped_len: usize,
    dir: c_int,
    a: c_ulong,
) {
    ffi("dma_iova_destroy", || {
        // SAFETY: the C contract.
        let mut s = unsafe { read(state) };
        crate::dma_iova_destroy(&device(dev), &mut s, mapped_len, direction(dir), attrs(a));
        if !state.is_null() {
            // SAFETY: the C contract: a writable `struct dma_iova_state`.
            unsafe { state.write(s) };
        }
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_iova_free(dev: *mut CDevice, state: *mut DmaIovaState) {
    ffi("dma_iova_free", || {
        // SAFETY: the C contract.
        let mut s = unsafe { read(state) };
        crate::dma_iova_free(&device(dev), &mut s);
        if !state.is_null() {
            // SAFETY: the C contract: a writable `struct dma_iova_state`.
            unsafe { state.write(s) };
        }
    })
}
