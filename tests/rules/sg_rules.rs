//! The rules of `src/rules/sg.rs`, and the other rules as scatter-gather calls meet them: a list
//! is mapped once, walked for the count the map returned, synced and unmapped with the `nents`
//! passed to the map, with segments the device can take. Every test runs on both backends (the
//! direct one and the IOMMU), since they lay out and merge segments differently.

use crate::common;

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use common::{
    assert_mapped_at, assert_silent, assert_site, checker, listed_leaks, live, rule_ids,
    single_violation,
};
use dmacheck::rules::{
    DIRECTION_NONE, DOUBLE_UNMAP, LEAK, MAP_ABOVE_MASK, MAP_INVALID_MEMORY, SG_DMA_BEYOND_COUNT,
    SG_INVALID_LIST, SG_MAP_MAPPED, SG_SEGMENT_CROSSES_BOUNDARY, SG_SEGMENT_TOO_LONG,
    SG_SYNC_NENTS_MISMATCH, SG_UNMAP_FAILED_MAP, SG_UNMAP_NENTS_MISMATCH, SYNC_DIRECTION_MISMATCH,
    SYNC_UNKNOWN, UNMAP_DIRECTION_MISMATCH, UNMAP_UNKNOWN, WRONG_DEVICE,
};
use dmacheck::*;

const FILE: &str = "sg_rules.rs";

// ---------------------------------------------------------------------------------------------
// Helpers

/// The backend a test's devices sit behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bus {
    Direct,
    Iommu,
}

impl Bus {
    /// A device builder of `checker` on this backend.
    fn device(self, checker: &Checker, name: &str) -> DeviceBuilder {
        let builder = checker.device(name).driver("testdrv");
        match self {
            Bus::Direct => builder,
            Bus::Iommu => builder.iommu(),
        }
    }
}

/// Run `test` once on each backend, each time with a fresh quiet checker; a failure names the
/// backend it happened on.
fn on_both_backends(test: impl Fn(Bus, &Checker)) {
    for bus in [Bus::Direct, Bus::Iommu] {
        let checker = checker();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| test(bus, &checker))) {
            eprintln!("the test failed on the {bus:?} backend");
            resume_unwind(panic);
        }
    }
}

/// A list of kmalloc buffers of `sizes`, entry `i` filled with the byte `i + 1`. Buffers smaller
/// than a page end inside their page, so no backend merges them: the map returns `nents`.
fn buffer_list(checker: &Checker, sizes: &[usize]) -> (SgTable, Vec<*mut u8>) {
    let mut sgl = SgTable::new(sizes.len());
    let bufs: Vec<*mut u8> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let buf = kmalloc(checker, size, Gfp::KERNEL);
            assert!(!buf.is_null());
            // SAFETY: buf is a live allocation of `size` bytes.
            unsafe { std::ptr::write_bytes(buf, i as u8 + 1, size) };
            sg_set_buf(&mut sgl, i, buf, size);
            buf
        })
        .collect();
    (sgl, bufs)
}

fn free_buffers(checker: &Checker, bufs: Vec<*mut u8>) {
    for buf in bufs {
        kfree(checker, buf);
    }
}

/// A list of `n` whole pages, each its own order-0 allocation: an IOMMU may merge them.
fn page_list(checker: &Checker, n: usize) -> (SgTable, Vec<Page>) {
    let mut sgl = SgTable::new(n);
    let pages: Vec<Page> = (0..n)
        .map(|i| {
            let page = alloc_pages(checker, Gfp::KERNEL, 0).expect("a page");
            sg_set_page(&mut sgl, i, page, PAGE_SIZE, 0);
            page
        })
        .collect();
    (sgl, pages)
}

fn free_page_list(checker: &Checker, pages: Vec<Page>) {
    for page in pages {
        free_pages(checker, page, 0);
    }
}

/// The DMA segments of a mapped list, read the way a driver does: `count` entries.
fn segments(sgl: &SgTable, count: usize) -> Vec<(DmaAddr, usize)> {
    for_each_sg(sgl, count)
        .map(|sg| (sg_dma_address(&sg), sg_dma_len(&sg)))
        .collect()
}

/// The first byte's physical address of `len` bytes at `cpu`.
fn phys(checker: &Checker, cpu: *const u8, len: usize) -> PhysAddr {
    checker
        .memory()
        .phys_of(cpu, len as u64)
        .expect("DMA-able memory")
}

// ---------------------------------------------------------------------------------------------
// sg-invalid-list

#[test]
fn map_of_zero_entries_is_an_invalid_list() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512]);

        let line = line!() + 1;
        let count = dma_map_sg(&dev, &mut sgl, 0, Direction::ToDevice);

        assert_eq!(count, 0);
        let v = single_violation(checker, &SG_INVALID_LIST);
        assert_eq!(v.call, "dma_map_sg");
        assert_eq!(v.device, "sda");
        assert_eq!(v.detail_u64("nents"), Some(0));
        assert_eq!(v.detail_u64("entries"), Some(2));
        assert_site(&v.site, FILE, line);
        assert_eq!(live(checker), 0);
        assert_eq!(sgl.mapping(), None);
        free_buffers(checker, bufs);
    });
}

#[test]
fn map_of_more_entries_than_the_list_has_is_an_invalid_list() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 1024]);

        let count = dma_map_sg(&dev, &mut sgl, 3, Direction::ToDevice);

        assert_eq!(count, 0);
        let v = single_violation(checker, &SG_INVALID_LIST);
        assert_eq!(v.detail_u64("nents"), Some(3));
        assert_eq!(v.detail_u64("entries"), Some(2));
        assert_eq!(live(checker), 0);
        free_buffers(checker, bufs);
    });
}

#[test]
fn map_of_a_list_with_an_entry_never_set_is_an_invalid_list() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let a = kmalloc(checker, 256, Gfp::KERNEL);
        let b = kmalloc(checker, 256, Gfp::KERNEL);
        let mut sgl = SgTable::new(3);
        sg_set_buf(&mut sgl, 0, a, 256);
        sg_set_buf(&mut sgl, 2, b, 256);

        let count = dma_map_sg(&dev, &mut sgl, 3, Direction::FromDevice);

        assert_eq!(count, 0);
        let v = single_violation(checker, &SG_INVALID_LIST);
        assert_eq!(v.detail_u64("nents"), Some(3));
        assert_eq!(v.detail_u64("entries"), Some(3));
        assert_eq!(live(checker), 0);
        kfree(checker, a);
        kfree(checker, b);
    });
}

#[test]
fn map_of_a_list_with_a_zero_length_entry_is_an_invalid_list() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512]);
        sg_set_buf(&mut sgl, 1, bufs[1], 0);

        let count = dma_map_sg(&dev, &mut sgl, 2, Direction::ToDevice);

        assert_eq!(count, 0);
        let v = single_violation(checker, &SG_INVALID_LIST);
        assert_eq!(v.detail_u64("nents"), Some(2));
        assert_eq!(v.detail_u64("entries"), Some(2));
        assert_eq!(live(checker), 0);
        free_buffers(checker, bufs);
    });
}

