//! The modern API in Rust (Linux 5.8 to 6.18): sg tables and the sgtable calls, write-combined
//! and page allocations, mapping by physical address, and the device's limits and queries.

use crate::common;

use common::{checker, device, single_violation};
use dmacheck::rules::{MAP_INVALID_MEMORY, SG_UNMAP_NENTS_MISMATCH, UNMAP_DIRECTION_MISMATCH};
use dmacheck::*;

/// Four consecutive pages, and the same pages in reverse order.
fn four_pages(checker: &Checker) -> (Page, Vec<Page>, Vec<Page>) {
    let block = alloc_pages(checker, Gfp::KERNEL, 2).unwrap();
    let at = |i: usize| Page::containing(page_address(block).wrapping_add(i * PAGE_SIZE)).unwrap();
    let forward: Vec<Page> = (0..4).map(at).collect();
    let backward: Vec<Page> = (0..4).rev().map(at).collect();
    (block, forward, backward)
}

#[test]
fn tables_from_pages_merge_consecutive_pages_within_the_segment_limit() {
    let checker = checker();
    let (block, forward, backward) = four_pages(&checker);
    let one = sg_alloc_table_from_pages(&forward, 0, 4 * PAGE_SIZE).unwrap();
    assert_eq!(sg_nents(&one), 1);
    assert_eq!(one.entries()[0].length(), 4 * PAGE_SIZE);
    let two =
        sg_alloc_table_from_pages_segment(&forward, 0, 4 * PAGE_SIZE, 2 * PAGE_SIZE + 5).unwrap();
    assert_eq!(sg_nents(&two), 2);
    let apart = sg_alloc_table_from_pages(&backward, 100, 4 * PAGE_SIZE - 200).unwrap();
    let lengths: Vec<usize> = apart.entries().iter().map(|e| e.length()).collect();
    assert_eq!(
        lengths,
        [PAGE_SIZE - 100, PAGE_SIZE, PAGE_SIZE, PAGE_SIZE - 100]
    );
    assert_eq!(apart.entries()[0].offset(), 100);
    // Fewer bytes than pages: the table ends where the bytes do.
    let short = sg_alloc_table_from_pages(&backward, 0, PAGE_SIZE + 1).unwrap();
    assert_eq!(sg_nents(&short), 2);
    assert_eq!(sg_nents_for_len(&apart, PAGE_SIZE as u64), Ok(2));
    assert_eq!(sg_nents_for_len(&apart, 4 * PAGE_SIZE as u64), Err(-EINVAL));
    assert_eq!(sg_nents_for_len(&apart, 0), Ok(0));
    for bad in [
        sg_alloc_table_from_pages_segment(&forward, 0, PAGE_SIZE, 100),
        sg_alloc_table_from_pages(&forward, PAGE_SIZE, 10),
        sg_alloc_table_from_pages(&forward, 0, 4 * PAGE_SIZE + 1),
        sg_alloc_table_from_pages(&[], 0, 1),
        sg_alloc_table(0),
    ] {
        assert_eq!(bad.err(), Some(-EINVAL));
    }
    free_pages(&checker, block, 2);
    checker.assert_clean();
}

#[test]
fn sgtable_calls_map_every_entry_and_walk_each_side_with_its_count() {
    let checker = checker();
    let iommu = checker.device("nvme0").iommu().build();
    let (block, _, backward) = four_pages(&checker);
    let mut sgt = sg_alloc_table_from_pages(&backward, 100, 4 * PAGE_SIZE - 200).unwrap();
    assert_eq!(sgtable_nents(&sgt), 0);
    assert_eq!(
        dma_map_sgtable(&iommu, &mut sgt, Direction::FromDevice, DmaAttrs::empty()),
        0
    );
    assert_eq!(
        (sgtable_nents(&sgt), sgt.len()),
        (1, 4),
        "merged behind the IOMMU"
    );
    let dma: usize = for_each_sgtable_dma_sg(&sgt)
        .map(|sg| sg_dma_len(&sg))
        .sum();
    let cpu: usize = for_each_sgtable_sg(&sgt)
        .map(|sg| sg.entry().length())
        .sum();
    assert_eq!((dma, cpu), (4 * PAGE_SIZE - 200, 4 * PAGE_SIZE - 200));
    dma_sync_sgtable_for_cpu(&iommu, &sgt, Direction::FromDevice);
    dma_sync_sgtable_for_device(&iommu, &sgt, Direction::FromDevice);
    dma_unmap_sgtable(&iommu, &mut sgt, Direction::FromDevice, DmaAttrs::empty());
    // A segment limit of a page keeps the entries apart.
    assert_eq!(dma_set_max_seg_size(&iommu, PAGE_SIZE as u32), 0);
    assert_eq!(
        dma_map_sgtable(&iommu, &mut sgt, Direction::FromDevice, DmaAttrs::empty()),
        0
    );
    assert_eq!(sgtable_nents(&sgt), 4);
    dma_unmap_sgtable(&iommu, &mut sgt, Direction::FromDevice, DmaAttrs::empty());
    sg_free_table(sgt);
    free_pages(&checker, block, 2);
    checker.assert_clean();
}

