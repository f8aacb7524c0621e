//! The rules of `src/rules/map.rs`: the arguments of map and sync calls (direction, size,
//! range, memory, reachability by the device).

use crate::common;

use common::{
    Via, assert_site, checker, device, device_via_with, live, quiet, rule_ids, single_violation,
};
use dmacheck::rules::{
    DIRECTION_NONE, MAP_ABOVE_MASK, MAP_INVALID_MEMORY, MAP_RANGE_OVERFLOW, MAP_STACK_MEMORY,
    MAP_ZERO_SIZE,
};
use dmacheck::*;

const FILE: &str = "map_rules.rs";

// ---------------------------------------------------------------------------------------------
// direction-none

#[test]
fn map_single_with_dma_none_is_refused_and_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);

    let line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 256, Direction::None);

    assert_eq!(dma, DMA_MAPPING_ERROR);
    assert_ne!(dma_mapping_error(&dev, dma), 0);
    let v = single_violation(&checker, &DIRECTION_NONE);
    assert_eq!(v.call, "dma_map_single");
    assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::None)));
    assert_eq!(v.device, "eth0");
    assert_eq!(v.level, Level::Warn);
    assert_site(&v.site, FILE, line);
    assert_eq!(live(&checker), 0, "a refused map makes no entry");
    kfree(&checker, buf);
}

#[test]
fn map_page_with_dma_none_is_refused_and_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");

    let dma = dma_map_page(&dev, page, 0, PAGE_SIZE, Direction::None);

    assert_eq!(dma, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &DIRECTION_NONE);
    assert_eq!(v.call, "dma_map_page");
    assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::None)));
    assert_eq!(live(&checker), 0);
    free_pages(&checker, page, 0);
}

#[test]
fn sync_with_dma_none_is_reported_and_keeps_the_mapping() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 512, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    dma_sync_single_for_cpu(&dev, dma, 512, Direction::None);
    dma_sync_single_for_device(&dev, dma, 512, Direction::None);

    assert_eq!(rule_ids(&checker), ["direction-none", "direction-none"]);
    let calls: Vec<&str> = checker.violations().iter().map(|v| v.call).collect();
    assert_eq!(
        calls,
        ["dma_sync_single_for_cpu", "dma_sync_single_for_device"]
    );
    assert_eq!(live(&checker), 1, "a refused sync leaves the mapping alone");

    checker.take_violations();
    dma_unmap_single(&dev, dma, 512, Direction::FromDevice);
    assert!(checker.violations().is_empty());
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn range_sync_with_dma_none_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 512, Direction::Bidirectional);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    dma_sync_single_range_for_cpu(&dev, dma, 64, 64, Direction::None);
    dma_sync_single_range_for_device(&dev, dma, 64, 64, Direction::None);

    assert_eq!(rule_ids(&checker), ["direction-none", "direction-none"]);
    assert_eq!(live(&checker), 1);
    dma_unmap_single(&dev, dma, 512, Direction::Bidirectional);
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn unmap_with_dma_none_is_reported_and_still_ends_the_mapping() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 128, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 128, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    assert_eq!(live(&checker), 1);

    dma_unmap_single(&dev, dma, 128, Direction::None);

    // Only the missing direction is reported, not also a direction mismatch.
    let v = single_violation(&checker, &DIRECTION_NONE);
    assert_eq!(v.call, "dma_unmap_single");
    assert_eq!(live(&checker), 0, "the mapping is ended, not lost or kept");
    kfree(&checker, buf);
}

#[test]
fn map_and_sync_with_every_valid_direction_are_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    for dir in [
        Direction::ToDevice,
        Direction::FromDevice,
        Direction::Bidirectional,
    ] {
        let buf = kmalloc(&checker, 1024, Gfp::KERNEL);
        let dma = dma_map_single(&dev, buf, 1024, dir);
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        dma_sync_single_for_cpu(&dev, dma, 1024, dir);
        dma_sync_single_for_device(&dev, dma, 1024, dir);
        dma_unmap_single(&dev, dma, 1024, dir);
        kfree(&checker, buf);
    }
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// map-zero-size

