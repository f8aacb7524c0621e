//! Cache-line overlap, partial syncs aligned to cache lines, and attrs that must match
//! between map and unmap.

use crate::common;

use std::ops::Range;

use common::{
    Via, assert_mapped_at, checker, device, device_via, rule_ids, single_violation, unmap_and_free,
};
use dmacheck::rules::{CACHELINE_OVERLAP, SYNC_UNALIGNED, UNMAP_ATTRS_MISMATCH};
use dmacheck::*;

const FILE: &str = "cache_rules.rs";

/// Two 16-byte pieces of one 64-byte cache line: the first and third quarter of one kmalloc
/// object (kmalloc itself never puts two objects in one line). Free the first with `kfree`.
fn two_pieces_of_one_line(checker: &Checker) -> (*mut u8, *mut u8) {
    let line = kmalloc(checker, 64, Gfp::KERNEL);
    assert!(!line.is_null() && line.addr() % 64 == 0);
    (line, line.wrapping_add(32))
}

/// kmalloc memory is DMA-safe (`ARCH_DMA_MINALIGN`): however small, objects never share a
/// cache line, so receive buffers from kmalloc never overlap.
#[test]
fn small_kmalloc_buffers_mapped_for_the_device_to_write_never_share_a_line() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let bufs: Vec<*mut u8> = (0..64)
        .map(|_| kmalloc(&checker, 13, Gfp::KERNEL))
        .collect();
    let mut lines: Vec<usize> = bufs.iter().map(|b| b.addr() / 64).collect();
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(
        lines.len(),
        bufs.len(),
        "two kmalloc(13) objects share a line"
    );
    let dmas: Vec<DmaAddr> = bufs
        .iter()
        .map(|&b| dma_map_single(&dev, b, 13, Direction::FromDevice))
        .collect();
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    for (&buf, dma) in bufs.iter().zip(dmas) {
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        unmap_and_free(&dev, buf, dma, 13, Direction::FromDevice);
    }
    checker.assert_clean();
}

#[test]
fn two_receive_buffers_in_one_cache_line_are_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (a, b) = two_pieces_of_one_line(&checker);
    let line = line!() + 1;
    let first = dma_map_single(&dev, a, 16, Direction::FromDevice);
    let second = dma_map_single(&dev, b, 16, Direction::FromDevice);
    let v = single_violation(&checker, &CACHELINE_OVERLAP);
    assert_eq!(v.detail_u64("dma_addr"), Some(second));
    assert_eq!(v.detail_u64("other_dma_addr"), Some(first));
    assert_mapped_at(&v, FILE, line);
    for dma in [first, second] {
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        dma_unmap_single(&dev, dma, 16, Direction::FromDevice);
    }
    kfree(&checker, a);
}

#[test]
fn a_buffer_inside_a_mapped_page_overlaps_beyond_its_first_line() {
    let checker = checker();
    let dev = device(&checker, "sda");
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).unwrap();
    let whole = dma_map_page(&dev, page, 0, PAGE_SIZE, Direction::Bidirectional);
    // Line 2 of the page: the kernel, which tracks only each mapping's first line, misses it.
    let inner = dma_map_page(&dev, page, 128, 64, Direction::FromDevice);
    let v = single_violation(&checker, &CACHELINE_OVERLAP);
    assert_eq!(v.detail_u64("other_dma_addr"), Some(whole));
    for (dma, len) in [(inner, 64), (whole, PAGE_SIZE)] {
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        let dir = if len == 64 {
            Direction::FromDevice
        } else {
            Direction::Bidirectional
        };
        dma_unmap_page(&dev, dma, len, dir);
    }
    free_pages(&checker, page, 0);
}

#[test]
fn the_same_buffer_mapped_twice_for_writing_is_reported() {
    let checker = checker();
    let nic = device(&checker, "eth0");
    let disk = device(&checker, "sda");
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let a = dma_map_single(&nic, buf, 512, Direction::FromDevice);
    let b = dma_map_single(&disk, buf, 512, Direction::Bidirectional);
    assert_eq!(rule_ids(&checker), ["cacheline-overlap"]);
    for (dev, dma, dir) in [
        (&nic, a, Direction::FromDevice),
        (&disk, b, Direction::Bidirectional),
    ] {
        assert_eq!(dma_mapping_error(dev, dma), 0);
        dma_unmap_single(dev, dma, 512, dir);
    }
    kfree(&checker, buf);
}

