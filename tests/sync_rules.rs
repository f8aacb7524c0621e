//! The rules of `src/rules/sync.rs`: a `dma_sync_*` call must name a live mapping of its
//! device, stay inside it, and move data the way the mapping allows.

mod common;

use common::{
    ListsSharingBytes, Via, assert_mapped_at, assert_site, checker, device, device_via, live,
    map_checked, rule_ids, single_violation, unmap_and_free,
};
use dmacheck::rules::{SYNC_DIRECTION_MISMATCH, SYNC_OUT_OF_RANGE, SYNC_UNKNOWN, WRONG_DEVICE};
use dmacheck::*;

const FILE: &str = "sync_rules.rs";

// ---------------------------------------------------------------------------------------------
// sync-unknown

#[test]
fn sync_of_an_address_never_mapped_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");

    let line = line!() + 1;
    dma_sync_single_for_cpu(&dev, 0x0200_0000, 64, Direction::FromDevice);

    let v = single_violation(&checker, &SYNC_UNKNOWN);
    assert_eq!(v.call, "dma_sync_single_for_cpu");
    assert_eq!(v.detail_u64("dma_addr"), Some(0x0200_0000));
    assert_eq!(v.detail_u64("size"), Some(64));
    assert!(v.mapped_at.is_none());
    assert!(v.related.is_none());
    assert_site(&v.site, FILE, line);
}

#[test]
fn sync_after_unmap_names_the_unmap() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 1024, Gfp::KERNEL);
    let map_line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 1024, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    let unmap_line = line!() + 1;
    dma_unmap_single(&dev, dma, 1024, Direction::FromDevice);

    dma_sync_single_for_cpu(&dev, dma, 1024, Direction::FromDevice);

    let v = single_violation(&checker, &SYNC_UNKNOWN);
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert!(v.message.contains("dma_unmap_single"), "{}", v.message);
    assert_mapped_at(&v, FILE, map_line);
    let related = v.related.as_ref().expect("the unmap is named");
    assert_eq!(related.label, "released at");
    assert_site(&related.site, FILE, unmap_line);
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn sync_of_the_mapping_error_value_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");

    dma_sync_single_for_device(&dev, DMA_MAPPING_ERROR, 64, Direction::ToDevice);

    let v = single_violation(&checker, &SYNC_UNKNOWN);
    assert_eq!(v.call, "dma_sync_single_for_device");
    assert_eq!(v.detail_u64("dma_addr"), Some(DMA_MAPPING_ERROR));
    assert!(v.message.contains("failed map"), "{}", v.message);
}

#[test]
fn sync_starting_just_past_the_end_of_a_mapping_is_unknown() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 4096, Direction::FromDevice);

    dma_sync_single_for_cpu(&dev, dma + 4096, 16, Direction::FromDevice);

    let v = single_violation(&checker, &SYNC_UNKNOWN);
    assert_eq!(v.detail_u64("dma_addr"), Some(dma + 4096));
    assert_eq!(live(&checker), 1);
    checker.take_violations();
    unmap_and_free(&dev, buf, dma, 4096, Direction::FromDevice);
    assert!(checker.violations().is_empty());
}

#[test]
fn sync_of_a_live_mapping_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 1536, Direction::FromDevice);

    dma_sync_single_for_cpu(&dev, dma, 1536, Direction::FromDevice);
    dma_sync_single_for_device(&dev, dma, 1536, Direction::FromDevice);

    unmap_and_free(&dev, buf, dma, 1536, Direction::FromDevice);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// sync-out-of-range