#[test]
fn map_of_a_filled_list_or_of_its_filled_first_entries_is_silent() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut whole, bufs) = buffer_list(checker, &[512, 100, 2048]);
        // A longer list whose first two entries are set: only those are mapped.
        let mut prefix = SgTable::new(4);
        sg_set_buf(&mut prefix, 0, bufs[0], 64);
        sg_set_buf(&mut prefix, 1, bufs[2], 64);

        let n = dma_map_sg(&dev, &mut whole, 3, Direction::ToDevice);
        let m = dma_map_sg(&dev, &mut prefix, 2, Direction::ToDevice);

        assert!((1..=3).contains(&n), "count {n}");
        assert!((1..=2).contains(&m), "count {m}");
        assert_eq!(whole.mapping(), Some((3, n, Direction::ToDevice)));
        assert_eq!(prefix.mapping(), Some((2, m, Direction::ToDevice)));
        assert_eq!(live(checker), n + m);
        dma_unmap_sg(&dev, &mut prefix, 2, Direction::ToDevice);
        dma_unmap_sg(&dev, &mut whole, 3, Direction::ToDevice);
        free_buffers(checker, bufs);
        assert_silent(checker);
        checker.assert_clean();
    });
}

// ---------------------------------------------------------------------------------------------
// sg-map-mapped

#[test]
fn second_map_of_a_mapped_list_is_refused_and_keeps_the_first_mapping() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512, 512]);
        let count = dma_map_sg(&dev, &mut sgl, 3, Direction::ToDevice);
        assert!(count > 0);
        let first = segments(&sgl, count);

        let line = line!() + 1;
        let again = dma_map_sg(&dev, &mut sgl, 2, Direction::ToDevice);

        assert_eq!(again, 0, "the second map is refused");
        let v = single_violation(checker, &SG_MAP_MAPPED);
        assert_eq!(v.call, "dma_map_sg");
        assert_eq!(v.detail_u64("nents"), Some(2));
        assert_eq!(v.detail_u64("mapped_nents"), Some(3));
        assert_eq!(v.detail_u64("mapped_count"), Some(count as u64));
        assert_site(&v.site, FILE, line);
        assert_eq!(sgl.mapping(), Some((3, count, Direction::ToDevice)));
        assert_eq!(segments(&sgl, count), first, "the DMA fields are kept");
        assert_eq!(live(checker), count);

        checker.take_violations();
        dma_unmap_sg(&dev, &mut sgl, 3, Direction::ToDevice);
        assert_silent(checker);
        assert_eq!(live(checker), 0);
        free_buffers(checker, bufs);
    });
}

#[test]
fn list_mapped_again_after_its_unmap_is_silent() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, pages) = page_list(checker, 4);

        for dir in [Direction::ToDevice, Direction::FromDevice] {
            let count = dma_map_sg(&dev, &mut sgl, 4, dir);
            assert!(count > 0);
            let total: usize = segments(&sgl, count).iter().map(|s| s.1).sum();
            assert_eq!(total, 4 * PAGE_SIZE);
            dma_unmap_sg(&dev, &mut sgl, 4, dir);
        }

        free_page_list(checker, pages);
        assert_silent(checker);
        checker.assert_clean();
    });
}

// ---------------------------------------------------------------------------------------------
// sg-segment-too-long

#[test]
fn segment_longer_than_the_max_segment_size_is_reported() {
    on_both_backends(|bus, checker| {
        let dev = bus
            .device(checker, "sda")
            .max_segment_size(PAGE_SIZE as u64)
            .build();
        let block = alloc_pages(checker, Gfp::KERNEL, 1).expect("two pages");
        let mut sgl = SgTable::new(1);
        sg_set_page(&mut sgl, 0, block, 2 * PAGE_SIZE, 0);

        let line = line!() + 1;
        let count = dma_map_sg(&dev, &mut sgl, 1, Direction::ToDevice);

        assert_eq!(count, 1, "the map goes on");
        let seg = segments(&sgl, count)[0];
        let v = single_violation(checker, &SG_SEGMENT_TOO_LONG);
        assert_eq!(v.call, "dma_map_sg");
        assert_eq!(v.detail_u64("dma_addr"), Some(seg.0));
        assert_eq!(v.detail_u64("size"), Some(2 * PAGE_SIZE as u64));
        assert_eq!(v.detail_u64("max_segment_size"), Some(PAGE_SIZE as u64));
        assert_site(&v.site, FILE, line);
        assert_eq!(seg.1, 2 * PAGE_SIZE);

        checker.take_violations();
        dma_unmap_sg(&dev, &mut sgl, 1, Direction::ToDevice);
        assert_silent(checker);
        assert_eq!(live(checker), 0);
        free_pages(checker, block, 1);
    });
}

#[test]
fn segments_within_the_max_segment_size_are_silent() {
    on_both_backends(|bus, checker| {
        let max = 2 * PAGE_SIZE;
        let dev = bus
            .device(checker, "sda")
            .max_segment_size(max as u64)
            .build();
        // Six single pages (an IOMMU merges them, but only up to two pages), then two pages.
        let (mut sgl, pages) = page_list(checker, 6);
        let block = alloc_pages(checker, Gfp::KERNEL, 1).expect("two pages");
        let mut tail = SgTable::new(1);
        sg_set_page(&mut tail, 0, block, 2 * PAGE_SIZE, 0);
        sg_chain(&mut sgl, tail);

        let count = dma_map_sg(&dev, &mut sgl, 7, Direction::FromDevice);

        assert!(count > 0);
        let segs = segments(&sgl, count);
        assert!(segs.iter().all(|&(_, len)| len <= max), "{segs:x?}");
        assert_eq!(segs.iter().map(|s| s.1).sum::<usize>(), 8 * PAGE_SIZE);
        assert_silent(checker);
        dma_unmap_sg(&dev, &mut sgl, 7, Direction::FromDevice);
        free_page_list(checker, pages);
        free_pages(checker, block, 1);
        checker.assert_clean();
    });
}

/// One entry of exactly the maximum segment size is silent; one byte more is too long.
#[test]
fn segment_of_exactly_the_max_segment_size_is_silent_one_byte_more_is_too_long() {
    on_both_backends(|bus, checker| {
        let (mut sgl, bufs) = buffer_list(checker, &[1000]);
        for (max, expect_too_long) in [(1000, false), (999, true)] {
            let dev = bus.device(checker, "sda").max_segment_size(max).build();

            let count = dma_map_sg(&dev, &mut sgl, 1, Direction::ToDevice);

            assert_eq!(count, 1, "the map goes on");
            let seg = segments(&sgl, count)[0];
            assert_eq!(seg.1, 1000);
            if expect_too_long {
                let v = single_violation(checker, &SG_SEGMENT_TOO_LONG);
                assert_eq!(v.detail_u64("dma_addr"), Some(seg.0));
                assert_eq!(v.detail_u64("size"), Some(1000));
                assert_eq!(v.detail_u64("max_segment_size"), Some(999));
                checker.take_violations();
            } else {
                assert_silent(checker);
            }
            dma_unmap_sg(&dev, &mut sgl, 1, Direction::ToDevice);
            assert_silent(checker);
            dev.release();
        }
        free_buffers(checker, bufs);
        checker.assert_clean();
    });
}