#[test]
fn transmit_buffers_may_share_cache_lines() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (a, b) = two_pieces_of_one_line(&checker);
    let first = dma_map_single(&dev, a, 16, Direction::ToDevice);
    let second = dma_map_single(&dev, b, 16, Direction::FromDevice);
    let third = dma_map_single(&dev, a, 16, Direction::ToDevice);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    for (dma, buf, dir) in [
        (first, a, Direction::ToDevice),
        (second, b, Direction::FromDevice),
        (third, a, Direction::ToDevice),
    ] {
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        dma_unmap_single(&dev, dma, 16, dir);
        let _ = buf;
    }
    kfree(&checker, a);
    checker.assert_clean();
}

#[test]
fn skip_cpu_sync_or_cache_clean_on_the_later_mapping_exempts_it() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (a, b) = two_pieces_of_one_line(&checker);
    let first = dma_map_single(&dev, a, 16, Direction::FromDevice);
    for attrs in [DmaAttrs::SKIP_CPU_SYNC, DmaAttrs::CPU_CACHE_CLEAN] {
        let second = dma_map_single_attrs(&dev, b, 16, Direction::FromDevice, attrs);
        assert_eq!(dma_mapping_error(&dev, second), 0);
        dma_unmap_single_attrs(&dev, second, 16, Direction::FromDevice, attrs);
    }
    assert_eq!(dma_mapping_error(&dev, first), 0);
    dma_unmap_single(&dev, first, 16, Direction::FromDevice);
    kfree(&checker, a);
    checker.assert_clean();
}

#[test]
fn lines_are_free_again_after_unmap_and_after_device_release() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);
    let a = dma_map_single(&dev, buf, 256, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, a), 0);
    dma_unmap_single(&dev, a, 256, Direction::FromDevice);
    let b = dma_map_single(&dev, buf, 256, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, b), 0);
    dev.release();
    assert_eq!(rule_ids(&checker), ["leak"]);
    checker.take_violations();
    let other = device(&checker, "eth1");
    let c = dma_map_single(&other, buf, 256, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&other, c), 0);
    dma_unmap_single(&other, c, 256, Direction::FromDevice);
    kfree(&checker, buf);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
}

#[test]
fn unmap_without_the_skip_cpu_sync_of_the_map_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);
    let line = line!() + 1;
    let dma = dma_map_single_attrs(
        &dev,
        buf,
        256,
        Direction::FromDevice,
        DmaAttrs::SKIP_CPU_SYNC,
    );
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_unmap_single_attrs(
        &dev,
        dma,
        256,
        Direction::FromDevice,
        DmaAttrs::WEAK_ORDERING,
    );
    let v = single_violation(&checker, &UNMAP_ATTRS_MISMATCH);
    assert_eq!(
        v.detail_u64("mapped_attrs"),
        Some(DmaAttrs::SKIP_CPU_SYNC.bits())
    );
    assert!(v.message.contains("SKIP_CPU_SYNC"), "{}", v.message);
    assert_mapped_at(&v, FILE, line);
    kfree(&checker, buf);
}

#[test]
fn unmap_with_the_attributes_of_the_map_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);
    let attrs = DmaAttrs::SKIP_CPU_SYNC;
    let dma = dma_map_single_attrs(&dev, buf, 256, Direction::FromDevice, attrs);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_sync_single_for_cpu(&dev, dma, 256, Direction::FromDevice);
    dma_unmap_single_attrs(&dev, dma, 256, Direction::FromDevice, attrs);
    kfree(&checker, buf);
    assert_eq!(checker.count(&UNMAP_ATTRS_MISMATCH), 0);
    checker.assert_clean();
}

#[test]
fn attrs_that_do_not_matter_may_differ_and_matching_ones_are_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);
    let dma = dma_map_single_attrs(
        &dev,
        buf,
        256,
        Direction::ToDevice,
        DmaAttrs::SKIP_CPU_SYNC | DmaAttrs::NO_WARN,
    );
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_unmap_single_attrs(
        &dev,
        dma,
        256,
        Direction::ToDevice,
        DmaAttrs::SKIP_CPU_SYNC | DmaAttrs::WEAK_ORDERING,
    );
    kfree(&checker, buf);
    checker.assert_clean();
}