#[test]
fn sync_longer_than_the_mapping_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 2048, Gfp::KERNEL);
    let line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 1024, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    dma_sync_single_for_cpu(&dev, dma, 2048, Direction::FromDevice);

    let v = single_violation(&checker, &SYNC_OUT_OF_RANGE);
    assert_eq!(v.call, "dma_sync_single_for_cpu");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("size"), Some(2048));
    assert_eq!(v.detail_u64("mapped_dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("mapped_size"), Some(1024));
    assert_mapped_at(&v, FILE, line);
    assert_eq!(live(&checker), 1);
    unmap_and_free(&dev, buf, dma, 1024, Direction::FromDevice);
    assert_eq!(live(&checker), 0);
}

#[test]
fn range_sync_running_past_the_end_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 1024, Direction::ToDevice);

    dma_sync_single_range_for_device(&dev, dma, 1000, 64, Direction::ToDevice);

    let v = single_violation(&checker, &SYNC_OUT_OF_RANGE);
    assert_eq!(v.call, "dma_sync_single_range_for_device");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("offset"), Some(1000));
    assert_eq!(v.detail_u64("size"), Some(64));
    assert_eq!(v.detail_u64("mapped_dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("mapped_size"), Some(1024));
    unmap_and_free(&dev, buf, dma, 1024, Direction::ToDevice);
    assert_eq!(live(&checker), 0);
}

#[test]
fn sync_of_usize_max_bytes_is_out_of_range_without_panic() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 256, Direction::FromDevice);

    dma_sync_single_for_cpu(&dev, dma + 16, usize::MAX, Direction::FromDevice);

    let v = single_violation(&checker, &SYNC_OUT_OF_RANGE);
    assert_eq!(v.detail_u64("size"), Some(usize::MAX as u64));
    assert_eq!(v.detail_u64("mapped_size"), Some(256));
    assert_eq!(live(&checker), 1);
    unmap_and_free(&dev, buf, dma, 256, Direction::FromDevice);
    assert_eq!(live(&checker), 0);
}

#[test]
fn range_sync_with_offset_past_the_address_space_is_out_of_its_mapping() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 256, Direction::FromDevice);

    dma_sync_single_range_for_cpu(&dev, dma, usize::MAX - 8, 64, Direction::FromDevice);

    // The handle is a live mapping; the offset, not the handle, is wrong. No panic, and the
    // mapping is kept.
    let v = single_violation(&checker, &SYNC_OUT_OF_RANGE);
    assert!(!v.message.contains("failed map"), "{}", v.message);
    assert_eq!(v.detail_u64("offset"), Some(usize::MAX as u64 - 8));
    assert_eq!(v.detail_u64("mapped_dma_addr"), Some(dma));
    assert_eq!(live(&checker), 1);
    unmap_and_free(&dev, buf, dma, 256, Direction::FromDevice);
    assert_eq!(live(&checker), 0);
}

#[test]
fn range_sync_inside_a_mapping_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 4096, Direction::FromDevice);

    // The header first, then the payload behind it, then the whole tail up to the end.
    dma_sync_single_range_for_cpu(&dev, dma, 0, 64, Direction::FromDevice);
    dma_sync_single_range_for_cpu(&dev, dma, 64, 1024, Direction::FromDevice);
    dma_sync_single_range_for_device(&dev, dma, 64, 1024, Direction::FromDevice);
    dma_sync_single_range_for_cpu(&dev, dma, 1088, 4096 - 1088, Direction::FromDevice);

    unmap_and_free(&dev, buf, dma, 4096, Direction::FromDevice);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

#[test]
fn sync_starting_inside_but_not_at_the_start_of_the_mapping_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    // A mapping over several pages, synced from a point in its last page.
    let (buf, dma) = map_checked(&dev, 3 * PAGE_SIZE, Direction::ToDevice);

    dma_sync_single_for_device(
        &dev,
        dma + 2 * PAGE_SIZE as u64 + 128,
        256,
        Direction::ToDevice,
    );
    dma_sync_single_for_cpu(&dev, dma + 100, 3 * PAGE_SIZE - 100, Direction::ToDevice);

    unmap_and_free(&dev, buf, dma, 3 * PAGE_SIZE, Direction::ToDevice);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

#[test]
fn range_sync_past_its_mapping_into_a_neighbour_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    // Two 64-byte objects of the same slab page: adjacent in memory and on the bus.
    let (a_buf, a) = map_checked(&dev, 64, Direction::FromDevice);
    let (b_buf, b) = map_checked(&dev, 64, Direction::FromDevice);
    assert_eq!(b, a + 64, "the two buffers are adjacent");

    // Bytes 64..128 of a 64-byte mapping: none of them belong to the mapping named.
    dma_sync_single_range_for_cpu(&dev, a, 64, 64, Direction::FromDevice);

    assert_eq!(rule_ids(&checker), ["sync-out-of-range"]);
    unmap_and_free(&dev, b_buf, b, 64, Direction::FromDevice);
    unmap_and_free(&dev, a_buf, a, 64, Direction::FromDevice);
}