#[test]
fn unmapping_a_table_with_its_dma_count_is_reported() {
    let checker = checker();
    let iommu = checker.device("nvme0").iommu().build();
    let (block, forward, _) = four_pages(&checker);
    let mut sgt = sg_alloc_table_from_pages_segment(&forward, 0, 4 * PAGE_SIZE, PAGE_SIZE).unwrap();
    dma_set_max_seg_size(&iommu, 2 * PAGE_SIZE as u32);
    assert_eq!(
        dma_map_sgtable(&iommu, &mut sgt, Direction::ToDevice, DmaAttrs::empty()),
        0
    );
    let nents = sgtable_nents(&sgt);
    assert_eq!((nents, sgt.len()), (2, 4));
    dma_unmap_sg(&iommu, &mut sgt, nents, Direction::ToDevice);
    single_violation(&checker, &SG_UNMAP_NENTS_MISMATCH);
    free_pages(&checker, block, 2);
}

#[test]
fn a_refused_table_map_returns_an_error() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut sgt = sg_alloc_table(2).unwrap();
    // Entries with no memory behind them.
    assert_eq!(
        dma_map_sgtable(&dev, &mut sgt, Direction::ToDevice, DmaAttrs::empty()),
        -EINVAL
    );
    assert_eq!(sgtable_nents(&sgt), 0);
    assert!(!checker.violations().is_empty());
}

#[test]
fn write_combined_and_page_allocations() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut dma = 0;
    let wc = dma_alloc_wc(&dev, 8192, &mut dma, Gfp::KERNEL);
    assert!(!wc.is_null());
    dma_free_wc(&dev, 8192, wc, dma);

    let page = dma_alloc_pages(
        &dev,
        3 * PAGE_SIZE,
        &mut dma,
        Direction::FromDevice,
        Gfp::KERNEL,
    )
    .unwrap();
    assert!(
        dma + 3 * PAGE_SIZE as u64 - 1 <= dma_get_mask(&dev),
        "below the mask"
    );
    dev.dma_write(dma, b"hello").unwrap();
    dma_sync_single_for_cpu(&dev, dma, 3 * PAGE_SIZE, Direction::FromDevice);
    // SAFETY: the pages are live and the CPU owns them after the sync.
    assert_eq!(
        unsafe { std::slice::from_raw_parts(page_address(page), 5) },
        b"hello"
    );
    dma_sync_single_for_device(&dev, dma, 3 * PAGE_SIZE, Direction::FromDevice);
    dma_free_pages(&dev, 3 * PAGE_SIZE, page, dma, Direction::FromDevice);
    checker.assert_clean();

    let page =
        dma_alloc_pages(&dev, PAGE_SIZE, &mut dma, Direction::ToDevice, Gfp::KERNEL).unwrap();
    dma_free_pages(&dev, PAGE_SIZE, page, dma, Direction::FromDevice);
    single_violation(&checker, &UNMAP_DIRECTION_MISMATCH);
    assert!(checker.live_entries().is_empty());
}

#[test]
fn mapping_by_physical_address() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let phys = checker.memory().phys_of(buf, 512).unwrap();
    let dma = dma_map_phys(&dev, phys, 512, Direction::ToDevice, DmaAttrs::empty());
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    assert_eq!(dma, phys, "direct: the bus address is the physical address");
    dma_unmap_phys(&dev, dma, 512, Direction::ToDevice, DmaAttrs::empty());
    checker.assert_clean();
    let dma = dma_map_phys(&dev, 0x10, 512, Direction::ToDevice, DmaAttrs::empty());
    assert_eq!(dma, DMA_MAPPING_ERROR);
    single_violation(&checker, &MAP_INVALID_MEMORY);
    kfree(&checker, buf);
}