#[test]
fn coherent_memory_freed_without_its_write_combine_attr_is_reported() {
    let checker = checker();
    let dev = device(&checker, "fb0");
    let mut handle = 0;
    let fb = dma_alloc_attrs(
        &dev,
        8192,
        &mut handle,
        Gfp::KERNEL,
        DmaAttrs::WRITE_COMBINE,
    );
    dma_free_attrs(&dev, 8192, fb, handle, DmaAttrs::empty());
    single_violation(&checker, &UNMAP_ATTRS_MISMATCH);
    let fb = dma_alloc_attrs(
        &dev,
        8192,
        &mut handle,
        Gfp::KERNEL,
        DmaAttrs::WRITE_COMBINE,
    );
    checker.take_violations();
    dma_free_attrs(&dev, 8192, fb, handle, DmaAttrs::WRITE_COMBINE);
    checker.assert_clean();
}

#[test]
fn coherent_memory_freed_without_its_alloc_single_pages_attr_is_reported() {
    let checker = checker();
    let dev = device(&checker, "gpu0");
    let mut handle = 0;
    let line = line!() + 1;
    let buf = dma_alloc_attrs(
        &dev,
        4 * PAGE_SIZE,
        &mut handle,
        Gfp::KERNEL,
        DmaAttrs::ALLOC_SINGLE_PAGES,
    );
    assert!(!buf.is_null());
    dma_free_attrs(&dev, 4 * PAGE_SIZE, buf, handle, DmaAttrs::empty());
    let v = single_violation(&checker, &UNMAP_ATTRS_MISMATCH);
    assert_eq!(
        v.detail_u64("mapped_attrs"),
        Some(DmaAttrs::ALLOC_SINGLE_PAGES.bits())
    );
    assert_eq!(v.detail_u64("attrs"), Some(0));
    assert!(v.message.contains("ALLOC_SINGLE_PAGES"), "{}", v.message);
    assert_mapped_at(&v, FILE, line);
    checker.take_violations();

    // The other way round: freed with the attr it was not allocated with.
    let buf = dma_alloc_attrs(
        &dev,
        4 * PAGE_SIZE,
        &mut handle,
        Gfp::KERNEL,
        DmaAttrs::empty(),
    );
    dma_free_attrs(
        &dev,
        4 * PAGE_SIZE,
        buf,
        handle,
        DmaAttrs::ALLOC_SINGLE_PAGES,
    );
    let v = single_violation(&checker, &UNMAP_ATTRS_MISMATCH);
    assert_eq!(
        v.detail_u64("attrs"),
        Some(DmaAttrs::ALLOC_SINGLE_PAGES.bits())
    );
    checker.take_violations();

    let buf = dma_alloc_attrs(
        &dev,
        4 * PAGE_SIZE,
        &mut handle,
        Gfp::KERNEL,
        DmaAttrs::ALLOC_SINGLE_PAGES,
    );
    dma_free_attrs(
        &dev,
        4 * PAGE_SIZE,
        buf,
        handle,
        DmaAttrs::ALLOC_SINGLE_PAGES,
    );
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// cacheline-overlap at the edges of a line: two mappings of one page, `first` and `second`
// byte ranges, both written by the device. Tracked by CPU memory, so the same on every backend.

/// Map `first` then `second` (byte ranges of one page) for writing by the device; return the
/// ids reported by the second map, then unmap both.
fn overlap_of_ranges(via: Via, first: Range<usize>, second: Range<usize>) -> Vec<&'static str> {
    let checker = checker();
    let dev = device_via(&checker, "sda", "testdrv", via);
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
    let mut mapped = Vec::new();
    for range in [first, second] {
        let len = range.len();
        let dma = dma_map_page(&dev, page, range.start, len, Direction::FromDevice);
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        mapped.push((dma, len));
    }
    let ids = rule_ids(&checker);
    checker.take_violations();
    for (dma, len) in mapped.into_iter().rev() {
        dma_unmap_page(&dev, dma, len, Direction::FromDevice);
    }
    free_pages(&checker, page, 0);
    checker.assert_clean();
    ids
}