#[test]
fn map_single_of_zero_bytes_is_refused_and_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);

    let dma = dma_map_single(&dev, buf, 0, Direction::ToDevice);

    assert_eq!(dma, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &MAP_ZERO_SIZE);
    assert_eq!(v.call, "dma_map_single");
    assert_eq!(v.detail_u64("size"), Some(0));
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn map_page_of_zero_bytes_is_refused_and_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");

    let dma = dma_map_page(&dev, page, 128, 0, Direction::FromDevice);

    assert_eq!(dma, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &MAP_ZERO_SIZE);
    assert_eq!(v.call, "dma_map_page");
    assert_eq!(v.detail_u64("size"), Some(0));
    assert_eq!(live(&checker), 0);
    free_pages(&checker, page, 0);
}

#[test]
fn coherent_alloc_of_zero_bytes_returns_null_and_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle: DmaAddr = 0x1234;

    let cpu = dma_alloc_coherent(&dev, 0, &mut handle, Gfp::KERNEL);

    assert!(cpu.is_null());
    assert_eq!(handle, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &MAP_ZERO_SIZE);
    assert_eq!(v.call, "dma_alloc_coherent");
    assert_eq!(v.detail_u64("size"), Some(0));
    assert_eq!(live(&checker), 0);
}

#[test]
fn coherent_alloc_of_usize_max_bytes_returns_null_without_panic() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle: DmaAddr = 0;

    let cpu = dma_alloc_coherent(&dev, usize::MAX, &mut handle, Gfp::KERNEL);

    assert!(cpu.is_null(), "no memory is that large");
    assert_eq!(handle, DMA_MAPPING_ERROR);
    assert_eq!(live(&checker), 0);
    assert_eq!(checker.memory().bytes_in_use(), 0);
}

#[test]
fn map_of_a_single_byte_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 8, Gfp::KERNEL);

    let dma = dma_map_single(&dev, buf, 1, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    assert_eq!(live(&checker), 1);
    dma_unmap_single(&dev, dma, 1, Direction::ToDevice);

    kfree(&checker, buf);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// map-range-overflow

#[test]
fn map_single_of_usize_max_bytes_overflows_and_is_refused() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);

    let dma = dma_map_single(&dev, buf, usize::MAX, Direction::ToDevice);

    assert_eq!(dma, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &MAP_RANGE_OVERFLOW);
    assert_eq!(v.call, "dma_map_single");
    assert_eq!(v.detail_u64("start"), Some(buf.addr() as u64));
    assert_eq!(v.detail_u64("size"), Some(usize::MAX as u64));
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn map_page_whose_offset_runs_off_the_address_space_is_refused() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
    // The start fits in the address space, the end does not.
    let offset = usize::MAX - page.address().addr() - 16;

    let dma = dma_map_page(&dev, page, offset, 64, Direction::ToDevice);

    assert_eq!(dma, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &MAP_RANGE_OVERFLOW);
    assert_eq!(v.call, "dma_map_page");
    assert_eq!(v.detail_u64("start"), Some((usize::MAX - 16) as u64));
    assert_eq!(v.detail_u64("size"), Some(64));
    assert_eq!(live(&checker), 0);
    free_pages(&checker, page, 0);
}

#[test]
fn map_page_with_offset_near_usize_max_is_refused_without_panic() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");

    // page address + offset itself overflows.
    let dma = dma_map_page(&dev, page, usize::MAX - 1, 4096, Direction::FromDevice);

    assert_eq!(dma, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &MAP_RANGE_OVERFLOW);
    assert_eq!(v.detail_u64("size"), Some(4096));
    assert_eq!(live(&checker), 0);
    free_pages(&checker, page, 0);
}

#[test]
fn map_page_of_a_whole_order_two_block_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let page = alloc_pages(&checker, Gfp::KERNEL, 2).expect("four pages");

    let dma = dma_map_page(&dev, page, 0, 4 * PAGE_SIZE, Direction::Bidirectional);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    let part = dma_map_page(&dev, page, 100, 200, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, part), 0);
    assert_eq!(live(&checker), 2);
    dma_unmap_page(&dev, part, 200, Direction::ToDevice);
    dma_unmap_page(&dev, dma, 4 * PAGE_SIZE, Direction::Bidirectional);

    free_pages(&checker, page, 2);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// map-above-mask