/// The IOMMU merges two pages that meet into one segment only while it stays within the
/// maximum: at exactly two pages it merges, one byte less it keeps them apart.
#[test]
fn iommu_merges_up_to_exactly_the_max_segment_size() {
    let checker = checker();
    for (max, segments_expected) in [(2 * PAGE_SIZE as u64, 1), (2 * PAGE_SIZE as u64 - 1, 2)] {
        let dev = Bus::Iommu
            .device(&checker, "sda")
            .max_segment_size(max)
            .build();
        let (mut sgl, pages) = page_list(&checker, 2);

        let count = dma_map_sg(&dev, &mut sgl, 2, Direction::ToDevice);

        assert_eq!(count, segments_expected, "max {max}");
        let segs = segments(&sgl, count);
        assert_eq!(segs.iter().map(|s| s.1).sum::<usize>(), 2 * PAGE_SIZE);
        assert_silent(&checker);
        dma_unmap_sg(&dev, &mut sgl, 2, Direction::ToDevice);
        free_page_list(&checker, pages);
        dev.release();
    }
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// sg-segment-crosses-boundary

#[test]
fn segment_across_the_segment_boundary_is_reported() {
    on_both_backends(|bus, checker| {
        let dev = bus
            .device(checker, "sda")
            .segment_boundary_mask(0x1fff)
            .build();
        // Three pages in one entry cannot fit in an 8 KiB window, wherever they are put.
        let block = alloc_pages(checker, Gfp::KERNEL, 2).expect("four pages");
        let mut sgl = SgTable::new(1);
        sg_set_page(&mut sgl, 0, block, 3 * PAGE_SIZE, 0);

        let line = line!() + 1;
        let count = dma_map_sg(&dev, &mut sgl, 1, Direction::ToDevice);

        assert_eq!(count, 1, "the map goes on");
        let seg = segments(&sgl, count)[0];
        let v = single_violation(checker, &SG_SEGMENT_CROSSES_BOUNDARY);
        assert_eq!(v.call, "dma_map_sg");
        assert_eq!(v.detail_u64("dma_addr"), Some(seg.0));
        assert_eq!(v.detail_u64("size"), Some(3 * PAGE_SIZE as u64));
        assert_eq!(v.detail_u64("boundary_mask"), Some(0x1fff));
        assert_site(&v.site, FILE, line);
        let last = seg.0 + seg.1 as u64 - 1;
        assert_ne!(seg.0 & !0x1fff, last & !0x1fff, "the segment does cross");

        checker.take_violations();
        dma_unmap_sg(&dev, &mut sgl, 1, Direction::ToDevice);
        assert_silent(checker);
        assert_eq!(live(checker), 0);
        free_pages(checker, block, 2);
    });
}

#[test]
fn segments_inside_boundary_windows_are_silent() {
    on_both_backends(|bus, checker| {
        let mask = 0x1fff_u64;
        let dev = bus
            .device(checker, "sda")
            .segment_boundary_mask(mask)
            .build();
        // Two-page blocks are aligned to two pages, single pages never cross 8 KiB windows.
        let blocks: Vec<Page> = (0..3)
            .map(|_| alloc_pages(checker, Gfp::KERNEL, 1).expect("two pages"))
            .collect();
        let (mut sgl, pages) = page_list(checker, 3);
        let mut more = SgTable::new(3);
        for (i, &block) in blocks.iter().enumerate() {
            sg_set_page(&mut more, i, block, 2 * PAGE_SIZE, 0);
        }
        sg_chain(&mut sgl, more);

        let count = dma_map_sg(&dev, &mut sgl, 6, Direction::ToDevice);

        assert!(count > 0);
        let segs = segments(&sgl, count);
        for &(start, len) in &segs {
            let last = start + len as u64 - 1;
            assert_eq!(start & !mask, last & !mask, "{segs:x?}");
        }
        assert_eq!(segs.iter().map(|s| s.1).sum::<usize>(), 9 * PAGE_SIZE);
        assert_silent(checker);
        dma_unmap_sg(&dev, &mut sgl, 6, Direction::ToDevice);
        free_page_list(checker, pages);
        for block in blocks {
            free_pages(checker, block, 1);
        }
        checker.assert_clean();
    });
}

/// One entry of `len` bytes at `offset` in a fresh 16 KiB block (aligned to 16 KiB, so to any
/// smaller boundary window), mapped for a device with the boundary mask `mask`, then unmapped
/// silently. Returns the DMA segments and the map's violations.
fn map_one_entry_in_a_block(
    bus: Bus,
    checker: &Checker,
    mask: u64,
    offset: usize,
    len: usize,
) -> (Vec<(DmaAddr, usize)>, Vec<Violation>) {
    let dev = bus
        .device(checker, "sda")
        .segment_boundary_mask(mask)
        .build();
    let block = alloc_pages(checker, Gfp::KERNEL, 2).expect("four pages");
    let mut sgl = SgTable::new(1);
    sg_set_page(&mut sgl, 0, block, len, offset);
    let count = dma_map_sg(&dev, &mut sgl, 1, Direction::ToDevice);
    assert_eq!(count, 1, "the map goes on");
    let segs = segments(&sgl, count);
    let found = checker.take_violations();
    dma_unmap_sg(&dev, &mut sgl, 1, Direction::ToDevice);
    assert_silent(checker);
    free_pages(checker, block, 2);
    dev.release();
    (segs, found)
}

/// The ids of `violations`.
fn ids_of(violations: &[Violation]) -> Vec<&'static str> {
    violations.iter().map(|v| v.rule.id).collect()
}

#[test]
fn segment_filling_exactly_one_boundary_window_is_silent() {
    on_both_backends(|bus, checker| {
        for offset in [0, 0x2000] {
            let (segs, found) = map_one_entry_in_a_block(bus, checker, 0x1fff, offset, 0x2000);
            assert_eq!(segs[0].1, 0x2000);
            assert_eq!(segs[0].0 % 0x2000, 0, "{segs:x?} starts a window");
            assert!(found.is_empty(), "{:?}", ids_of(&found));
        }
        checker.assert_clean();
    });
}

#[test]
fn segment_one_byte_longer_than_a_boundary_window_crosses_it() {
    on_both_backends(|bus, checker| {
        let (segs, found) = map_one_entry_in_a_block(bus, checker, 0x1fff, 0, 0x2001);
        assert_eq!(ids_of(&found), [SG_SEGMENT_CROSSES_BOUNDARY.id]);
        let v = &found[0];
        assert_eq!(v.detail_u64("dma_addr"), Some(segs[0].0));
        assert_eq!(v.detail_u64("size"), Some(0x2001));
        assert_eq!(v.detail_u64("boundary_mask"), Some(0x1fff));
    });
}

/// Two bytes straddling a boundary: their own bus addresses cross it on the direct backend;
/// the IOMMU lays the segment out inside one window instead.
#[test]
fn segment_starting_one_byte_before_a_boundary_crosses_it_directly_not_through_the_iommu() {
    on_both_backends(|bus, checker| {
        let (segs, found) = map_one_entry_in_a_block(bus, checker, 0x1fff, 0x1fff, 2);
        match bus {
            Bus::Direct => {
                assert_eq!(segs[0].0 % 0x2000, 0x1fff);
                assert_eq!(ids_of(&found), [SG_SEGMENT_CROSSES_BOUNDARY.id]);
                assert_eq!(found[0].detail_u64("size"), Some(2));
            }
            Bus::Iommu => {
                assert_eq!(segs[0].0 & !0x1fff, (segs[0].0 + 1) & !0x1fff, "{segs:x?}");
                assert!(found.is_empty(), "{:?}", ids_of(&found));
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// sg-unmap-nents-mismatch

#[test]
fn unmap_with_another_entry_count_is_reported_and_releases_the_list() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512, 512]);
        let line = line!() + 1;
        let count = dma_map_sg(&dev, &mut sgl, 3, Direction::ToDevice);
        assert_eq!(count, 3, "sub-page buffers are not merged");

        let unmap_line = line!() + 1;
        dma_unmap_sg(&dev, &mut sgl, 2, Direction::ToDevice);

        let v = single_violation(checker, &SG_UNMAP_NENTS_MISMATCH);
        assert_eq!(v.call, "dma_unmap_sg");
        assert_eq!(v.detail_u64("nents"), Some(2));
        assert_eq!(v.detail_u64("mapped_nents"), Some(3));
        assert_eq!(v.detail_u64("mapped_count"), Some(3));
        assert_eq!(v.mapped_by, Some("dma_map_sg"));
        assert_mapped_at(&v, FILE, line);
        assert_site(&v.site, FILE, unmap_line);
        assert_eq!(live(checker), 0, "the whole mapping is released");
        assert_eq!(sgl.mapping(), None);
        free_buffers(checker, bufs);
    });
}