fn mappings_meeting_at_a_line_boundary_do_not_overlap(via: Via) {
    assert!(overlap_of_ranges(via, 0..128, 128..192).is_empty());
    assert!(overlap_of_ranges(via, 128..192, 0..128).is_empty());
    assert!(overlap_of_ranges(via, 64..100, 0..64).is_empty());
}

fn a_partial_last_line_is_shared(via: Via) {
    // 0..100 ends inside line 1; 100..164 starts there.
    assert_eq!(
        overlap_of_ranges(via, 0..100, 100..164),
        ["cacheline-overlap"]
    );
    // Three lines, the third partial: only the third is shared.
    assert_eq!(
        overlap_of_ranges(via, 0..150, 150..192),
        ["cacheline-overlap"]
    );
    // One byte into the next line, either way round.
    assert_eq!(overlap_of_ranges(via, 0..129, 192..256), Vec::<&str>::new());
    assert_eq!(
        overlap_of_ranges(via, 0..129, 128..192),
        ["cacheline-overlap"]
    );
    assert_eq!(
        overlap_of_ranges(via, 128..192, 0..129),
        ["cacheline-overlap"]
    );
}

fn a_partial_first_line_is_shared(via: Via) {
    // 63..128 starts in line 0, at its last byte.
    assert_eq!(
        overlap_of_ranges(via, 0..64, 63..128),
        ["cacheline-overlap"]
    );
    assert_eq!(
        overlap_of_ranges(via, 63..128, 0..64),
        ["cacheline-overlap"]
    );
    assert_eq!(
        overlap_of_ranges(via, 100..256, 64..128),
        ["cacheline-overlap"]
    );
}

// ---------------------------------------------------------------------------------------------
// sync-unaligned on streaming mappings: the architecture widens a partial sync to whole cache
// lines itself, so only lines reaching bytes outside the mapping are reported.

/// Map `mapped` (a byte range of a page) for the device to write, sync `offset..offset + len`
/// of it for the CPU, and return what was reported.
fn partial_sync_of(via: Via, mapped: Range<usize>, offset: usize, len: usize) -> Vec<&'static str> {
    let checker = checker();
    let dev = device_via(&checker, "eth0", "testdrv", via);
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
    let size = mapped.len();
    let dma = dma_map_page(&dev, page, mapped.start, size, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_sync_single_range_for_cpu(&dev, dma, offset, len, Direction::FromDevice);
    let ids = rule_ids(&checker);
    checker.take_violations();
    dma_unmap_page(&dev, dma, size, Direction::FromDevice);
    free_pages(&checker, page, 0);
    checker.assert_clean();
    ids
}

/// The report says on which side of the mapping the lines reach, and how far.
#[test]
fn the_report_names_the_bytes_outside_the_mapping() {
    for (mapped, offset, len, says) in [
        (0..100, 64, 1, "28 byte(s) after"),
        (32..160, 31, 1, "32 byte(s) before"),
        (32..96, 1, 62, "32 byte(s) before and 32 byte(s) after"),
    ] {
        let checker = checker();
        let dev = device(&checker, "eth0");
        let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
        let dma = dma_map_page(
            &dev,
            page,
            mapped.start,
            mapped.len(),
            Direction::FromDevice,
        );
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        dma_sync_single_range_for_cpu(&dev, dma, offset, len, Direction::FromDevice);
        let v = single_violation(&checker, &SYNC_UNALIGNED);
        assert!(
            v.message.contains(says),
            "{mapped:?} {offset}+{len}: {}",
            v.message
        );
        assert_eq!(v.detail_u64("offset"), Some(offset as u64));
        checker.take_violations();
        dma_unmap_page(&dev, dma, mapped.len(), Direction::FromDevice);
        free_pages(&checker, page, 0);
        checker.assert_clean();
    }
}

