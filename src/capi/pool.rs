//! `<linux/dmapool.h>` (and the `pci_pool_*` macros of `<linux/pci.h>`): DMA pools over the
//! Rust API's [`DmaPool`]. A `struct dma_pool *` is the address of a registration that is never
//! freed, so calls on a destroyed pool are reported rather than a use after free.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_uint, c_void};

use super::device::{CDevice, device, invalid_device};
use super::{c_str, ffi, gfp};
use crate::sync::process::{Mutex, OnceLock};
use crate::{DMA_MAPPING_ERROR, DmaAddr, DmaPool, Gfp};

/// A C `struct dma_pool`: opaque to C.
pub struct CDmaPool {
    _private: u8,
}

/// The pools C code holds, by the address of their `struct dma_pool`.
static POOLS: Mutex<BTreeMap<usize, DmaPool>> = Mutex::new(BTreeMap::new());

/// The pool NULL and unknown pointers stand for: destroyed, so every call on it is reported.
fn invalid_pool() -> &'static DmaPool {
    static INVALID: OnceLock<DmaPool> = OnceLock::new();
    INVALID.get_or_init(|| {
        let pool = crate::dma_pool_create(
            "(NULL or unknown struct dma_pool)",
            invalid_device(),
            8,
            8,
            0,
        )
        .expect("valid parameters");
        crate::dma_pool_destroy(pool.clone());
        pool
    })
}

/// The pool a C pointer names, or the destroyed placeholder.
fn pool(p: *mut CDmaPool) -> DmaPool {
    POOLS
        .lock()
        .get(&p.addr())
        .cloned()
        .unwrap_or_else(|| invalid_pool().clone())
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_pool_create(
    name: *const c_char,
    dev: *mut CDevice,
    size: usize,
    align: usize,
    boundary: usize,
) -> *mut CDmaPool {
    ffi("dma_pool_create", || {
        // SAFETY: the C contract: NULL or a NUL-terminated name.
        let name = unsafe { c_str(name, "(unnamed)") };
        crate::dma_pool_create(&name, &device(dev), size, align, boundary)
            .map_or(std::ptr::null_mut(), register)
    })
}

/// The `struct dma_pool *` of a new pool.
pub(super) fn register(pool: DmaPool) -> *mut CDmaPool {
    // Never freed: a destroyed pool must stay valid to be reported.
    let p = Box::into_raw(Box::new(CDmaPool { _private: 0 }));
    POOLS.lock().insert(p.addr(), pool);
    p
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_pool_destroy(p: *mut CDmaPool) {
    ffi("dma_pool_destroy", || {
        if !p.is_null() {
            crate::dma_pool_destroy(pool(p));
        }
    })
}

fn alloc(p: *mut CDmaPool, flags: c_uint, handle: *mut DmaAddr, zero: bool) -> *mut c_void {
    let mut dma = DMA_MAPPING_ERROR;
    let pool = pool(p);
    let cpu = if zero {
        crate::dma_pool_zalloc(&pool, gfp(flags), &mut dma)
    } else {
        crate::dma_pool_alloc(&pool, gfp(flags), &mut dma)
    };
    if !handle.is_null() {
        // SAFETY: the C contract: a non-NULL `handle` is writable.
        unsafe { handle.write(dma) };
    }
    cpu.cast()
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_pool_alloc(
    p: *mut CDmaPool,
    flags: c_uint,
    handle: *mut DmaAddr,
) -> *mut c_void {
    ffi("dma_pool_alloc", || alloc(p, flags, handle, false))
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_pool_zalloc(
    p: *mut CDmaPool,
    flags: c_uint,
    handle: *mut DmaAddr,
) -> *mut c_void {
    ffi("dma_pool_zalloc", || {
        alloc(p, flags | Gfp::ZERO.bits(), handle, true)
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_pool_free(p: *mut CDmaPool, vaddr: *mut c_void, addr: DmaAddr) {
    ffi("dma_pool_free", || {
        crate::dma_pool_free(&pool(p), vaddr.cast(), addr);
    })
}