#[test]
fn unmap_with_the_count_the_map_returned_is_reported_as_such() {
    // Only an IOMMU returns fewer segments than entries.
    let checker = checker();
    let dev = Bus::Iommu.device(&checker, "nvme0").build();
    let (mut sgl, pages) = page_list(&checker, 4);
    let line = line!() + 1;
    let count = dma_map_sg(&dev, &mut sgl, 4, Direction::FromDevice);
    assert!(count > 0 && count < 4, "whole pages merge: {count}");

    dma_unmap_sg(&dev, &mut sgl, count, Direction::FromDevice);

    let v = single_violation(&checker, &SG_UNMAP_NENTS_MISMATCH);
    assert!(
        v.message.contains("count dma_map_sg returned"),
        "{}",
        v.message
    );
    assert_eq!(v.detail_u64("nents"), Some(count as u64));
    assert_eq!(v.detail_u64("mapped_nents"), Some(4));
    assert_eq!(v.detail_u64("mapped_count"), Some(count as u64));
    assert_mapped_at(&v, FILE, line);
    assert_eq!(live(&checker), 0);
    free_page_list(&checker, pages);
}

#[test]
fn unmap_with_the_nents_passed_to_the_map_is_silent() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "nvme0").build();
        let (mut sgl, pages) = page_list(checker, 5);
        let count = dma_map_sg(&dev, &mut sgl, 5, Direction::Bidirectional);
        assert!(count > 0 && count <= 5);
        if bus == Bus::Iommu {
            assert!(count < 5, "whole pages merge behind an IOMMU: {count}");
        }

        dma_unmap_sg(&dev, &mut sgl, 5, Direction::Bidirectional);

        assert_silent(checker);
        assert_eq!(live(checker), 0);
        free_page_list(checker, pages);
        checker.assert_clean();
    });
}

#[test]
fn unmap_with_zero_entries_is_an_entry_count_mismatch() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512]);
        let count = dma_map_sg(&dev, &mut sgl, 2, Direction::ToDevice);
        assert_eq!(count, 2);

        dma_unmap_sg(&dev, &mut sgl, 0, Direction::ToDevice);

        let v = single_violation(checker, &SG_UNMAP_NENTS_MISMATCH);
        assert_eq!(v.detail_u64("nents"), Some(0));
        assert_eq!(v.detail_u64("mapped_nents"), Some(2));
        free_buffers(checker, bufs);
    });
}

// ---------------------------------------------------------------------------------------------
// sg-sync-nents-mismatch

#[test]
fn sync_with_another_entry_count_is_reported_and_keeps_the_list() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512, 512]);
        let line = line!() + 1;
        let count = dma_map_sg(&dev, &mut sgl, 3, Direction::FromDevice);
        assert_eq!(count, 3);

        let sync_line = line!() + 1;
        dma_sync_sg_for_cpu(&dev, &sgl, 1, Direction::FromDevice);

        let v = single_violation(checker, &SG_SYNC_NENTS_MISMATCH);
        assert_eq!(v.call, "dma_sync_sg_for_cpu");
        assert_eq!(v.detail_u64("nents"), Some(1));
        assert_eq!(v.detail_u64("mapped_nents"), Some(3));
        assert_eq!(v.detail_u64("mapped_count"), Some(3));
        assert_eq!(v.mapped_by, Some("dma_map_sg"));
        assert_mapped_at(&v, FILE, line);
        assert_site(&v.site, FILE, sync_line);
        assert_eq!(live(checker), 3, "a sync releases nothing");

        checker.take_violations();
        dma_sync_sg_for_device(&dev, &sgl, 4, Direction::FromDevice);
        let v = single_violation(checker, &SG_SYNC_NENTS_MISMATCH);
        assert_eq!(v.call, "dma_sync_sg_for_device");
        assert_eq!(v.detail_u64("nents"), Some(4));

        checker.take_violations();
        dma_unmap_sg(&dev, &mut sgl, 3, Direction::FromDevice);
        assert_silent(checker);
        assert_eq!(live(checker), 0);
        free_buffers(checker, bufs);
    });
}

#[test]
fn sync_with_the_count_the_map_returned_is_reported_as_such() {
    let checker = checker();
    let dev = Bus::Iommu.device(&checker, "nvme0").build();
    let (mut sgl, pages) = page_list(&checker, 4);
    let count = dma_map_sg(&dev, &mut sgl, 4, Direction::FromDevice);
    assert!(count > 0 && count < 4, "whole pages merge: {count}");

    dma_sync_sg_for_cpu(&dev, &sgl, count, Direction::FromDevice);

    let v = single_violation(&checker, &SG_SYNC_NENTS_MISMATCH);
    assert!(
        v.message.contains("count dma_map_sg returned"),
        "{}",
        v.message
    );
    assert_eq!(v.detail_u64("nents"), Some(count as u64));
    assert_eq!(v.detail_u64("mapped_nents"), Some(4));
    assert_eq!(v.detail_u64("mapped_count"), Some(count as u64));
    checker.take_violations();
    dma_unmap_sg(&dev, &mut sgl, 4, Direction::FromDevice);
    assert_silent(&checker);
    free_page_list(&checker, pages);
}

#[test]
fn sync_with_the_nents_passed_to_the_map_is_silent() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "nvme0").build();
        let (mut sgl, pages) = page_list(checker, 5);
        let count = dma_map_sg(&dev, &mut sgl, 5, Direction::FromDevice);
        assert!(count > 0);

        for _ in 0..2 {
            dma_sync_sg_for_cpu(&dev, &sgl, 5, Direction::FromDevice);
            dma_sync_sg_for_device(&dev, &sgl, 5, Direction::FromDevice);
        }

        assert_silent(checker);
        assert_eq!(live(checker), count);
        dma_unmap_sg(&dev, &mut sgl, 5, Direction::FromDevice);
        free_page_list(checker, pages);
        checker.assert_clean();
    });
}

#[test]
fn sync_with_zero_entries_is_an_entry_count_mismatch() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512]);
        let count = dma_map_sg(&dev, &mut sgl, 2, Direction::FromDevice);
        assert_eq!(count, 2);

        dma_sync_sg_for_cpu(&dev, &sgl, 0, Direction::FromDevice);

        let v = single_violation(checker, &SG_SYNC_NENTS_MISMATCH);
        assert_eq!(v.detail_u64("nents"), Some(0));
        assert_eq!(v.detail_u64("mapped_nents"), Some(2));
        checker.take_violations();
        dma_unmap_sg(&dev, &mut sgl, 2, Direction::FromDevice);
        free_buffers(checker, bufs);
    });
}