fn partial_syncs_whose_lines_stay_inside_the_mapping_are_silent(via: Via) {
    // A 100-byte mapping at the start of a line: its first line is whole.
    // Ranges ending at the mapping's end touch its last line as the map does.
    for (offset, len) in [
        (0, 64),
        (99, 0),
        (0, 1),
        (10, 20),
        (63, 1),
        (0, 100),
        (64, 36),
        (99, 1),
        (1, 99),
    ] {
        let ids = partial_sync_of(via, 0..100, offset, len);
        assert!(ids.is_empty(), "0..100, {offset}+{len}: {ids:?}");
    }
    // A mapping of lines 1..3 of the page: any range inside it stays in its lines.
    for (offset, len) in [(1, 10), (60, 68), (127, 1), (0, 128)] {
        let ids = partial_sync_of(via, 64..192, offset, len);
        assert!(ids.is_empty(), "64..192, {offset}+{len}: {ids:?}");
    }
}

fn partial_syncs_whose_lines_reach_outside_the_mapping_are_reported(via: Via) {
    // The last line of 0..100 is partial: a range ending inside it, short of the mapping's
    // end, reaches bytes 100..128.
    for (offset, len) in [(64, 35), (98, 1), (0, 65), (1, 98), (64, 1)] {
        let ids = partial_sync_of(via, 0..100, offset, len);
        assert_eq!(ids, ["sync-unaligned"], "0..100, {offset}+{len}");
    }
    // 32..160 starts in the middle of line 0: a range starting later in that line reaches
    // bytes 0..32, one ending short of 160 in the last line bytes 160..192. Lines are those of
    // the memory the device reaches: a bounce slot starts on a line (swiotlb keeps the offset
    // only under a device's min_align_mask), so there the mapping is two whole lines.
    for (offset, len) in [(1, 10), (31, 1), (0, 127)] {
        let ids = partial_sync_of(via, 32..160, offset, len);
        let expected: &[&str] = if via == Via::Bounce {
            &[]
        } else {
            &["sync-unaligned"]
        };
        assert_eq!(ids, expected, "32..160, {offset}+{len}");
    }
    for (offset, len) in [(32, 64), (32, 1), (0, 10), (0, 128), (96, 32)] {
        let ids = partial_sync_of(via, 32..160, offset, len);
        assert!(ids.is_empty(), "32..160, {offset}+{len}: {ids:?}");
    }
}

/// The igb receive path: a page mapped once with `DMA_ATTR_SKIP_CPU_SYNC`, two 2 KiB halves
/// handed to the device in turn, each packet synced for the CPU by its own length
/// (`dma_sync_single_range_for_cpu(dev, dma, page_offset, size, DMA_FROM_DEVICE)`).
fn a_clean_igb_receive_cycle_is_silent(via: Via) {
    const BUFSZ: usize = 2048;
    let checker = checker();
    let dev = device_via(&checker, "igb0", "igb", via);
    let attrs = DmaAttrs::SKIP_CPU_SYNC | DmaAttrs::WEAK_ORDERING;
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
    let dma = dma_map_page_attrs(&dev, page, 0, PAGE_SIZE, Direction::FromDevice, attrs);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    let mut page_offset = 0;
    for (i, size) in [60usize, 1514, 97, 1, 342, 2048].into_iter().enumerate() {
        dma_sync_single_range_for_device(&dev, dma, page_offset, BUFSZ, Direction::FromDevice);
        let packet = vec![i as u8 + 1; size];
        dev.dma_write(dma + page_offset as u64, &packet)
            .expect("the device writes its buffer");
        dma_sync_single_range_for_cpu(&dev, dma, page_offset, size, Direction::FromDevice);
        let mut got = vec![0; size];
        checker
            .cpu_read(page_address(page).wrapping_add(page_offset), &mut got)
            .expect("the CPU reads its buffer");
        assert_eq!(got, packet);
        page_offset ^= BUFSZ;
    }
    dma_unmap_page_attrs(&dev, dma, PAGE_SIZE, Direction::FromDevice, attrs);
    free_pages(&checker, page, 0);
    checker.assert_clean();
}

on_each_backend!(
    mappings_meeting_at_a_line_boundary_do_not_overlap,
    a_partial_last_line_is_shared,
    a_partial_first_line_is_shared,
    partial_syncs_whose_lines_stay_inside_the_mapping_are_silent,
    partial_syncs_whose_lines_reach_outside_the_mapping_are_reported,
    a_clean_igb_receive_cycle_is_silent,
);