// ---------------------------------------------------------------------------------------------
// sync-direction-mismatch

#[test]
fn to_device_mapping_synced_for_cpu_with_from_device_is_device_read_only() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 512, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    dma_sync_single_for_cpu(&dev, dma, 512, Direction::FromDevice);

    let v = single_violation(&checker, &SYNC_DIRECTION_MISMATCH);
    assert_eq!(v.call, "dma_sync_single_for_cpu");
    assert!(v.message.contains("device-read-only"), "{}", v.message);
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::FromDevice)));
    assert_eq!(
        v.detail("mapped_dir"),
        Some(&Value::Dir(Direction::ToDevice))
    );
    assert_mapped_at(&v, FILE, line);
    unmap_and_free(&dev, buf, dma, 512, Direction::ToDevice);
    assert_eq!(live(&checker), 0);
}

#[test]
fn from_device_mapping_synced_for_device_with_to_device_is_device_write_only() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 512, Direction::FromDevice);

    dma_sync_single_for_device(&dev, dma, 512, Direction::ToDevice);

    let v = single_violation(&checker, &SYNC_DIRECTION_MISMATCH);
    assert_eq!(v.call, "dma_sync_single_for_device");
    assert!(v.message.contains("device-write-only"), "{}", v.message);
    assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::ToDevice)));
    assert_eq!(
        v.detail("mapped_dir"),
        Some(&Value::Dir(Direction::FromDevice))
    );
    unmap_and_free(&dev, buf, dma, 512, Direction::FromDevice);
}

#[test]
fn to_device_mapping_synced_for_device_with_from_device_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 512, Direction::ToDevice);

    dma_sync_single_for_device(&dev, dma, 512, Direction::FromDevice);

    let v = single_violation(&checker, &SYNC_DIRECTION_MISMATCH);
    assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::FromDevice)));
    assert_eq!(
        v.detail("mapped_dir"),
        Some(&Value::Dir(Direction::ToDevice))
    );
    assert!(!v.message.contains("write-only"), "{}", v.message);
    unmap_and_free(&dev, buf, dma, 512, Direction::ToDevice);
}

#[test]
fn one_way_mapping_synced_bidirectionally_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 512, Direction::FromDevice);

    dma_sync_single_range_for_cpu(&dev, dma, 128, 128, Direction::Bidirectional);

    let v = single_violation(&checker, &SYNC_DIRECTION_MISMATCH);
    assert_eq!(v.call, "dma_sync_single_range_for_cpu");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("offset"), Some(128));
    assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::Bidirectional)));
    assert_eq!(
        v.detail("mapped_dir"),
        Some(&Value::Dir(Direction::FromDevice))
    );
    unmap_and_free(&dev, buf, dma, 512, Direction::FromDevice);
}

#[test]
fn tx_buffer_synced_for_cpu_with_to_device_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 1514, Direction::ToDevice);

    dma_sync_single_for_cpu(&dev, dma, 1514, Direction::ToDevice);
    dma_sync_single_for_device(&dev, dma, 1514, Direction::ToDevice);

    unmap_and_free(&dev, buf, dma, 1514, Direction::ToDevice);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

#[test]
fn rx_buffer_synced_for_device_with_from_device_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 2048, Direction::FromDevice);

    dma_sync_single_for_device(&dev, dma, 2048, Direction::FromDevice);
    dma_sync_single_for_cpu(&dev, dma, 2048, Direction::FromDevice);

    unmap_and_free(&dev, buf, dma, 2048, Direction::FromDevice);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