// ---------------------------------------------------------------------------------------------
// sg-unmap-failed-map

#[test]
fn unmap_of_a_list_whose_map_failed_is_reported() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512]);
        let count = dma_map_sg(&dev, &mut sgl, 3, Direction::ToDevice);
        assert_eq!(count, 0);
        assert_eq!(rule_ids(checker), ["sg-invalid-list"]);
        checker.take_violations();

        let line = line!() + 1;
        dma_unmap_sg(&dev, &mut sgl, 3, Direction::ToDevice);

        let v = single_violation(checker, &SG_UNMAP_FAILED_MAP);
        assert_eq!(v.call, "dma_unmap_sg");
        assert_eq!(v.device, "sda");
        assert_site(&v.site, FILE, line);
        assert_eq!(live(checker), 0);
        free_buffers(checker, bufs);
    });
}

#[test]
fn failed_map_tested_and_not_unmapped_is_silent() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512]);
        let count = dma_map_sg(&dev, &mut sgl, 3, Direction::ToDevice);
        assert_eq!(rule_ids(checker), ["sg-invalid-list"]);
        checker.take_violations();

        if count != 0 {
            dma_unmap_sg(&dev, &mut sgl, 3, Direction::ToDevice);
        }

        assert_eq!(count, 0);
        assert_silent(checker);
        assert_eq!(checker.count(&SG_UNMAP_FAILED_MAP), 0);
        assert_eq!(live(checker), 0);
        free_buffers(checker, bufs);
    });
}

#[test]
fn list_mapped_again_after_a_failed_map_is_unmapped_silently() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512]);
        assert_eq!(dma_map_sg(&dev, &mut sgl, 3, Direction::ToDevice), 0);
        checker.take_violations();

        // The driver corrects the count and maps again.
        let count = dma_map_sg(&dev, &mut sgl, 2, Direction::ToDevice);
        assert_eq!(count, 2);
        dma_unmap_sg(&dev, &mut sgl, 2, Direction::ToDevice);

        assert_silent(checker);
        assert_eq!(live(checker), 0);
        free_buffers(checker, bufs);
    });
}

// ---------------------------------------------------------------------------------------------
// sg-dma-beyond-count

#[test]
fn dma_fields_read_past_the_returned_count_are_reported() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512, 512]);
        // Two of the three entries are mapped; the driver walks all three.
        let count = dma_map_sg(&dev, &mut sgl, 2, Direction::ToDevice);
        assert_eq!(count, 2);

        let beyond = for_each_sg(&sgl, 3).nth(2).expect("a third entry");
        let line = line!() + 1;
        let addr = sg_dma_address(&beyond);

        let v = single_violation(checker, &SG_DMA_BEYOND_COUNT);
        assert_eq!(v.call, "sg_dma_address");
        assert_eq!(v.device, "sda");
        assert_eq!(v.detail_u64("index"), Some(2));
        assert!(v.message.contains("returned 2"), "{}", v.message);
        assert_site(&v.site, FILE, line);
        assert_eq!(addr, 0, "the entry carries no segment");

        checker.take_violations();
        let line = line!() + 1;
        let len = sg_dma_len(&beyond);
        let v = single_violation(checker, &SG_DMA_BEYOND_COUNT);
        assert_eq!(v.call, "sg_dma_len");
        assert_eq!(v.detail_u64("index"), Some(2));
        assert_site(&v.site, FILE, line);
        assert_eq!(len, 0);

        checker.take_violations();
        dma_unmap_sg(&dev, &mut sgl, 2, Direction::ToDevice);
        assert_silent(checker);
        free_buffers(checker, bufs);
    });
}

#[test]
fn walking_nents_entries_of_a_merged_list_is_reported_at_the_first_entry_past_count() {
    let checker = checker();
    let dev = Bus::Iommu.device(&checker, "nvme0").build();
    let (mut sgl, pages) = page_list(&checker, 4);
    let count = dma_map_sg(&dev, &mut sgl, 4, Direction::ToDevice);
    assert!(count > 0 && count < 4, "whole pages merge: {count}");

    // The classic bug: loop nents times instead of count times.
    let total: usize = for_each_sg(&sgl, 4).map(|sg| sg_dma_len(&sg)).sum();

    let found = checker.violations();
    assert_eq!(found.len(), 4 - count, "{:?}", rule_ids(&checker));
    for (v, index) in found.iter().zip(count..) {
        assert_eq!(v.rule.id, SG_DMA_BEYOND_COUNT.id);
        assert_eq!(v.detail_u64("index"), Some(index as u64));
    }
    assert_eq!(total, 4 * PAGE_SIZE, "the entries past count are empty");
    checker.take_violations();
    dma_unmap_sg(&dev, &mut sgl, 4, Direction::ToDevice);
    assert_silent(&checker);
    free_page_list(&checker, pages);
}

#[test]
fn dma_fields_read_after_unmap_are_reported() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512]);
        assert_eq!(dma_map_sg(&dev, &mut sgl, 2, Direction::ToDevice), 2);
        dma_unmap_sg(&dev, &mut sgl, 2, Direction::ToDevice);

        let first = sg_first(&sgl).expect("an entry");
        sg_dma_address(&first);

        let v = single_violation(checker, &SG_DMA_BEYOND_COUNT);
        assert_eq!(v.detail_u64("index"), Some(0));
        assert!(v.message.contains("after dma_unmap_sg"), "{}", v.message);
        free_buffers(checker, bufs);
    });
}

#[test]
fn dma_fields_read_after_a_failed_map_are_reported() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512]);
        assert_eq!(dma_map_sg(&dev, &mut sgl, 0, Direction::ToDevice), 0);
        checker.take_violations();

        let second = sg_first(&sgl)
            .and_then(|sg| sg.next())
            .expect("two entries");
        sg_dma_len(&second);

        let v = single_violation(checker, &SG_DMA_BEYOND_COUNT);
        assert_eq!(v.call, "sg_dma_len");
        assert_eq!(v.detail_u64("index"), Some(1));
        assert!(v.message.contains("failed"), "{}", v.message);
        free_buffers(checker, bufs);
    });
}

#[test]
fn walking_the_returned_count_is_silent() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "nvme0").build();
        let (mut sgl, pages) = page_list(checker, 6);
        let count = dma_map_sg(&dev, &mut sgl, 6, Direction::ToDevice);
        assert!(count > 0);

        let mut hw = Vec::new();
        for sg in for_each_sg(&sgl, count) {
            hw.push((sg_dma_address(&sg), sg_dma_len(&sg)));
        }

        assert_eq!(hw.len(), count);
        assert_eq!(hw.iter().map(|s| s.1).sum::<usize>(), 6 * PAGE_SIZE);
        assert_silent(checker);
        dma_unmap_sg(&dev, &mut sgl, 6, Direction::ToDevice);
        free_page_list(checker, pages);
        checker.assert_clean();
    });
}

// ---------------------------------------------------------------------------------------------
// Release and sync rules, for lists