#[test]
fn device_limits_and_queries() {
    let checker = checker();
    let dev = checker.device("eth0").dma_mask(dma_bit_mask(64)).build();
    let isa = checker.device("isa0").dma_mask(dma_bit_mask(24)).build();
    let iommu = checker.device("nvme0").iommu().build();
    let bounce = checker.device("usb0").bounce().build();
    assert_eq!(dma_get_max_seg_size(&dev), 65536);
    assert_eq!(dma_get_seg_boundary(&dev), 0xffff_ffff);
    assert_eq!(dma_set_max_seg_size(&dev, 1 << 20), 0);
    assert_eq!(dma_set_seg_boundary(&dev, u64::MAX), 0);
    assert_eq!(
        (dma_get_max_seg_size(&dev), dma_get_seg_boundary(&dev)),
        (1 << 20, u64::MAX)
    );
    assert_eq!(dma_max_mapping_size(&dev), usize::MAX);
    assert_eq!(dma_opt_mapping_size(&dev), usize::MAX);
    assert_eq!(dma_opt_mapping_size(&iommu), 128 << 10);
    assert_eq!(dma_max_mapping_size(&bounce), 256 << 10);
    assert_eq!(dma_opt_mapping_size(&bounce), 256 << 10);
    assert!(dma_need_sync(&dev, 0));
    assert!(dma_need_unmap(&dev) && dma_need_unmap(&iommu) && dma_can_mmap(&dev));
    // dma-direct never merges segments; the IOMMU merges below its page size.
    assert_eq!(dma_get_merge_boundary(&dev), 0);
    assert_eq!(dma_get_merge_boundary(&bounce), 0);
    assert_eq!(dma_get_merge_boundary(&iommu), 4095);
    assert!(dma_addressing_limited(&isa));
    assert!(!dma_addressing_limited(&dev));
}

#[test]
fn setters_and_pool_creation_on_a_released_device_are_reported_and_refused() {
    use dmacheck::rules::DEVICE_RELEASED;
    let checker = checker();
    let dev = device(&checker, "eth0");
    dev.release();
    assert_eq!(dma_set_mask(&dev, dma_bit_mask(64)), -EIO);
    assert_eq!(dma_set_coherent_mask(&dev, dma_bit_mask(64)), -EIO);
    assert_eq!(dma_set_max_seg_size(&dev, 4096), -EIO);
    assert_eq!(dma_set_seg_boundary(&dev, 0xfff), -EIO);
    assert!(dma_pool_create("late", &dev, 64, 64, 0).is_none());
    let calls: Vec<&str> = checker.violations().iter().map(|v| v.call).collect();
    assert_eq!(
        calls,
        [
            "dma_set_mask",
            "dma_set_coherent_mask",
            "dma_set_max_seg_size",
            "dma_set_seg_boundary",
            "dma_pool_create"
        ]
    );
    assert!(
        checker
            .violations()
            .iter()
            .all(|v| v.rule == &DEVICE_RELEASED)
    );
    assert_eq!(dma_get_mask(&dev), dma_bit_mask(32), "nothing was applied");
    assert_eq!(dma_get_max_seg_size(&dev), 65536);
}

#[test]
fn the_attrs_forms_are_named_as_called() {
    use dmacheck::rules::DIRECTION_NONE;
    let checker = checker();
    let dev = device(&checker, "eth0");
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).unwrap();
    let attrs = DmaAttrs::empty();
    dma_map_page_attrs(&dev, page, 0, 64, Direction::None, attrs);
    dma_map_single_attrs(&dev, page_address(page), 64, Direction::None, attrs);
    dma_map_page(&dev, page, 0, 64, Direction::None);
    let calls: Vec<&str> = checker.violations().iter().map(|v| v.call).collect();
    assert_eq!(
        calls,
        ["dma_map_page_attrs", "dma_map_single_attrs", "dma_map_page"]
    );
    assert!(
        checker
            .violations()
            .iter()
            .all(|v| v.rule == &DIRECTION_NONE)
    );
    let dma = dma_map_page_attrs(&dev, page, 0, 64, Direction::ToDevice, attrs);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_unmap_page_attrs(&dev, dma, 32, Direction::ToDevice, attrs);
    assert_eq!(
        checker.violations().last().unwrap().call,
        "dma_unmap_page_attrs"
    );
    free_pages(&checker, page, 0);
}

