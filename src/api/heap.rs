//! The kernel's heap, which is not DMA API but where DMA-able memory comes from: `kmalloc`,
//! `vmalloc` and pages.

use std::ptr::{self, NonNull};

use crate::backend::Page;
use crate::checker::Checker;
use crate::event::{DeviceId, Event, Op};
use crate::rules;
use crate::rules::Findings;
use crate::types::{Gfp, MapKind};

/// Report an allocation of DMA-able memory made where it may not sleep.
#[track_caller]
fn check_memory_alloc(checker: &Checker, call: &'static str, size: usize, gfp: Gfp) {
    if !checker.config().enabled || !gfp.contains(Gfp::DIRECT_RECLAIM) || !crate::in_atomic() {
        return;
    }
    let mut ev = Event::new(
        Op::MemoryAlloc,
        call,
        MapKind::Single,
        DeviceId::NONE,
        checker.capture_site(),
    );
    ev.size = size as u64;
    let mut out = Findings::new();
    rules::context::check_alloc(&ev, gfp, &mut out);
    checker.inner().finish(&ev, out);
}

/// Allocate `size` bytes of DMA-able memory (`kmalloc`); NULL for size 0 or when memory runs
/// out. `Gfp::DMA` places it below 16 MiB.
#[track_caller]
pub fn kmalloc(checker: &Checker, size: usize, gfp: Gfp) -> *mut u8 {
    kmalloc_as(checker, size, gfp, "kmalloc")
}

/// [`kmalloc`] made by `call` (`devm_kmalloc` allocates through it).
#[track_caller]
pub(crate) fn kmalloc_as(checker: &Checker, size: usize, gfp: Gfp, call: &'static str) -> *mut u8 {
    check_memory_alloc(checker, call, size, gfp);
    if let Some(ptr) = crate::checker::trap::kmalloc(checker, size, gfp) {
        return ptr;
    }
    checker
        .memory()
        .kmalloc(size, gfp)
        .map_or(ptr::null_mut(), NonNull::as_ptr)
}

/// [`kmalloc`], zeroed (`kzalloc`).
#[track_caller]
pub fn kzalloc(checker: &Checker, size: usize, gfp: Gfp) -> *mut u8 {
    kmalloc(checker, size, gfp | Gfp::ZERO)
}

#[track_caller]
fn invalid_free(
    checker: &Checker,
    call: &'static str,
    ptr: *const u8,
    why: crate::backend::FreeError,
) {
    let mut ev = Event::new(
        Op::MemoryFree,
        call,
        MapKind::Single,
        DeviceId::NONE,
        checker.capture_site(),
    );
    ev.cpu_addr = Some(ptr.addr() as u64);
    let f = rules::lifetime::invalid_free(&why, ptr.addr() as u64);
    checker.inner().finish(&ev, [f].into_iter().collect());
}

/// Free memory from [`kmalloc`] (`kfree`). NULL does nothing; anything else that is not a live
/// allocation is reported and left alone. Freeing memory a live streaming mapping covers is
/// reported (`free-while-mapped`).
#[track_caller]
pub fn kfree(checker: &Checker, ptr: *const u8) {
    kfree_as(checker, ptr, "kfree")
}

/// [`kfree`] made by `call` (`devm_kfree`, and devres at a device's release).
#[track_caller]
pub(crate) fn kfree_as(checker: &Checker, ptr: *const u8, call: &'static str) {
    if checker.config().trap {
        let mapped = crate::freed::mapped(checker, call, ptr, 1);
        if crate::checker::trap::kfree(checker, ptr) {
            mapped.report(checker);
            return;
        }
    }
    // 0 bytes (nothing to look for) if `ptr` is no live object: the free is refused.
    let size = checker.memory().ksize(ptr).unwrap_or(0);
    let mapped = crate::freed::mapped(checker, call, ptr, size);
    match checker.memory().kfree(ptr) {
        Err(why) => invalid_free(checker, call, ptr, why),
        Ok(()) => mapped.report(checker),
    }
}

/// Allocate `size` bytes of virtually contiguous memory (`vmalloc`): not DMA-able, so mapping
/// it is reported. NULL for size 0.
#[track_caller]
pub fn vmalloc(checker: &Checker, size: usize) -> *mut u8 {
    check_memory_alloc(checker, "vmalloc", size, Gfp::KERNEL);
    checker
        .inner()
        .vmalloc
        .alloc(size, false)
        .map_or(ptr::null_mut(), NonNull::as_ptr)
}

/// [`vmalloc`], zeroed (`vzalloc`).
#[track_caller]
pub fn vzalloc(checker: &Checker, size: usize) -> *mut u8 {
    check_memory_alloc(checker, "vzalloc", size, Gfp::KERNEL);
    checker
        .inner()
        .vmalloc
        .alloc(size, true)
        .map_or(ptr::null_mut(), NonNull::as_ptr)
}

/// Free memory from [`vmalloc`] (`vfree`). NULL does nothing; anything else that is not a
/// live `vmalloc` block is reported and left alone.
#[track_caller]
pub fn vfree(checker: &Checker, ptr: *mut u8) {
    if !ptr.is_null() && !checker.inner().vmalloc.free(ptr) {
        invalid_free(
            checker,
            "vfree",
            ptr,
            crate::backend::FreeError::NotAllocated,
        );
    }
}

/// Allocate 2^`order` contiguous pages (`alloc_pages`).
#[track_caller]
pub fn alloc_pages(checker: &Checker, gfp: Gfp, order: u32) -> Option<Page> {
    check_memory_alloc(
        checker,
        "alloc_pages",
        crate::PAGE_SIZE << order.min(20),
        gfp,
    );
    checker.memory().alloc_pages(gfp, order)
}

/// Free pages from [`alloc_pages`] with the order they were allocated with (`__free_pages`).
/// Freeing pages a live streaming mapping covers is reported (`free-while-mapped`).
#[track_caller]
pub fn free_pages(checker: &Checker, page: Page, order: u32) {
    free_pages_as(checker, page.address(), order, "__free_pages");
}

/// [`free_pages`] of the page holding `addr`, made by `call` (C's `free_pages` frees by
/// address, as the kernel's does through `virt_to_page`). An address in no page at all (below
/// the first) is refused as freeing nothing allocated.
#[track_caller]
pub(crate) fn free_pages_as(checker: &Checker, addr: *const u8, order: u32, call: &'static str) {
    let Some(page) = Page::containing(addr) else {
        return invalid_free(checker, call, addr, crate::backend::FreeError::NotAllocated);
    };
    let len = crate::PAGE_SIZE.checked_shl(order).unwrap_or(0);
    let mapped = crate::freed::mapped(checker, call, page.address(), len);
    match checker.memory().free_pages(page, order) {
        Err(why) => invalid_free(checker, call, page.address(), why),
        Ok(()) => mapped.report(checker),
    }
}

/// The physical address of DMA-able memory at `addr` (`virt_to_phys`); `None` if it is not
/// memory of this checker.
pub fn virt_to_phys(checker: &Checker, addr: *const u8) -> Option<crate::PhysAddr> {
    checker.memory().phys_of(addr, 1).ok()
}

/// The CPU address of a page (`page_address`).
pub fn page_address(page: Page) -> *mut u8 {
    page.address()
}

/// The page containing a CPU address (`virt_to_page`); `None` for NULL.
pub fn virt_to_page(addr: *const u8) -> Option<Page> {
    Page::containing(addr)
}