#[test]
fn unmap_of_a_list_with_another_direction_is_reported() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 1024]);
        let line = line!() + 1;
        let count = dma_map_sg(&dev, &mut sgl, 2, Direction::FromDevice);
        assert_eq!(count, 2);
        let first = segments(&sgl, count)[0].0;

        dma_unmap_sg(&dev, &mut sgl, 2, Direction::ToDevice);

        // One report for the list, not one per segment.
        let v = single_violation(checker, &UNMAP_DIRECTION_MISMATCH);
        assert_eq!(v.call, "dma_unmap_sg");
        assert_eq!(v.detail_u64("dma_addr"), Some(first));
        assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::ToDevice)));
        assert_eq!(
            v.detail("mapped_dir"),
            Some(&Value::Dir(Direction::FromDevice))
        );
        assert_eq!(v.mapped_by, Some("dma_map_sg"));
        assert_mapped_at(&v, FILE, line);
        assert_eq!(live(checker), 0, "the list is released as mapped");
        free_buffers(checker, bufs);
    });
}

#[test]
fn sync_for_cpu_of_a_to_device_list_with_from_device_is_device_read_only() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512]);
        let line = line!() + 1;
        let count = dma_map_sg(&dev, &mut sgl, 2, Direction::ToDevice);
        assert_eq!(count, 2);

        dma_sync_sg_for_cpu(&dev, &sgl, 2, Direction::FromDevice);

        let v = single_violation(checker, &SYNC_DIRECTION_MISMATCH);
        assert_eq!(v.call, "dma_sync_sg_for_cpu");
        assert!(v.message.contains("device-read-only"), "{}", v.message);
        assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::FromDevice)));
        assert_eq!(
            v.detail("mapped_dir"),
            Some(&Value::Dir(Direction::ToDevice))
        );
        assert_eq!(v.mapped_by, Some("dma_map_sg"));
        assert_mapped_at(&v, FILE, line);
        checker.take_violations();
        dma_unmap_sg(&dev, &mut sgl, 2, Direction::ToDevice);
        assert_silent(checker);
        free_buffers(checker, bufs);
    });
}

#[test]
fn sync_for_device_of_a_from_device_list_with_to_device_is_device_write_only() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, pages) = page_list(checker, 3);
        let count = dma_map_sg(&dev, &mut sgl, 3, Direction::FromDevice);
        assert!(count > 0);

        dma_sync_sg_for_device(&dev, &sgl, 3, Direction::ToDevice);

        let v = single_violation(checker, &SYNC_DIRECTION_MISMATCH);
        assert_eq!(v.call, "dma_sync_sg_for_device");
        assert!(v.message.contains("device-write-only"), "{}", v.message);
        assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::ToDevice)));
        assert_eq!(
            v.detail("mapped_dir"),
            Some(&Value::Dir(Direction::FromDevice))
        );
        checker.take_violations();
        dma_unmap_sg(&dev, &mut sgl, 3, Direction::FromDevice);
        assert_silent(checker);
        free_page_list(checker, pages);
    });
}

#[test]
fn sync_of_a_list_never_mapped_is_unknown() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (sgl, bufs) = buffer_list(checker, &[512, 512]);

        let line = line!() + 1;
        dma_sync_sg_for_cpu(&dev, &sgl, 2, Direction::FromDevice);

        let v = single_violation(checker, &SYNC_UNKNOWN);
        assert_eq!(v.call, "dma_sync_sg_for_cpu");
        assert_eq!(v.detail_u64("nents"), Some(2));
        assert!(v.mapped_at.is_none());
        assert_site(&v.site, FILE, line);
        free_buffers(checker, bufs);
    });
}

#[test]
fn sync_after_unmap_is_unknown_and_names_the_unmap() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512]);
        let map_line = line!() + 1;
        assert_eq!(dma_map_sg(&dev, &mut sgl, 2, Direction::FromDevice), 2);
        let unmap_line = line!() + 1;
        dma_unmap_sg(&dev, &mut sgl, 2, Direction::FromDevice);

        dma_sync_sg_for_cpu(&dev, &sgl, 2, Direction::FromDevice);

        let v = single_violation(checker, &SYNC_UNKNOWN);
        assert!(v.message.contains("dma_unmap_sg"), "{}", v.message);
        assert_mapped_at(&v, FILE, map_line);
        let related = v.related.as_ref().expect("the unmap is named");
        assert_eq!(related.label, "released at");
        assert_site(&related.site, FILE, unmap_line);
        free_buffers(checker, bufs);
    });
}

#[test]
fn double_unmap_of_a_list_names_the_first_unmap() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, pages) = page_list(checker, 3);
        let map_line = line!() + 1;
        let count = dma_map_sg(&dev, &mut sgl, 3, Direction::ToDevice);
        assert!(count > 0);
        let first_seg = segments(&sgl, count)[0].0;
        let first_line = line!() + 1;
        dma_unmap_sg(&dev, &mut sgl, 3, Direction::ToDevice);
        assert_silent(checker);

        let line = line!() + 1;
        dma_unmap_sg(&dev, &mut sgl, 3, Direction::ToDevice);

        let v = single_violation(checker, &DOUBLE_UNMAP);
        assert_eq!(v.call, "dma_unmap_sg");
        assert!(v.message.contains("dma_unmap_sg"), "{}", v.message);
        assert_eq!(v.detail_u64("dma_addr"), Some(first_seg));
        assert_eq!(v.mapped_by, Some("dma_map_sg"));
        assert_mapped_at(&v, FILE, map_line);
        let related = v.related.as_ref().expect("the first unmap is named");
        assert_eq!(related.label, "first released at");
        assert_site(&related.site, FILE, first_line);
        assert_site(&v.site, FILE, line);
        assert_eq!(live(checker), 0);
        free_page_list(checker, pages);
    });
}

#[test]
fn second_unmap_after_its_addresses_were_mapped_again_is_a_double_unmap() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        // A ring reuses its buffers: request `a` is done, request `b` takes the same buffers.
        let (mut a, bufs) = buffer_list(checker, &[512, 512]);
        let mut b = a.clone();
        assert_eq!(dma_map_sg(&dev, &mut a, 2, Direction::ToDevice), 2);
        let first_line = line!() + 1;
        dma_unmap_sg(&dev, &mut a, 2, Direction::ToDevice);
        assert_eq!(dma_map_sg(&dev, &mut b, 2, Direction::ToDevice), 2);
        assert_eq!(
            segments(&b, 2)[0].0,
            checker.live_entries()[0].dma_addr(),
            "the new mapping is live"
        );
        assert_silent(checker);

        dma_unmap_sg(&dev, &mut a, 2, Direction::ToDevice);

        let v = single_violation(checker, &DOUBLE_UNMAP);
        let related = v.related.as_ref().expect("the first unmap is named");
        assert_site(&related.site, FILE, first_line);
        assert_eq!(live(checker), 2, "b's segments stay mapped");
        checker.take_violations();
        dma_unmap_sg(&dev, &mut b, 2, Direction::ToDevice);
        assert_silent(checker);
        assert_eq!(live(checker), 0);
        free_buffers(checker, bufs);
    });
}

#[test]
fn sync_after_unmap_is_unknown_even_when_its_addresses_were_mapped_again() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut a, bufs) = buffer_list(checker, &[512, 512]);
        let mut b = a.clone();
        assert_eq!(dma_map_sg(&dev, &mut a, 2, Direction::FromDevice), 2);
        dma_unmap_sg(&dev, &mut a, 2, Direction::FromDevice);
        assert_eq!(dma_map_sg(&dev, &mut b, 2, Direction::FromDevice), 2);

        dma_sync_sg_for_cpu(&dev, &a, 2, Direction::FromDevice);

        let v = single_violation(checker, &SYNC_UNKNOWN);
        assert_eq!(v.call, "dma_sync_sg_for_cpu");
        checker.take_violations();
        dma_unmap_sg(&dev, &mut b, 2, Direction::FromDevice);
        assert_silent(checker);
        free_buffers(checker, bufs);
    });
}