#[test]
fn a_write_combined_buffer_maps_into_user_space() {
    let checker = checker();
    let dev = device(&checker, "fb0");
    let mut dma = 0;
    let fb = dma_alloc_wc(&dev, 2 * PAGE_SIZE, &mut dma, Gfp::KERNEL);
    let user = dma_mmap_wc(&dev, fb, dma, 2 * PAGE_SIZE, 0, 2 * PAGE_SIZE).unwrap();
    drop(user);
    let user = dma_mmap_attrs(
        &dev,
        fb,
        dma,
        2 * PAGE_SIZE,
        1,
        PAGE_SIZE,
        DmaAttrs::WRITE_COMBINE,
    )
    .unwrap();
    drop(user);
    assert!(dma_mmap_wc(&dev, fb, dma, 2 * PAGE_SIZE, 1, 2 * PAGE_SIZE).is_err());
    assert_eq!(checker.violations().len(), 1, "a mapping beyond the buffer");
    dma_free_wc(&dev, 2 * PAGE_SIZE, fb, dma);
}

#[test]
fn noncontiguous_memory_is_a_mapped_table_the_cpu_reaches_through_its_vmap() {
    let checker = checker();
    let iommu = checker.device("cam0").iommu().build();
    let sgt = dma_alloc_noncontiguous(
        &iommu,
        3 * PAGE_SIZE,
        Direction::FromDevice,
        Gfp::KERNEL,
        DmaAttrs::empty(),
    )
    .unwrap();
    assert_eq!(sgtable_nents(&sgt), 1);
    let vaddr = dma_vmap_noncontiguous(&iommu, 3 * PAGE_SIZE, &sgt);
    let dma = sg_dma_address(&sg_first(&sgt).unwrap());
    iommu.dma_write(dma + PAGE_SIZE as u64, b"frame").unwrap();
    dma_sync_sgtable_for_cpu(&iommu, &sgt, Direction::FromDevice);
    // SAFETY: the pages are live and the CPU owns them after the sync.
    let seen = unsafe { std::slice::from_raw_parts(vaddr.add(PAGE_SIZE), 5) };
    assert_eq!(seen, b"frame");
    dma_vunmap_noncontiguous(&iommu, vaddr);
    dma_free_noncontiguous(&iommu, 3 * PAGE_SIZE, sgt, Direction::FromDevice);
    assert!(checker.live_entries().is_empty());
    checker.assert_clean();
}

/// "Mapped by" names the call the driver made, not its family's usual call: in a finding about
/// the mapping, in its leak, and in the leak report, live and after the release.
#[test]
fn reports_name_the_call_that_made_the_mapping() {
    use dmacheck::rules::{LEAK, UNMAP_SIZE_MISMATCH};
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);
    let dma = dma_map_single_attrs(&dev, buf, 256, Direction::ToDevice, DmaAttrs::empty());
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_unmap_single(&dev, dma, 128, Direction::ToDevice);
    let v = single_violation(&checker, &UNMAP_SIZE_MISMATCH);
    assert_eq!(v.mapped_by, Some("dma_map_single_attrs"));

    let checker = common::checker();
    let dev = device(&checker, "eth0");
    // A BAR of another device: no RAM of the checker's.
    let bar = dma_map_resource(
        &dev,
        0xfe00_0000,
        4096,
        Direction::FromDevice,
        DmaAttrs::empty(),
    );
    assert_eq!(dma_mapping_error(&dev, bar), 0);
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);
    let plain = dma_map_single(&dev, buf, 256, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, plain), 0);
    let live_calls = |report: &dmacheck::report::LeakReport| {
        let mut calls: Vec<String> = report.sites.iter().map(|s| s.call.clone()).collect();
        calls.sort();
        calls
    };
    assert_eq!(
        live_calls(&checker.leak_report()),
        ["dma_map_resource", "dma_map_single"]
    );
    dev.release();
    let mut mapped_by: Vec<_> = checker
        .violations()
        .iter()
        .filter(|v| v.rule == &LEAK)
        .map(|v| v.mapped_by)
        .collect();
    mapped_by.sort();
    assert_eq!(
        mapped_by,
        [Some("dma_map_resource"), Some("dma_map_single")]
    );
    assert_eq!(
        live_calls(&checker.leak_report()),
        ["dma_map_resource", "dma_map_single"]
    );
    kfree(&checker, buf);
}