#[test]
fn map_for_24_bit_device_of_ordinary_kmalloc_memory_is_refused() {
    let checker = checker();
    let dev = checker
        .device("isa0")
        .driver("floppy")
        .dma_mask(dma_bit_mask(24))
        .build();
    // Ordinary memory is placed above the 16 MiB DMA zone.
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);

    let dma = dma_map_single(&dev, buf, 512, Direction::FromDevice);

    assert_eq!(dma, DMA_MAPPING_ERROR);
    assert_ne!(dma_mapping_error(&dev, dma), 0);
    let v = single_violation(&checker, &MAP_ABOVE_MASK);
    assert_eq!(v.call, "dma_map_single");
    assert_eq!(v.device, "isa0");
    assert_eq!(v.detail_u64("mask"), Some(dma_bit_mask(24)));
    assert_eq!(v.detail_u64("size"), Some(512));
    let dma_end = v.detail_u64("dma_end").expect("dma_end");
    assert!(dma_end > dma_bit_mask(24), "dma_end {dma_end:#x}");
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn map_page_for_24_bit_device_of_ordinary_pages_is_refused() {
    let checker = checker();
    let dev = checker.device("isa0").dma_mask(dma_bit_mask(24)).build();
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");

    let dma = dma_map_page(&dev, page, 0, PAGE_SIZE, Direction::ToDevice);

    assert_eq!(dma, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &MAP_ABOVE_MASK);
    assert_eq!(v.call, "dma_map_page");
    assert_eq!(v.detail_u64("mask"), Some(dma_bit_mask(24)));
    assert_eq!(v.detail_u64("size"), Some(PAGE_SIZE as u64));
    assert_eq!(live(&checker), 0);
    free_pages(&checker, page, 0);
}

#[test]
fn map_for_24_bit_device_of_gfp_dma_memory_is_silent() {
    let checker = checker();
    let dev = checker
        .device("isa0")
        .driver("floppy")
        .dma_mask(dma_bit_mask(24))
        .build();
    let buf = kmalloc(&checker, 512, Gfp::KERNEL | Gfp::DMA);
    let page = alloc_pages(&checker, Gfp::KERNEL | Gfp::DMA, 1).expect("two pages");

    let dma = dma_map_single(&dev, buf, 512, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    assert!(dma + 511 <= dma_bit_mask(24), "dma {dma:#x}");
    let pdma = dma_map_page(&dev, page, 0, 2 * PAGE_SIZE, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, pdma), 0);
    assert!(pdma + 2 * PAGE_SIZE as u64 - 1 <= dma_bit_mask(24));

    dma_unmap_page(&dev, pdma, 2 * PAGE_SIZE, Direction::ToDevice);
    dma_unmap_single(&dev, dma, 512, Direction::FromDevice);
    free_pages(&checker, page, 1);
    kfree(&checker, buf);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

#[test]
fn map_for_32_bit_device_of_gfp_dma32_kmalloc_memory_is_silent() {
    // Memory straddling 4 GiB: 8 MiB below it, the rest above.
    let checker = quiet()
        .memory(MemoryConfig {
            size: 64 << 20,
            phys_base: (4 << 30) - (8 << 20),
        })
        .build();
    let dev = device(&checker, "eth0");
    assert_eq!(dma_get_mask(&dev), dma_bit_mask(32));
    // Ordinary allocations take all memory below 4 GiB, then one small object lands above.
    let filler = kmalloc(&checker, 8 << 20, Gfp::KERNEL);
    let high = kmalloc(&checker, 64, Gfp::KERNEL);
    assert!(!filler.is_null() && !high.is_null());

    let buf = kmalloc(&checker, 64, Gfp::KERNEL | Gfp::DMA32);
    // GFP_DMA32 promises memory below 4 GiB (or no memory at all).
    if !buf.is_null() {
        let dma = dma_map_single(&dev, buf, 64, Direction::ToDevice);
        assert_eq!(dma_mapping_error(&dev, dma), 0, "{:?}", rule_ids(&checker));
        dma_unmap_single(&dev, dma, 64, Direction::ToDevice);
        kfree(&checker, buf);
    }
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    kfree(&checker, high);
    kfree(&checker, filler);
}

/// Where a buffer of `size` bytes at `buf` lands on the bus for a device of `via` with the
/// widest mask: the address a mask must reach. The bounce pool hands out its lowest free slot,
/// so the probe's slot is the next map's.
fn bus_address_of(checker: &Checker, via: Via, buf: *mut u8, size: usize) -> DmaAddr {
    let probe = device_via_with(checker, "probe", "testdrv", via, |b| b.dma_mask(u64::MAX));
    let dma = dma_map_single(&probe, buf, size, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&probe, dma), 0);
    dma_unmap_single(&probe, dma, size, Direction::ToDevice);
    dma
}