#[test]
fn bidirectional_mapping_synced_in_any_direction_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 256, Direction::Bidirectional);

    for dir in [
        Direction::ToDevice,
        Direction::FromDevice,
        Direction::Bidirectional,
    ] {
        dma_sync_single_for_cpu(&dev, dma, 256, dir);
        dma_sync_single_for_device(&dev, dma, 256, dir);
        dma_sync_single_range_for_cpu(&dev, dma, 64, 64, dir);
        dma_sync_single_range_for_device(&dev, dma, 64, 64, dir);
    }

    unmap_and_free(&dev, buf, dma, 256, Direction::Bidirectional);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

#[test]
fn sync_of_a_page_mapping_with_its_direction_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
    let dma = dma_map_page(&dev, page, 512, 1024, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    dma_sync_single_for_cpu(&dev, dma, 1024, Direction::FromDevice);
    dma_sync_single_range_for_device(&dev, dma, 512, 512, Direction::FromDevice);

    dma_unmap_page(&dev, dma, 1024, Direction::FromDevice);
    free_pages(&checker, page, 0);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

#[test]
fn sync_matching_the_second_mapping_of_a_buffer_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 1024, Gfp::KERNEL);
    // The same buffer mapped twice on one device: its header to send, all of it to receive.
    let header = dma_map_single(&dev, buf, 64, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, header), 0);
    let whole = dma_map_single(&dev, buf, 1024, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, whole), 0);
    assert_eq!(header, whole);

    // Exactly the parameters of the second mapping.
    dma_sync_single_for_cpu(&dev, whole, 1024, Direction::FromDevice);

    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    dma_unmap_single(&dev, whole, 1024, Direction::FromDevice);
    dma_unmap_single(&dev, header, 64, Direction::ToDevice);
    kfree(&checker, buf);
    checker.assert_clean();
}

#[test]
fn sync_after_unmap_is_unknown_even_if_another_device_maps_the_buffer() {
    let checker = checker();
    let nic = device(&checker, "eth0");
    let disk = device(&checker, "sda");
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let a = dma_map_single(&nic, buf, 512, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&nic, a), 0);
    // TO_DEVICE: two device-writable mappings of one buffer would also share cache lines.
    let b = dma_map_single(&disk, buf, 512, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&disk, b), 0);
    let unmap_line = line!() + 1;
    dma_unmap_single(&nic, a, 512, Direction::FromDevice);

    dma_sync_single_for_cpu(&nic, a, 512, Direction::FromDevice);

    let v = single_violation(&checker, &SYNC_UNKNOWN);
    let related = v.related.as_ref().expect("the unmap is named");
    assert_site(&related.site, FILE, unmap_line);
    dma_unmap_single(&disk, b, 512, Direction::ToDevice);
    kfree(&checker, buf);
}

// ---------------------------------------------------------------------------------------------
// wrong-device, for syncs

#[test]
fn sync_on_another_device_is_reported() {
    let checker = checker();
    let nic = device(&checker, "eth0");
    let disk = device(&checker, "sda");
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let line = line!() + 1;
    let dma = dma_map_single(&nic, buf, 512, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&nic, dma), 0);

    dma_sync_single_for_cpu(&disk, dma, 512, Direction::FromDevice);

    let v = single_violation(&checker, &WRONG_DEVICE);
    assert_eq!(v.call, "dma_sync_single_for_cpu");
    assert_eq!(v.device, "sda");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(
        v.detail("mapped_device"),
        Some(&Value::Text("eth0".to_string()))
    );
    assert_mapped_at(&v, FILE, line);
    assert_eq!(live(&checker), 1);
    unmap_and_free(&nic, buf, dma, 512, Direction::FromDevice);
    assert_eq!(live(&checker), 0);
}

#[test]
fn range_sync_inside_another_devices_mapping_is_reported() {
    let checker = checker();
    let nic = device(&checker, "eth0");
    let disk = device(&checker, "sda");
    let (buf, dma) = map_checked(&nic, 2 * PAGE_SIZE, Direction::ToDevice);

    dma_sync_single_range_for_device(&disk, dma, PAGE_SIZE + 8, 64, Direction::ToDevice);

    let v = single_violation(&checker, &WRONG_DEVICE);
    assert_eq!(v.call, "dma_sync_single_range_for_device");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("offset"), Some(PAGE_SIZE as u64 + 8));
    unmap_and_free(&nic, buf, dma, 2 * PAGE_SIZE, Direction::ToDevice);
}