#[test]
fn unmap_of_a_list_never_mapped_is_unknown() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512]);

        dma_unmap_sg(&dev, &mut sgl, 1, Direction::ToDevice);

        let v = single_violation(checker, &UNMAP_UNKNOWN);
        assert_eq!(v.call, "dma_unmap_sg");
        assert_eq!(v.detail_u64("nents"), Some(1));
        free_buffers(checker, bufs);
    });
}

#[test]
fn unmap_of_a_list_on_another_device_is_reported_and_keeps_the_mapping() {
    on_both_backends(|bus, checker| {
        let nic = bus.device(checker, "eth0").build();
        let disk = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512, 512]);
        let line = line!() + 1;
        let count = dma_map_sg(&nic, &mut sgl, 3, Direction::ToDevice);
        assert_eq!(count, 3);
        let before: Vec<DmaAddr> = checker
            .live_entries()
            .iter()
            .map(|e| e.dma_addr())
            .collect();

        dma_unmap_sg(&disk, &mut sgl, 3, Direction::ToDevice);

        let v = single_violation(checker, &WRONG_DEVICE);
        assert_eq!(v.call, "dma_unmap_sg");
        assert_eq!(v.device, "sda");
        assert_eq!(
            v.detail("mapped_device"),
            Some(&Value::Text("eth0".to_string()))
        );
        assert_mapped_at(&v, FILE, line);
        let after: Vec<DmaAddr> = checker
            .live_entries()
            .iter()
            .map(|e| e.dma_addr())
            .collect();
        assert_eq!(after, before, "the mapping is kept");
        assert!(
            checker
                .live_entries()
                .iter()
                .all(|e| e.device() == nic.id())
        );
        assert_eq!(sgl.mapping(), Some((3, 3, Direction::ToDevice)));

        checker.take_violations();
        dma_unmap_sg(&nic, &mut sgl, 3, Direction::ToDevice);
        assert_silent(checker);
        assert_eq!(live(checker), 0);
        free_buffers(checker, bufs);
    });
}

#[test]
fn unmap_of_a_list_on_another_device_with_its_own_list_is_reported_and_keeps_both() {
    on_both_backends(|bus, checker| {
        let nic = bus.device(checker, "eth0").build();
        let disk = bus.device(checker, "sda").build();
        // Each device maps a page of its own. Behind an IOMMU, each device's first mapping
        // may well get the same I/O address in its own space.
        let (mut for_nic, nic_pages) = page_list(checker, 1);
        let (mut for_disk, disk_pages) = page_list(checker, 1);
        assert_eq!(dma_map_sg(&nic, &mut for_nic, 1, Direction::ToDevice), 1);
        assert_eq!(dma_map_sg(&disk, &mut for_disk, 1, Direction::ToDevice), 1);

        // The nic's list unmapped on the disk.
        dma_unmap_sg(&disk, &mut for_nic, 1, Direction::ToDevice);

        let v = single_violation(checker, &WRONG_DEVICE);
        assert_eq!(v.device, "sda");
        assert_eq!(live(checker), 2, "both lists stay mapped");
        checker.take_violations();
        dma_unmap_sg(&disk, &mut for_disk, 1, Direction::ToDevice);
        dma_unmap_sg(&nic, &mut for_nic, 1, Direction::ToDevice);
        assert_silent(checker);
        free_page_list(checker, nic_pages);
        free_page_list(checker, disk_pages);
    });
}

#[test]
fn sync_of_a_list_on_another_device_is_reported() {
    on_both_backends(|bus, checker| {
        let nic = bus.device(checker, "eth0").build();
        let disk = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512]);
        assert_eq!(dma_map_sg(&nic, &mut sgl, 2, Direction::FromDevice), 2);

        dma_sync_sg_for_cpu(&disk, &sgl, 2, Direction::FromDevice);

        let v = single_violation(checker, &WRONG_DEVICE);
        assert_eq!(v.call, "dma_sync_sg_for_cpu");
        assert_eq!(
            v.detail("mapped_device"),
            Some(&Value::Text("eth0".to_string()))
        );
        checker.take_violations();
        dma_unmap_sg(&nic, &mut sgl, 2, Direction::FromDevice);
        assert_silent(checker);
        free_buffers(checker, bufs);
    });
}

#[test]
fn same_buffer_in_two_mapped_lists_unmapped_and_synced_in_either_order_is_silent() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        // A shared header sent with two requests: list `a` is [header], `b` is [header, body].
        let header = kmalloc(checker, 256, Gfp::KERNEL);
        let body = kmalloc(checker, 1024, Gfp::KERNEL);
        let mut a = sg_init_one(header, 256);
        let mut b = SgTable::new(2);
        sg_set_buf(&mut b, 0, header, 256);
        sg_set_buf(&mut b, 1, body, 1024);
        assert_eq!(dma_map_sg(&dev, &mut a, 1, Direction::ToDevice), 1);
        assert_eq!(dma_map_sg(&dev, &mut b, 2, Direction::ToDevice), 2);

        dma_sync_sg_for_device(&dev, &a, 1, Direction::ToDevice);
        dma_sync_sg_for_device(&dev, &b, 2, Direction::ToDevice);
        dma_unmap_sg(&dev, &mut a, 1, Direction::ToDevice);
        dma_unmap_sg(&dev, &mut b, 2, Direction::ToDevice);

        assert_silent(checker);
        assert_eq!(live(checker), 0);
        kfree(checker, header);
        kfree(checker, body);
    });
}

// ---------------------------------------------------------------------------------------------
// Map arguments, for lists

#[test]
fn map_unmap_and_sync_of_a_list_with_direction_none_are_refused() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512]);

        let count = dma_map_sg(&dev, &mut sgl, 2, Direction::None);

        assert_eq!(count, 0);
        let v = single_violation(checker, &DIRECTION_NONE);
        assert_eq!(v.call, "dma_map_sg");
        assert_eq!(live(checker), 0);
        assert_eq!(sgl.mapping(), None);

        checker.take_violations();
        assert_eq!(dma_map_sg(&dev, &mut sgl, 2, Direction::ToDevice), 2);
        dma_sync_sg_for_device(&dev, &sgl, 2, Direction::None);
        let v = single_violation(checker, &DIRECTION_NONE);
        assert_eq!(v.call, "dma_sync_sg_for_device");

        checker.take_violations();
        dma_unmap_sg(&dev, &mut sgl, 2, Direction::None);
        let v = single_violation(checker, &DIRECTION_NONE);
        assert_eq!(v.call, "dma_unmap_sg");
        assert_eq!(live(checker), 0, "the list is still unmapped");
        free_buffers(checker, bufs);
    });
}

