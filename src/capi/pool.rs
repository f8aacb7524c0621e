//! `<linux/dmapool.h>` (and the `pci_pool_*` macros of `<linux/pci.h>`): DMA pools over the
//! Rust API's [`DmaPool`]. A `struct dma_pool *` is the address of a registration that is never
//! freed, so calls on a destroyed pool are reported rather than a use after free.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_uint, c_void};

use super::device::{CDevice, device, invalid_device};
use super::{c_str, ffi, gfp};
use crate::rules;
use crate::sync::process::Mutex;
use crate::{DMA_MAPPING_ERROR, DmaAddr, DmaPool, Gfp};
use crate::{Device, Event, MapKind, Op};

/// A C `struct dma_pool`: opaque to C.
pub struct CDmaPool {
    _private: u8,
}

/// The pools C code holds, by the address of their `struct dma_pool`.
static POOLS: Mutex<BTreeMap<usize, DmaPool>> = Mutex::new(BTreeMap::new());

/// The pool a C pointer names; for NULL or a pointer no `dma_pool_create` returned, the call
/// is reported (`invalid-pool`, on no device) and `None` returned.
#[track_caller]
fn pool(p: *mut CDmaPool, op: Op, call: &'static str) -> Option<DmaPool> {
    let found = POOLS.lock().get(&p.addr()).cloned();
    if found.is_none() {
        let dev = invalid_device();
        let ev = Event::new(
            op,
            call,
            MapKind::Coherent,
            dev.id(),
            dev.checker().capture_site(),
        );
        let f = rules::lifetime::invalid_pool(p.addr() as u64);
        dev.checker().inner().finish(&ev, [f].into_iter().collect());
    }
    found
}

/// Driver unbind from C: each pool of the device still not destroyed is reported by name
/// (`leak`) and destroyed, as the device's memory goes with it.
pub(super) fn destroy_forgotten_pools(dev: &Device) {
    let forgotten: Vec<DmaPool> = POOLS
        .lock()
        .values()
        .filter(|p| p.device().id() == dev.id() && !p.is_destroyed())
        .cloned()
        .collect();
    for p in forgotten {
        let ev = Event::new(
            Op::Release,
            "dmacheck_device_release",
            MapKind::Coherent,
            dev.id(),
            dev.checker().capture_site(),
        );
        let f = rules::lifetime::pool_never_destroyed(p.name(), p.busy());
        dev.checker().inner().finish(&ev, [f].into_iter().collect());
        crate::dma_pool_destroy(p);
    }
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
        // NULL does nothing, as in the kernel.
        if p.is_null() {
            return;
        }
        if let Some(pool) = pool(p, Op::MemoryFree, "dma_pool_destroy") {
            crate::dma_pool_destroy(pool);
        }
    })
}

fn alloc(p: *mut CDmaPool, flags: c_uint, handle: *mut DmaAddr, zero: bool) -> *mut c_void {
    let mut dma = DMA_MAPPING_ERROR;
    let call = if zero {
        "dma_pool_zalloc"
    } else {
        "dma_pool_alloc"
    };
    let cpu = match pool(p, Op::MemoryAlloc, call) {
        None => std::ptr::null_mut(),
        Some(pool) if zero => crate::dma_pool_zalloc(&pool, gfp(flags), &mut dma),
        Some(pool) => crate::dma_pool_alloc(&pool, gfp(flags), &mut dma),
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
        if let Some(pool) = pool(p, Op::MemoryFree, "dma_pool_free") {
            crate::dma_pool_free(&pool, vaddr.cast(), addr);
        }
    })
}