#[test]
fn same_buffer_mapped_for_two_devices_is_synced_by_each_silently() {
    let checker = checker();
    let nic = device(&checker, "eth0");
    let disk = device(&checker, "sda");
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let a = dma_map_single(&nic, buf, 512, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&nic, a), 0);
    let b = dma_map_single(&disk, buf, 512, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&disk, b), 0);

    dma_sync_single_for_device(&nic, a, 512, Direction::ToDevice);
    dma_sync_single_for_device(&disk, b, 512, Direction::ToDevice);

    dma_unmap_single(&disk, b, 512, Direction::ToDevice);
    dma_unmap_single(&nic, a, 512, Direction::ToDevice);
    kfree(&checker, buf);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// Bad input to syncs

#[test]
fn bad_syncs_never_panic_nor_lose_entries() {
    let checker = checker();
    let nic = device(&checker, "eth0");
    let disk = device(&checker, "sda");
    let (buf, dma) = map_checked(&nic, 256, Direction::FromDevice);
    let before = checker.live_entries();

    dma_sync_single_for_cpu(&nic, 0, 16, Direction::FromDevice);
    dma_sync_single_for_cpu(&nic, u64::MAX - 8, 64, Direction::FromDevice);
    dma_sync_single_for_device(&nic, dma, 256, Direction::None);
    dma_sync_single_for_cpu(&disk, dma, 256, Direction::FromDevice);
    dma_sync_single_for_cpu(&nic, dma, usize::MAX, Direction::FromDevice);
    dma_sync_single_range_for_device(&nic, dma, usize::MAX, usize::MAX, Direction::FromDevice);

    let ids = rule_ids(&checker);
    assert_eq!(
        ids,
        [
            "sync-unknown",
            "sync-unknown",
            "direction-none",
            "wrong-device",
            "sync-out-of-range",
            "sync-out-of-range"
        ]
    );
    let after = checker.live_entries();
    assert_eq!(after.len(), before.len());
    assert_eq!(after[0].dma_addr, before[0].dma_addr);
    assert_eq!(after[0].size, before[0].size);
    assert_eq!(checker.stats().live_entries, 1);

    checker.take_violations();
    unmap_and_free(&nic, buf, dma, 256, Direction::FromDevice);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_no_leaks();
}

// ---------------------------------------------------------------------------------------------
// The limits of a sync, exactly met and missed by one byte, on each backend (the IOMMU pads a
// mapping to whole pages and the bounce pool to slots, so a byte past the end is still
// translated there).

fn sync_ending_exactly_at_the_end_of_its_mapping_is_silent(via: Via) {
    let checker = checker();
    let dev = device_via(&checker, "eth0", "testdrv", via);
    let (buf, dma) = map_checked(&dev, 1000, Direction::FromDevice);

    dma_sync_single_for_cpu(&dev, dma, 1000, Direction::FromDevice);
    dma_sync_single_for_cpu(&dev, dma + 999, 1, Direction::FromDevice);
    // Partial syncs start on a cache line (64 bytes); 960 + 40 is the mapping's end.
    dma_sync_single_range_for_cpu(&dev, dma, 960, 40, Direction::FromDevice);
    dma_sync_single_range_for_device(&dev, dma, 960, 40, Direction::FromDevice);

    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    unmap_and_free(&dev, buf, dma, 1000, Direction::FromDevice);
    checker.assert_clean();
}