#[test]
fn map_of_a_list_pointing_at_stack_memory_is_invalid_memory() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let heap = kmalloc(checker, 64, Gfp::KERNEL);
        let stack = [0u8; 64];
        let mut sgl = SgTable::new(2);
        sg_set_buf(&mut sgl, 0, heap, 64);
        sg_set_buf(&mut sgl, 1, stack.as_ptr(), stack.len());

        let line = line!() + 1;
        let count = dma_map_sg(&dev, &mut sgl, 2, Direction::ToDevice);

        assert_eq!(count, 0);
        // Stack memory has a rule of its own where the checker tells it apart.
        let rule = rules::by_id("map-stack-memory").unwrap_or(&MAP_INVALID_MEMORY);
        let v = single_violation(checker, rule);
        assert_eq!(v.call, "dma_map_sg");
        assert_eq!(v.detail_u64("cpu_addr"), Some(stack.as_ptr().addr() as u64));
        assert_site(&v.site, FILE, line);
        assert_eq!(live(checker), 0, "the heap entry is not left mapped");
        assert_eq!(sgl.mapping(), None);
        kfree(checker, heap);
    });
}

#[test]
fn map_above_a_24_bit_mask_fails_directly_and_succeeds_through_the_iommu() {
    on_both_backends(|bus, checker| {
        let mask = dma_bit_mask(24);
        let dev = bus.device(checker, "isa0").dma_mask(mask).build();
        let (mut sgl, pages) = page_list(checker, 3);
        let phys0 = phys(checker, page_address(pages[0]), PAGE_SIZE);
        assert!(phys0 > mask, "ordinary pages lie above 16 MiB");

        let count = dma_map_sg(&dev, &mut sgl, 3, Direction::ToDevice);

        match bus {
            Bus::Direct => {
                assert_eq!(count, 0);
                let v = single_violation(checker, &MAP_ABOVE_MASK);
                assert_eq!(v.call, "dma_map_sg");
                assert_eq!(v.detail_u64("mask"), Some(mask));
                assert!(v.detail_u64("dma_end").expect("dma_end") > mask);
                assert_eq!(live(checker), 0);
                assert_eq!(sgl.mapping(), None);
            }
            Bus::Iommu => {
                assert!(count > 0);
                assert_silent(checker);
                for (dma, len) in segments(&sgl, count) {
                    assert!(
                        dma + len as u64 - 1 <= mask,
                        "{dma:#x}+{len} above the mask"
                    );
                }
                // The first segment leads to the first page.
                let (dma, _) = segments(&sgl, count)[0];
                assert_eq!(dev.backend().dma_to_phys(&dev.params(), dma), Some(phys0));
                dma_unmap_sg(&dev, &mut sgl, 3, Direction::ToDevice);
                assert_silent(checker);
                checker.assert_clean();
            }
        }
        free_page_list(checker, pages);
    });
}

// ---------------------------------------------------------------------------------------------
// Leaks and failed maps

#[test]
fn segments_still_mapped_at_device_release_are_leaks() {
    on_both_backends(|bus, checker| {
        let dev = bus.device(checker, "sda").build();
        let (mut sgl, bufs) = buffer_list(checker, &[512, 512]);
        let (mut pages_sgl, pages) = page_list(checker, 4);
        let line = line!() + 1;
        let a = dma_map_sg(&dev, &mut sgl, 2, Direction::ToDevice);
        let b = dma_map_sg(&dev, &mut pages_sgl, 4, Direction::FromDevice);
        assert!(a > 0 && b > 0);

        let release_line = line!() + 1;
        dev.release();

        // One leak per list (its segments were made at one site), counting its segments.
        let leaks = checker.violations();
        assert_eq!(leaks.len(), 2, "one leak per list");
        let mut counts: Vec<usize> = leaks.iter().map(|v| v.count as usize).collect();
        counts.sort_unstable();
        assert_eq!(counts, [a.min(b), a.max(b)]);
        assert_eq!(
            checker.count(&LEAK),
            (a + b) as u64,
            "each DMA segment counted"
        );
        let mut leaked: Vec<(DmaAddr, u64)> = Vec::new();
        for v in &leaks {
            assert_eq!(v.rule.id, LEAK.id);
            assert_eq!(v.call, "device_release");
            assert!(v.message.contains("sg segment"), "{}", v.message);
            assert_eq!(v.mapped_by, Some("dma_map_sg"));
            assert_site(&v.site, FILE, release_line);
            let dir = v.detail("dir").expect("dir");
            let map_line = if *dir == Value::Dir(Direction::ToDevice) {
                line
            } else {
                line + 1
            };
            assert_mapped_at(v, FILE, map_line);
            leaked.extend(
                listed_leaks(v)
                    .into_iter()
                    .map(|(dma_addr, size, _)| (dma_addr, size)),
            );
        }
        let mut mapped: Vec<(DmaAddr, u64)> = segments(&sgl, a)
            .into_iter()
            .chain(segments(&pages_sgl, b))
            .map(|(d, l)| (d, l as u64))
            .collect();
        leaked.sort_unstable();
        mapped.sort_unstable();
        assert_eq!(leaked, mapped);
        assert_eq!(live(checker), 0);
        free_buffers(checker, bufs);
        free_page_list(checker, pages);
    });
}

#[test]
fn map_that_fails_leaves_no_live_entries() {
    on_both_backends(|bus, checker| {
        // Nothing lies below 16 KiB, and an IOMMU has only three I/O pages there.
        let dev = bus.device(checker, "tiny").dma_mask(0x3fff).build();
        let (mut sgl, pages) = page_list(checker, 4);

        let count = dma_map_sg(&dev, &mut sgl, 4, Direction::ToDevice);

        assert_eq!(count, 0);
        assert_eq!(live(checker), 0);
        assert_eq!(sgl.mapping(), None);
        let ids = rule_ids(checker);
        match bus {
            Bus::Direct => assert_eq!(ids, ["map-above-mask"]),
            // Running out of I/O addresses is the platform's answer, not a misuse.
            Bus::Iommu => assert!(ids.is_empty(), "{ids:?}"),
        }
        checker.take_violations();
        dma_unmap_sg(&dev, &mut sgl, 4, Direction::ToDevice);
        assert_eq!(rule_ids(checker), ["sg-unmap-failed-map"]);
        free_page_list(checker, pages);
    });
}

#[test]
fn map_that_fails_on_a_later_entry_releases_the_earlier_ones() {
    let checker = checker();
    let dev = Bus::Direct
        .device(&checker, "isa0")
        .dma_mask(dma_bit_mask(24))
        .build();
    // The first entry is reachable (GFP_DMA), the second is not.
    let low = kmalloc(&checker, 512, Gfp::KERNEL | Gfp::DMA);
    let high = kmalloc(&checker, 512, Gfp::KERNEL);
    let mut sgl = SgTable::new(2);
    sg_set_buf(&mut sgl, 0, low, 512);
    sg_set_buf(&mut sgl, 1, high, 512);

    let count = dma_map_sg(&dev, &mut sgl, 2, Direction::ToDevice);

    assert_eq!(count, 0);
    assert_eq!(rule_ids(&checker), ["map-above-mask"]);
    assert_eq!(live(&checker), 0);
    // The list maps once the second buffer is reachable too.
    checker.take_violations();
    let low2 = kmalloc(&checker, 512, Gfp::KERNEL | Gfp::DMA);
    sg_set_buf(&mut sgl, 1, low2, 512);
    assert_eq!(dma_map_sg(&dev, &mut sgl, 2, Direction::ToDevice), 2);
    dma_unmap_sg(&dev, &mut sgl, 2, Direction::ToDevice);
    assert_silent(&checker);
    for buf in [low, high, low2] {
        kfree(&checker, buf);
    }
    checker.assert_no_leaks();
}