/// A buffer whose last byte is exactly the mask's last address is mapped; a mask one lower
/// refuses it, naming that byte. (The direct backend maps in place, the bounce pool at its
/// lowest slot; the IOMMU never refuses, see below.)
fn mask_reaching_exactly_the_last_byte_maps_one_less_refuses(via: Via) {
    let checker = checker();
    let size = 1000;
    let buf = kmalloc(&checker, size, Gfp::KERNEL);
    let at = bus_address_of(&checker, via, buf, size);
    let last = at + size as u64 - 1;

    let exact = device_via_with(&checker, "exact", "testdrv", via, |b| b.dma_mask(last));
    let dma = dma_map_single(&exact, buf, size, Direction::ToDevice);
    assert_eq!(
        dma_mapping_error(&exact, dma),
        0,
        "{:?}",
        rule_ids(&checker)
    );
    assert_eq!(dma, at);
    dma_unmap_single(&exact, dma, size, Direction::ToDevice);

    let short = device_via_with(&checker, "short", "testdrv", via, |b| b.dma_mask(last - 1));
    let dma = dma_map_single(&short, buf, size, Direction::ToDevice);
    assert_eq!(dma, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &MAP_ABOVE_MASK);
    assert_eq!(v.detail_u64("dma_end"), Some(last));
    assert_eq!(v.detail_u64("mask"), Some(last - 1));
    assert_eq!(v.detail_u64("size"), Some(size as u64));
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

mod mask_reaching_exactly_the_last_byte_maps_one_less_refuses {
    use super::*;

    #[test]
    fn direct() {
        mask_reaching_exactly_the_last_byte_maps_one_less_refuses(Via::Direct);
    }

    #[test]
    fn bounce() {
        mask_reaching_exactly_the_last_byte_maps_one_less_refuses(Via::Bounce);
    }
}

/// The IOMMU places a mapping below the mask, top-down: a page lands on the mask's last page,
/// its last byte exactly the mask, never beyond.
#[test]
fn iommu_maps_up_to_exactly_the_mask_and_never_past_it() {
    let checker = checker();
    let mask = dma_bit_mask(28);
    let dev = device_via_with(&checker, "sda", "testdrv", Via::Iommu, |b| b.dma_mask(mask));
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
    let buf = kmalloc(&checker, 100, Gfp::KERNEL);

    let whole = dma_map_page(&dev, page, 0, PAGE_SIZE, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, whole), 0);
    assert_eq!(
        whole + PAGE_SIZE as u64 - 1,
        mask,
        "the highest page below the mask"
    );
    let small = dma_map_single(&dev, buf, 100, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, small), 0);
    assert!(
        small + 99 < whole,
        "{small:#x} below the page at {whole:#x}"
    );

    dma_unmap_single(&dev, small, 100, Direction::ToDevice);
    dma_unmap_page(&dev, whole, PAGE_SIZE, Direction::ToDevice);
    kfree(&checker, buf);
    free_pages(&checker, page, 0);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// map-invalid-memory

#[test]
fn map_of_a_null_pointer_is_refused() {
    let checker = checker();
    let dev = device(&checker, "eth0");

    let dma = dma_map_single(&dev, std::ptr::null(), 64, Direction::ToDevice);

    assert_eq!(dma, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &MAP_INVALID_MEMORY);
    assert_eq!(v.call, "dma_map_single");
    assert_eq!(v.detail_u64("size"), Some(64));
    assert_eq!(live(&checker), 0);
}

#[test]
fn map_of_a_local_array_on_the_stack_is_refused() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let local = [0u8; 64];

    let line = line!() + 1;
    let dma = dma_map_single(&dev, local.as_ptr(), local.len(), Direction::ToDevice);

    assert_eq!(dma, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &MAP_STACK_MEMORY);
    assert_eq!(v.detail_u64("cpu_addr"), Some(local.as_ptr().addr() as u64));
    assert_eq!(v.detail_u64("size"), Some(64));
    assert_site(&v.site, FILE, line);
    assert_eq!(live(&checker), 0);
}