fn sync_one_byte_past_the_end_of_its_mapping_is_out_of_range(via: Via) {
    let checker = checker();
    let dev = device_via(&checker, "eth0", "testdrv", via);
    let (buf, dma) = map_checked(&dev, 1000, Direction::FromDevice);

    dma_sync_single_for_cpu(&dev, dma, 1001, Direction::FromDevice);
    let v = single_violation(&checker, &SYNC_OUT_OF_RANGE);
    assert_eq!(v.detail_u64("size"), Some(1001));
    assert_eq!(v.detail_u64("mapped_dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("mapped_size"), Some(1000));
    checker.take_violations();

    dma_sync_single_for_cpu(&dev, dma + 999, 2, Direction::FromDevice);
    assert_eq!(
        single_violation(&checker, &SYNC_OUT_OF_RANGE).detail_u64("size"),
        Some(2)
    );
    checker.take_violations();

    dma_sync_single_range_for_cpu(&dev, dma, 960, 41, Direction::FromDevice);
    let v = single_violation(&checker, &SYNC_OUT_OF_RANGE);
    assert_eq!(v.detail_u64("offset"), Some(960));
    assert_eq!(v.detail_u64("size"), Some(41));
    checker.take_violations();

    dma_sync_single_range_for_device(&dev, dma, 960, 41, Direction::FromDevice);
    single_violation(&checker, &SYNC_OUT_OF_RANGE);
    checker.take_violations();

    assert_eq!(live(&checker), 1);
    unmap_and_free(&dev, buf, dma, 1000, Direction::FromDevice);
    checker.assert_clean();
}

fn sync_one_byte_before_or_after_its_mapping_is_unknown(via: Via) {
    let checker = checker();
    let dev = device_via(&checker, "eth0", "testdrv", via);
    let (buf, dma) = map_checked(&dev, 1000, Direction::FromDevice);

    dma_sync_single_for_cpu(&dev, dma - 1, 1, Direction::FromDevice);
    assert_eq!(
        single_violation(&checker, &SYNC_UNKNOWN).detail_u64("dma_addr"),
        Some(dma - 1)
    );
    checker.take_violations();
    dma_sync_single_for_cpu(&dev, dma + 1000, 1, Direction::FromDevice);
    assert_eq!(
        single_violation(&checker, &SYNC_UNKNOWN).detail_u64("dma_addr"),
        Some(dma + 1000)
    );
    checker.take_violations();

    unmap_and_free(&dev, buf, dma, 1000, Direction::FromDevice);
    checker.assert_clean();
}

on_each_backend!(
    sync_ending_exactly_at_the_end_of_its_mapping_is_silent,
    sync_one_byte_past_the_end_of_its_mapping_is_out_of_range,
    sync_one_byte_before_or_after_its_mapping_is_unknown,
);

/// Two mappings of one buffer hold the handle (the direct backend gives both the same address);
/// a sync of exactly the longer one's bytes belongs to it, not to the shorter one it overruns.
#[test]
fn sync_of_exactly_the_longer_of_two_mappings_at_one_address_picks_the_longer() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 128, Gfp::KERNEL);
    let long = dma_map_single(&dev, buf, 128, Direction::Bidirectional);
    let short = dma_map_single(&dev, buf, 64, Direction::ToDevice);
    assert_eq!(
        long, short,
        "the direct backend maps a buffer where it lies"
    );
    assert_eq!(dma_mapping_error(&dev, long), 0);
    assert_eq!(dma_mapping_error(&dev, short), 0);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));

    // Only the direction matches the short one: the fit and the start must outweigh it.
    dma_sync_single_for_cpu(&dev, long, 128, Direction::ToDevice);

    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    dma_unmap_single(&dev, short, 64, Direction::ToDevice);
    dma_unmap_single(&dev, long, 128, Direction::Bidirectional);
    kfree(&checker, buf);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// Which of several mappings containing a sync's handle the sync is judged against: the one
// starting at the handle, then the one the sync fits in, then the same entry count (sg), the
// same direction, the same size, each criterion outweighing all those after it together.

