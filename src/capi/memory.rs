//! `<linux/slab.h>`, `<linux/vmalloc.h>`, `<linux/gfp.h>`, `<linux/mm.h>`: DMA-able memory from
//! the checker's simulated physical memory, and pages.

use std::ffi::{c_uint, c_ulong, c_void};

use super::{CPage, checker, ffi, gfp, page_of, page_or_nowhere, page_ptr};
use crate::Gfp;

#[unsafe(no_mangle)]
extern "C" fn kmalloc(size: usize, flags: c_uint) -> *mut c_void {
    ffi("kmalloc", || {
        crate::kmalloc(checker(), size, gfp(flags)).cast()
    })
}

#[unsafe(no_mangle)]
extern "C" fn kzalloc(size: usize, flags: c_uint) -> *mut c_void {
    ffi("kzalloc", || {
        crate::kzalloc(checker(), size, gfp(flags)).cast()
    })
}

#[unsafe(no_mangle)]
extern "C" fn kcalloc(n: usize, size: usize, flags: c_uint) -> *mut c_void {
    ffi("kcalloc", || match n.checked_mul(size) {
        Some(bytes) => crate::kzalloc(checker(), bytes, gfp(flags)).cast(),
        None => std::ptr::null_mut(),
    })
}

#[unsafe(no_mangle)]
extern "C" fn kmalloc_array(n: usize, size: usize, flags: c_uint) -> *mut c_void {
    ffi("kmalloc_array", || match n.checked_mul(size) {
        Some(bytes) => crate::kmalloc(checker(), bytes, gfp(flags)).cast(),
        None => std::ptr::null_mut(),
    })
}

#[unsafe(no_mangle)]
extern "C" fn kfree(objp: *const c_void) {
    ffi("kfree", || crate::kfree(checker(), objp.cast()))
}

#[unsafe(no_mangle)]
extern "C" fn vmalloc(size: c_ulong) -> *mut c_void {
    ffi("vmalloc", || {
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        crate::vmalloc(checker(), size).cast()
    })
}

#[unsafe(no_mangle)]
extern "C" fn vzalloc(size: c_ulong) -> *mut c_void {
    ffi("vzalloc", || {
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        crate::vzalloc(checker(), size).cast()
    })
}

#[unsafe(no_mangle)]
extern "C" fn vfree(addr: *const c_void) {
    ffi("vfree", || crate::vfree(checker(), addr.cast_mut().cast()))
}

#[unsafe(no_mangle)]
extern "C" fn alloc_pages(gfp_mask: c_uint, order: c_uint) -> *mut CPage {
    ffi("alloc_pages", || {
        crate::alloc_pages(checker(), gfp(gfp_mask), order).map_or(std::ptr::null_mut(), page_ptr)
    })
}

#[unsafe(no_mangle)]
extern "C" fn __get_free_pages(gfp_mask: c_uint, order: c_uint) -> c_ulong {
    ffi("__get_free_pages", || {
        crate::alloc_pages(checker(), gfp(gfp_mask), order)
            .map_or(0, |p| p.address().expose_provenance() as c_ulong)
    })
}

#[unsafe(no_mangle)]
extern "C" fn get_zeroed_page(gfp_mask: c_uint) -> c_ulong {
    ffi("get_zeroed_page", || {
        crate::alloc_pages(checker(), gfp(gfp_mask) | Gfp::ZERO, 0)
            .map_or(0, |p| p.address().expose_provenance() as c_ulong)
    })
}

#[unsafe(no_mangle)]
extern "C" fn __free_pages(page: *mut CPage, order: c_uint) {
    ffi("__free_pages", || {
        crate::free_pages(checker(), page_or_nowhere(page), order);
    })
}

#[unsafe(no_mangle)]
extern "C" fn free_pages(addr: c_ulong, order: c_uint) {
    ffi("free_pages", || {
        if addr == 0 {
            return;
        }
        let ptr = std::ptr::with_exposed_provenance::<u8>(addr as usize);
        crate::api::free_pages_as(checker(), ptr, order, "free_pages");
    })
}

#[unsafe(no_mangle)]
extern "C" fn page_address(page: *const CPage) -> *mut c_void {
    ffi("page_address", || {
        page_of(page).map_or(std::ptr::null_mut(), |p| p.address().cast())
    })
}

#[unsafe(no_mangle)]
extern "C" fn virt_to_page(addr: *const c_void) -> *mut CPage {
    ffi("virt_to_page", || {
        crate::virt_to_page(addr.cast()).map_or(std::ptr::null_mut(), page_ptr)
    })
}