#[test]
fn map_page_of_a_stack_page_is_refused() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let local = [0u8; 64];
    let page = virt_to_page(local.as_ptr()).expect("non-null");
    let offset = local.as_ptr().addr() - page.address().addr();

    let dma = dma_map_page(&dev, page, offset, local.len(), Direction::FromDevice);

    assert_eq!(dma, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &MAP_STACK_MEMORY);
    assert_eq!(v.call, "dma_map_page");
    assert_eq!(v.detail_u64("cpu_addr"), Some(local.as_ptr().addr() as u64));
    assert_eq!(live(&checker), 0);
}

#[test]
fn map_running_past_the_end_of_memory_is_refused() {
    let checker = checker();
    let dev = checker.device("eth0").dma_mask(u64::MAX).build();
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);
    // As many bytes as the whole simulated memory, from a buffer that is not at its start.
    let memory_size = (checker.memory().phys_end() - checker.memory().phys_base()) as usize;

    let dma = dma_map_single(&dev, buf, memory_size, Direction::ToDevice);

    assert_eq!(dma, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &MAP_INVALID_MEMORY);
    assert_eq!(v.detail_u64("cpu_addr"), Some(buf.addr() as u64));
    assert_eq!(v.detail_u64("size"), Some(memory_size as u64));
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn map_of_a_huge_size_that_does_not_wrap_is_invalid_memory() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);

    let dma = dma_map_single(&dev, buf, 1 << 40, Direction::ToDevice);

    assert_eq!(dma, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &MAP_INVALID_MEMORY);
    assert_eq!(v.detail_u64("size"), Some(1 << 40));
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn map_ending_at_the_last_byte_of_memory_is_silent_one_byte_more_is_refused() {
    // A small memory, so the test can take all of it and map its very last byte.
    let checker = quiet()
        .memory(MemoryConfig {
            size: 1 << 20,
            phys_base: 1 << 20,
        })
        .build();
    let dev = checker.device("eth0").dma_mask(u64::MAX).build();
    let page = alloc_pages(&checker, Gfp::KERNEL, 8).expect("all 256 pages");
    let size = 256 * PAGE_SIZE;

    let dma = dma_map_page(&dev, page, 0, size, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    assert_eq!(dma + size as u64, checker.memory().phys_end());
    dma_unmap_page(&dev, dma, size, Direction::ToDevice);

    // One byte more runs past the end.
    let over = dma_map_page(&dev, page, 1, size, Direction::ToDevice);
    assert_eq!(over, DMA_MAPPING_ERROR);
    assert_eq!(rule_ids(&checker), ["map-invalid-memory"]);
    free_pages(&checker, page, 8);
    assert_eq!(live(&checker), 0);
}

#[test]
fn map_of_kmalloc_memory_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 3000, Gfp::KERNEL);

    let dma = dma_map_single(&dev, buf, 3000, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    assert_ne!(dma, buf.addr() as u64, "DMA addresses are not CPU pointers");
    dma_unmap_single(&dev, dma, 3000, Direction::ToDevice);

    kfree(&checker, buf);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// Bad input leaves the other entries alone

#[test]
fn refused_maps_never_disturb_live_entries() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);
    let keep = dma_map_single(&dev, buf, 256, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, keep), 0);
    let before = checker.live_entries();
    let local = [0u8; 16];

    let results = [
        dma_map_single(&dev, std::ptr::null(), 16, Direction::ToDevice),
        dma_map_single(&dev, local.as_ptr(), 16, Direction::ToDevice),
        dma_map_single(&dev, buf, 0, Direction::ToDevice),
        dma_map_single(&dev, buf, usize::MAX, Direction::ToDevice),
        dma_map_single(&dev, buf, 256, Direction::None),
    ];

    assert!(results.iter().all(|&d| d == DMA_MAPPING_ERROR));
    assert_eq!(
        rule_ids(&checker),
        [
            "map-invalid-memory",
            "map-stack-memory",
            "map-zero-size",
            "map-range-overflow",
            "direction-none"
        ]
    );
    let after = checker.live_entries();
    assert_eq!(after.len(), before.len());
    assert_eq!(after[0].dma_addr(), keep);
    assert_eq!(after[0].size(), 256);
    assert_eq!(checker.stats().live_entries, 1);

    checker.take_violations();
    dma_unmap_single(&dev, keep, 256, Direction::ToDevice);
    kfree(&checker, buf);
    assert!(checker.violations().is_empty());
    assert_eq!(live(&checker), 0);
}