/// Map parts `(offset, len, dir)` of one 1 KiB buffer (all in one page), in the order given,
/// sync `(offset, len, dir)` of it for the CPU, and return the part the CPU got: the mapping
/// the sync was judged against.
fn mapping_chosen_by_sync(
    parts: &[(usize, usize, Direction)],
    sync: (usize, usize, Direction),
) -> (usize, usize) {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 1024, Gfp::KERNEL);
    let base = virt_to_phys(&checker, buf).expect("kmalloc memory");
    assert_eq!(base / PAGE_SIZE as u64, (base + 1023) / PAGE_SIZE as u64);
    let dmas: Vec<DmaAddr> = parts
        .iter()
        .map(|&(offset, len, dir)| {
            let dma = dma_map_single(&dev, buf.wrapping_add(offset), len, dir);
            assert_eq!(dma_mapping_error(&dev, dma), 0);
            dma
        })
        .collect();
    checker.take_violations(); // Overlapping writable parts share cache lines.

    dma_sync_single_for_cpu(&dev, base + sync.0 as u64, sync.1, sync.2);

    let got: Vec<(usize, usize)> = checker
        .live_entries()
        .iter()
        .filter(|e| e.cpu_ranges.iter().next().is_some())
        .map(|e| ((e.dma_addr - base) as usize, e.size as usize))
        .collect();
    assert_eq!(got.len(), 1, "one mapping is synced: {got:?}");
    for (&(_, len, dir), dma) in parts.iter().zip(dmas) {
        dma_unmap_single(&dev, dma, len, dir);
    }
    kfree(&checker, buf);
    got[0]
}

/// The sync is judged against `expected`, whichever order the mappings were made in.
#[track_caller]
fn assert_sync_chooses(
    expected: (usize, usize, Direction),
    other: (usize, usize, Direction),
    sync: (usize, usize, Direction),
) {
    for parts in [[expected, other], [other, expected]] {
        assert_eq!(
            mapping_chosen_by_sync(&parts, sync),
            (expected.0, expected.1),
            "mapped in the order {parts:?}"
        );
    }
}

#[test]
fn a_sync_prefers_the_mapping_starting_at_its_handle_over_all_else() {
    use Direction::{FromDevice, ToDevice};
    // The other contains the handle, fits the sync and has its direction, but starts earlier.
    assert_sync_chooses(
        (256, 64, ToDevice),
        (128, 256, FromDevice),
        (256, 128, FromDevice),
    );
}

#[test]
fn a_sync_prefers_the_mapping_it_fits_in_over_direction_and_size() {
    use Direction::{FromDevice, ToDevice};
    assert_sync_chooses(
        (256, 192, ToDevice),
        (256, 64, FromDevice),
        (256, 128, FromDevice),
    );
    // Fitting outweighs the same size: only a longer mapping than the sync can hold it here.
    assert_sync_chooses(
        (256, 192, ToDevice),
        (256, 128, FromDevice),
        (256, 160, FromDevice),
    );
}

#[test]
fn a_sync_prefers_the_mapping_with_its_direction_over_its_size() {
    use Direction::{FromDevice, ToDevice};
    assert_sync_chooses(
        (256, 192, FromDevice),
        (256, 128, ToDevice),
        (256, 128, FromDevice),
    );
}

#[test]
fn a_sync_prefers_the_mapping_of_its_size_when_all_else_is_equal() {
    use Direction::FromDevice;
    assert_sync_chooses(
        (256, 128, FromDevice),
        (256, 192, FromDevice),
        (256, 128, FromDevice),
    );
}

/// The same bytes in two sg lists of 1 and 2 entries: a sync of the one-entry list is judged
/// against its own segment, not the other list's segment at the same address, although that
/// one has the sync's direction.
#[test]
fn an_sg_sync_prefers_the_segment_of_its_entry_count_over_direction() {
    for one_entry_list_first in [true, false] {
        let checker = checker();
        let dev = device(&checker, "sda");
        let ListsSharingBytes {
            mut one,
            mut two,
            buf,
            other,
        } = ListsSharingBytes::map(
            &dev,
            Direction::ToDevice,
            Direction::FromDevice,
            one_entry_list_first,
        );
        checker.take_violations();

        // Its own segment was mapped TO_DEVICE: judged against it, the direction is wrong.
        dma_sync_sg_for_cpu(&dev, &one, 1, Direction::FromDevice);

        assert_eq!(
            rule_ids(&checker),
            ["sync-direction-mismatch"],
            "one-entry list mapped first: {one_entry_list_first}"
        );
        checker.take_violations();
        dma_unmap_sg(&dev, &mut two, 2, Direction::FromDevice);
        dma_unmap_sg(&dev, &mut one, 1, Direction::ToDevice);
        kfree(&checker, other);
        kfree(&checker, buf);
        assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    }
}
