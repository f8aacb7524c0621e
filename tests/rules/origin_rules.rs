//! Memory-origin rules: stack, read-only and vmalloc memory is not DMA-able.

use crate::common;

use common::{assert_site, checker, device, live, rule_ids, single_violation};
use dmacheck::rules::{
    MAP_INVALID_MEMORY, MAP_RODATA_MEMORY, MAP_STACK_MEMORY, MAP_VMALLOC_MEMORY,
};
use dmacheck::*;

const FILE: &str = "origin_rules.rs";
static FIRMWARE: [u8; 256] = [0x5a; 256];

#[test]
fn mapping_a_stack_buffer_is_reported_as_stack_memory() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let frame = [0u8; 60];
    let line = line!() + 1;
    let dma = dma_map_single(&dev, frame.as_ptr(), frame.len(), Direction::ToDevice);
    assert_eq!(dma, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &MAP_STACK_MEMORY);
    assert_eq!(v.detail_u64("cpu_addr"), Some(frame.as_ptr().addr() as u64));
    assert_site(&v.site, FILE, line);
    assert_eq!(live(&checker), 0);
}

#[test]
fn a_stack_buffer_of_another_thread_frame_is_still_this_threads_stack() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    std::thread::scope(|s| {
        s.spawn(|| {
            let local = [1u8; 32];
            let dma = dma_map_single(&dev, local.as_ptr(), 32, Direction::FromDevice);
            assert_eq!(dma, DMA_MAPPING_ERROR);
        });
    });
    single_violation(&checker, &MAP_STACK_MEMORY);
}

#[test]
fn mapping_a_static_table_is_reported_as_read_only_memory() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let dma = dma_map_single(&dev, FIRMWARE.as_ptr(), FIRMWARE.len(), Direction::ToDevice);
    assert_eq!(dma, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &MAP_RODATA_MEMORY);
    assert_eq!(v.detail_u64("size"), Some(256));
}

#[test]
fn mapping_a_string_literal_is_reported_as_read_only_memory() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let banner = "hello device";
    let _ = dma_map_single(&dev, banner.as_ptr(), banner.len(), Direction::ToDevice);
    single_violation(&checker, &MAP_RODATA_MEMORY);
}

#[test]
fn mapping_vmalloc_memory_is_reported_and_vfree_returns_it() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let v = vzalloc(&checker, 3 * PAGE_SIZE);
    assert!(!v.is_null());
    let page = virt_to_page(v.wrapping_add(PAGE_SIZE)).unwrap();
    let dma = dma_map_page(&dev, page, 16, 64, Direction::FromDevice);
    assert_eq!(dma, DMA_MAPPING_ERROR);
    let found = single_violation(&checker, &MAP_VMALLOC_MEMORY);
    assert_eq!(found.call, "dma_map_page");
    checker.take_violations();
    // The vfree returns the area: a second one is an invalid free.
    vfree(&checker, v);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    vfree(&checker, v);
    single_violation(&checker, &dmacheck::rules::INVALID_FREE);
}

#[test]
fn mapping_rust_heap_memory_is_invalid_memory() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let heap = Box::new([0u8; 128]);
    let _ = dma_map_single(&dev, heap.as_ptr(), heap.len(), Direction::ToDevice);
    single_violation(&checker, &MAP_INVALID_MEMORY);
}

#[test]
fn the_same_bytes_copied_into_kmalloc_memory_map_silently() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, FIRMWARE.len(), Gfp::KERNEL);
    // SAFETY: buf is a fresh allocation of FIRMWARE.len() bytes.
    unsafe { std::ptr::copy_nonoverlapping(FIRMWARE.as_ptr(), buf, FIRMWARE.len()) };
    let dma = dma_map_single(&dev, buf, FIRMWARE.len(), Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_unmap_single(&dev, dma, FIRMWARE.len(), Direction::ToDevice);
    kfree(&checker, buf);
    checker.assert_clean();
}

#[test]
fn kmalloc_and_page_memory_are_neither_read_only_nor_vmalloc_memory() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 64, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_unmap_single(&dev, dma, 64, Direction::ToDevice);
    kfree(&checker, buf);
    // A page of the page allocator, mapped at an offset, as the vmalloc case maps its page.
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
    let dma = dma_map_page(&dev, page, 16, 64, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_unmap_page(&dev, dma, 64, Direction::FromDevice);
    free_pages(&checker, page, 0);
    assert_eq!(checker.count(&MAP_RODATA_MEMORY), 0);
    assert_eq!(checker.count(&MAP_VMALLOC_MEMORY), 0);
    checker.assert_clean();
}

#[test]
fn vmalloc_in_atomic_context_is_a_sleeping_allocation() {
    let checker = checker();
    let lock = SpinLock::new(());
    let guard = lock.lock();
    let v = vmalloc(&checker, 4096);
    drop(guard);
    single_violation(&checker, &dmacheck::rules::SLEEPING_ALLOC_IN_ATOMIC);
    vfree(&checker, v);
}
