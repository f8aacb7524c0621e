//! The rules of `src/rules/ownership.rs`: the device touches memory only through its own live
//! mappings, within them and in their direction; each streaming buffer belongs to the device or
//! to the CPU, never both; and nothing writes past the end of a bounce slot or a coherent
//! allocation. Most scenarios run once per backend (direct, IOMMU, bounce buffering): each
//! `scenario` function below is a test module with one test per backend
//! (`scenario::direct`, `scenario::iommu`, `scenario::bounce`).

use crate::common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use common::{
    Via, assert_mapped_at, assert_silent, assert_site, device_via, quiet, rule_ids,
    single_violation,
};
use dmacheck::backend::{GUARD_BYTE, GUARD_BYTES};
use dmacheck::rules::{
    BOUNCE_OVERRUN, COHERENT_OVERRUN, CPU_ACCESS_DEVICE_OWNED, CPU_WRITE_DEVICE_OWNED,
    DEVICE_ACCESS_AFTER_UNMAP, DEVICE_ACCESS_CPU_OWNED, DEVICE_ACCESS_DIRECTION,
    DEVICE_ACCESS_OVERRUN, DEVICE_ACCESS_UNMAPPED, DEVICE_RELEASED,
};
use dmacheck::*;

const FILE: &str = "ownership_rules.rs";

/// `EFAULT`, which the C ABI returns negated for every refused device access.
const EFAULT: i32 = 14;

// ---------------------------------------------------------------------------------------------
// Helpers

/// A quiet, environment-independent checker from `builder`, and a device "eth0" on `via`.
fn setup_with(builder: CheckerBuilder, via: Via) -> (Checker, Device) {
    let checker = builder.build();
    let dev = device_via(&checker, "eth0", "testdrv", via);
    (checker, dev)
}

fn setup(via: Via) -> (Checker, Device) {
    setup_with(quiet(), via)
}

/// No violation since the last `take_violations`, and nothing left live. (`assert_clean`
/// counts every violation ever reported, taken ones included.)
#[track_caller]
fn assert_tidy(checker: &Checker) {
    assert_silent(checker);
    checker.assert_no_leaks();
}

/// Assert that the violation's related site is labelled `label` and on line `line` here.
#[track_caller]
fn assert_related(v: &Violation, label: &str, line: u32) {
    let r = v
        .related
        .as_ref()
        .unwrap_or_else(|| panic!("{} violation names no related site", v.rule.id));
    assert_eq!(r.label, label);
    assert_site(&r.site, FILE, line);
}

/// A plain CPU store, as a driver's `memcpy`: dmacheck does not see it.
fn store(dst: *mut u8, data: &[u8]) {
    // SAFETY: every caller passes DMA memory of this test with room for `data` (for the
    // coherent-overrun tests, the guard bytes inside the allocation's last page).
    unsafe { ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
}

/// A plain CPU load of `len` bytes at `src`.
fn load(src: *const u8, len: usize) -> Vec<u8> {
    // SAFETY: every caller passes DMA memory of this test holding `len` bytes.
    unsafe { std::slice::from_raw_parts(src, len).to_vec() }
}

/// `len` bytes, none zero and none the guard byte, different for different seeds.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            let b = ((i * 7 + usize::from(seed) * 13) % 250) as u8 + 1;
            if b == GUARD_BYTE { b + 1 } else { b }
        })
        .collect()
}

/// What the device would see at `dma..dma + len`, read straight from memory through its
/// backend (no access is checked or recorded); `None` where it reaches nothing.
fn device_view(dev: &Device, dma: DmaAddr, len: usize) -> Vec<Option<u8>> {
    let params = dev.params();
    (0..len as u64)
        .map(|i| {
            let phys = dev.backend().dma_to_phys(&params, dma + i)?;
            let mut b = [0u8];
            dev.checker().memory().read(phys, &mut b)?;
            Some(b[0])
        })
        .collect()
}

/// The bytes at `dma..dma + len` as the device sees them, all of which it must reach.
#[track_caller]
fn device_bytes(dev: &Device, dma: DmaAddr, len: usize) -> Vec<u8> {
    device_view(dev, dma, len)
        .into_iter()
        .map(|b| b.expect("the device reaches every byte of the mapping"))
        .collect()
}

/// A fresh page, filled with `fill`, and a checked mapping of its first `size` bytes. A
/// mapping at the start of a page has the rest of the page after it on every backend, so an
/// overrun stays inside memory the device can be looked at through.
#[track_caller]
fn map_page_start(dev: &Device, size: usize, dir: Direction, fill: &[u8]) -> (Page, DmaAddr) {
    let page = alloc_pages(dev.checker(), Gfp::KERNEL, 0).expect("a page");
    store(page.address(), fill);
    let dma = dma_map_page(dev, page, 0, size, dir);
    assert_eq!(dma_mapping_error(dev, dma), 0, "the map failed");
    (page, dma)
}

// ---------------------------------------------------------------------------------------------
// device-access-unmapped

fn device_access_to_an_address_no_mapping_covers_is_refused(via: Via) {
    let (checker, dev) = setup(via);
    let (page, dma) = map_page_start(&dev, 64, Direction::Bidirectional, &pattern(128, 1));
    let before = device_view(&dev, dma, 128);

    // The first byte after the mapping: no mapping of the device covers it.
    let line = line!() + 1;
    let r = dev.dma_write(dma + 64, &[0xee; 8]);

    assert_eq!(r, Err(DmaFault::Unmapped));
    let v = single_violation(&checker, &DEVICE_ACCESS_UNMAPPED);
    assert_eq!(v.call, "device write");
    assert_eq!(v.device, "eth0");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma + 64));
    assert_eq!(v.detail_u64("size"), Some(8));
    assert!(
        v.message.contains("no mapping of this device covers"),
        "{}",
        v.message
    );
    assert!(!v.message.contains("CPU pointer"), "{}", v.message);
    assert!(v.mapped_at.is_none());
    assert!(v.related.is_none());
    assert_site(&v.site, FILE, line);
    assert_eq!(device_view(&dev, dma, 128), before, "nothing was written");
    assert_eq!(load(page.address(), 128), pattern(128, 1));

    // A read of an address never mapped at all is refused the same way, and fills nothing.
    checker.take_violations();
    let mut buf = [0x5au8; 4];
    assert_eq!(dev.dma_read(0x0dea_d000, &mut buf), Err(DmaFault::Unmapped));
    assert_eq!(buf, [0x5a; 4], "a refused read leaves the buffer untouched");
    let v = single_violation(&checker, &DEVICE_ACCESS_UNMAPPED);
    assert_eq!(v.call, "device read");
    assert_eq!(v.detail_u64("dma_addr"), Some(0x0dea_d000));
    assert_eq!(v.detail_u64("size"), Some(4));

    checker.take_violations();
    dma_unmap_page(&dev, dma, 64, Direction::Bidirectional);
    free_pages(&checker, page, 0);
    assert_tidy(&checker);
}

fn device_given_the_mapping_error_value_is_refused_and_the_report_says_so(via: Via) {
    let (checker, dev) = setup(via);

    let mut buf = [0x5au8; 4];
    assert_eq!(
        dev.dma_read(DMA_MAPPING_ERROR, &mut buf),
        Err(DmaFault::Unmapped)
    );

    assert_eq!(buf, [0x5a; 4]);
    let v = single_violation(&checker, &DEVICE_ACCESS_UNMAPPED);
    assert_eq!(v.detail_u64("dma_addr"), Some(DMA_MAPPING_ERROR));
    assert!(
        v.message.contains("DMA_MAPPING_ERROR") && v.message.contains("failed mapping"),
        "{}",
        v.message
    );
    checker.take_violations();
    assert_tidy(&checker);
}

fn device_given_the_cpu_pointer_is_refused_and_the_report_says_so(via: Via) {
    let (checker, dev) = setup(via);
    let buf = kzalloc(&checker, 256, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 256, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    // The driver wrote the kmalloc pointer into the descriptor instead of `dma`.
    let line = line!() + 1;
    let r = dev.dma_write(buf as u64, b"packet");

    assert_eq!(r, Err(DmaFault::Unmapped));
    let v = single_violation(&checker, &DEVICE_ACCESS_UNMAPPED);
    assert!(v.message.contains("CPU pointer"), "{}", v.message);
    assert_eq!(v.detail_u64("dma_addr"), Some(buf as u64));
    assert_eq!(v.detail_u64("size"), Some(6));
    assert_site(&v.site, FILE, line);
    dma_sync_single_for_cpu(&dev, dma, 256, Direction::FromDevice);
    assert_eq!(load(buf, 256), vec![0; 256], "the buffer is untouched");

    checker.take_violations();
    dma_unmap_single(&dev, dma, 256, Direction::FromDevice);
    kfree(&checker, buf);
    assert_tidy(&checker);
}

fn device_access_through_another_devices_mapping_is_refused(via: Via) {
    let (checker, nic) = setup(via);
    let disk = match via {
        Via::Direct => checker.device("sda").build(),
        Via::Iommu => checker.device("sda").iommu().build(),
        Via::Bounce => checker.device("sda").bounce().build(),
    };
    let buf = kzalloc(&checker, 128, Gfp::KERNEL);
    let dma = dma_map_single(&nic, buf, 128, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&nic, dma), 0);

    assert_eq!(disk.dma_write(dma, &[1, 2, 3]), Err(DmaFault::Unmapped));

    let v = single_violation(&checker, &DEVICE_ACCESS_UNMAPPED);
    assert_eq!(v.device, "sda");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    checker.take_violations();
    dma_unmap_single(&nic, dma, 128, Direction::FromDevice);
    assert_eq!(load(buf, 128), vec![0; 128]);
    kfree(&checker, buf);
    assert_tidy(&checker);
}

fn device_access_inside_its_own_live_mapping_is_silent(via: Via) {
    let (checker, dev) = setup(via);
    let data = pattern(300, 2);
    let buf = kmalloc(&checker, 300, Gfp::KERNEL);
    store(buf, &data);
    let dma = dma_map_single(&dev, buf, 300, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    let mut whole = vec![0u8; 300];
    assert_eq!(dev.dma_read(dma, &mut whole), Ok(()));
    let mut tail = [0u8; 4];
    assert_eq!(dev.dma_read(dma + 296, &mut tail), Ok(()));
    let word = dev.dma_read_u32(dma + 8);

    assert_silent(&checker);
    assert_eq!(whole, data);
    assert_eq!(tail, data[296..]);
    assert_eq!(
        word,
        Ok(u32::from_le_bytes(data[8..12].try_into().unwrap()))
    );
    dma_unmap_single(&dev, dma, 300, Direction::ToDevice);
    kfree(&checker, buf);
    checker.assert_clean();
}

on_each_backend!(
    device_access_to_an_address_no_mapping_covers_is_refused,
    device_given_the_mapping_error_value_is_refused_and_the_report_says_so,
    device_given_the_cpu_pointer_is_refused_and_the_report_says_so,
    device_access_through_another_devices_mapping_is_refused,
    device_access_inside_its_own_live_mapping_is_silent,
);

// ---------------------------------------------------------------------------------------------
// device-access-after-unmap

fn device_access_after_unmap_is_refused_and_names_map_and_unmap(via: Via) {
    let (checker, dev) = setup(via);
    let buf = kzalloc(&checker, 512, Gfp::KERNEL);
    let map_line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 512, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    let unmap_line = line!() + 1;
    dma_unmap_single(&dev, dma, 512, Direction::FromDevice);
    let before = device_view(&dev, dma, 512);

    let line = line!() + 1;
    let r = dev.dma_write(dma, &pattern(64, 3));

    assert_eq!(r, Err(DmaFault::AfterUnmap));
    let v = single_violation(&checker, &DEVICE_ACCESS_AFTER_UNMAP);
    assert_eq!(v.call, "device write");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("size"), Some(64));
    assert!(v.message.contains("dma_unmap_single"), "{}", v.message);
    assert_site(&v.site, FILE, line);
    assert_mapped_at(&v, FILE, map_line);
    assert_eq!(v.mapped_by, Some("dma_map_single"));
    assert_related(&v, "released at", unmap_line);
    assert_eq!(device_view(&dev, dma, 512), before, "nothing was written");
    assert_eq!(
        load(buf, 512),
        vec![0; 512],
        "the freed buffer is untouched"
    );

    checker.take_violations();
    let mut got = [0x77u8; 8];
    assert_eq!(dev.dma_read(dma, &mut got), Err(DmaFault::AfterUnmap));
    assert_eq!(got, [0x77; 8]);
    assert_eq!(
        single_violation(&checker, &DEVICE_ACCESS_AFTER_UNMAP).call,
        "device read"
    );
    checker.take_violations();
    kfree(&checker, buf);
    assert_tidy(&checker);
}

fn device_access_inside_an_unmapped_mapping_is_an_access_after_unmap(via: Via) {
    let (checker, dev) = setup(via);
    let buf = kzalloc(&checker, 2048, Gfp::KERNEL);
    let map_line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 2048, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    let unmap_line = line!() + 1;
    dma_unmap_single(&dev, dma, 2048, Direction::FromDevice);

    // The device was still filling the buffer: its next write lands 1 KiB in.
    let r = dev.dma_write(dma + 1024, &[0xee; 16]);

    assert_eq!(r, Err(DmaFault::AfterUnmap));
    let v = single_violation(&checker, &DEVICE_ACCESS_AFTER_UNMAP);
    assert_eq!(v.detail_u64("dma_addr"), Some(dma + 1024));
    assert_mapped_at(&v, FILE, map_line);
    assert_related(&v, "released at", unmap_line);
    assert_eq!(load(buf, 2048), vec![0; 2048]);
    checker.take_violations();
    kfree(&checker, buf);
}

fn device_access_after_free_coherent_names_the_free(via: Via) {
    let (checker, dev) = setup(via);
    let mut handle = 0;
    let alloc_line = line!() + 1;
    let ring = dma_alloc_coherent(&dev, 256, &mut handle, Gfp::KERNEL);
    assert!(!ring.is_null());
    let free_line = line!() + 1;
    dma_free_coherent(&dev, 256, ring, handle);

    let r = dev.dma_write_u32(handle, 1);

    assert_eq!(r, Err(DmaFault::AfterUnmap));
    let v = single_violation(&checker, &DEVICE_ACCESS_AFTER_UNMAP);
    assert_eq!(v.detail_u64("dma_addr"), Some(handle));
    assert_eq!(v.detail_u64("size"), Some(4));
    assert!(v.message.contains("dma_free_coherent"), "{}", v.message);
    assert_mapped_at(&v, FILE, alloc_line);
    assert_eq!(v.mapped_by, Some("dma_alloc_coherent"));
    assert_related(&v, "released at", free_line);
}

fn device_access_to_a_remapped_address_is_silent(via: Via) {
    let (checker, dev) = setup(via);
    let buf = kzalloc(&checker, 256, Gfp::KERNEL);
    let first = dma_map_single(&dev, buf, 256, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, first), 0);
    assert_eq!(dev.dma_write(first, b"one"), Ok(()));
    dma_unmap_single(&dev, first, 256, Direction::FromDevice);

    // Mapped again at the same address: the live mapping wins over the remembered release.
    let again = dma_map_single(&dev, buf, 256, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, again), 0);
    assert_eq!(again, first, "the scenario needs the address reused");
    assert_eq!(dev.dma_write(again, b"two"), Ok(()));
    dma_unmap_single(&dev, again, 256, Direction::FromDevice);

    assert_eq!(load(buf, 3), b"two");
    kfree(&checker, buf);
    checker.assert_clean();
}

on_each_backend!(
    device_access_after_unmap_is_refused_and_names_map_and_unmap,
    device_access_after_free_coherent_names_the_free,
    device_access_to_a_remapped_address_is_silent,
);

// A device access inside (not at the start of) a mapping that was unmapped is an access after
// unmap too.
on_each_backend!(device_access_inside_an_unmapped_mapping_is_an_access_after_unmap);

// ---------------------------------------------------------------------------------------------
// device-access-overrun

fn device_access_running_past_the_end_of_a_mapping_is_refused(via: Via) {
    let (checker, dev) = setup(via);
    let fill = pattern(128, 4);
    let map_line = line!() + 1;
    let (page, dma) = map_page_start(&dev, 64, Direction::Bidirectional, &fill);
    let before = device_view(&dev, dma, 128);

    let line = line!() + 1;
    let r = dev.dma_write(dma, &[0xee; 65]);

    assert_eq!(r, Err(DmaFault::Overrun));
    let v = single_violation(&checker, &DEVICE_ACCESS_OVERRUN);
    assert_eq!(v.call, "device write");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("size"), Some(65));
    assert_eq!(v.detail_u64("mapped_dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("mapped_size"), Some(64));
    assert_site(&v.site, FILE, line);
    assert_mapped_at(&v, FILE, map_line);
    assert_eq!(v.mapped_by, Some("dma_map_page"));
    assert_eq!(
        device_view(&dev, dma, 128),
        before,
        "not even the mapped bytes were written"
    );

    // A read that starts inside and ends outside is refused too, and fills nothing.
    checker.take_violations();
    let mut got = [0x11u8; 8];
    assert_eq!(dev.dma_read(dma + 60, &mut got), Err(DmaFault::Overrun));
    assert_eq!(got, [0x11; 8]);
    let v = single_violation(&checker, &DEVICE_ACCESS_OVERRUN);
    assert_eq!(v.call, "device read");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma + 60));
    assert_eq!(v.detail_u64("size"), Some(8));
    assert_eq!(v.detail_u64("mapped_dma_addr"), Some(dma));

    // Nothing reached the CPU's side or a bounce slot's guard either.
    checker.take_violations();
    dma_unmap_page(&dev, dma, 64, Direction::Bidirectional);
    assert_eq!(load(page.address(), 128), fill);
    free_pages(&checker, page, 0);
    assert_tidy(&checker);
}

fn device_write_past_the_end_of_a_coherent_allocation_is_refused(via: Via) {
    let (checker, dev) = setup(via);
    let mut handle = 0;
    let alloc_line = line!() + 1;
    let ring = dma_alloc_coherent(&dev, 100, &mut handle, Gfp::KERNEL);
    assert!(!ring.is_null());

    let r = dev.dma_write_u32(handle + 98, 0xdead_beef);

    assert_eq!(r, Err(DmaFault::Overrun));
    let v = single_violation(&checker, &DEVICE_ACCESS_OVERRUN);
    assert_eq!(v.detail_u64("dma_addr"), Some(handle + 98));
    assert_eq!(v.detail_u64("size"), Some(4));
    assert_eq!(v.detail_u64("mapped_size"), Some(100));
    assert_mapped_at(&v, FILE, alloc_line);
    assert_eq!(v.mapped_by, Some("dma_alloc_coherent"));
    assert_eq!(load(ring, 100), vec![0; 100]);

    // The guard after the allocation was not reached: the free finds it intact.
    checker.take_violations();
    dma_free_coherent(&dev, 100, ring, handle);
    assert_tidy(&checker);
}

fn device_access_up_to_the_last_mapped_byte_is_silent(via: Via) {
    let (checker, dev) = setup(via);
    let (page, dma) = map_page_start(&dev, 64, Direction::Bidirectional, &[0; 64]);
    let data = pattern(64, 5);

    assert_eq!(dev.dma_write(dma, &data), Ok(()));
    assert_eq!(dev.dma_write(dma + 63, &[data[0]]), Ok(()));
    let mut back = [0u8; 64];
    assert_eq!(dev.dma_read(dma, &mut back), Ok(()));
    assert_eq!(dev.dma_read_u64(dma + 56).map(|_| ()), Ok(()));

    assert_silent(&checker);
    let mut expected = data.clone();
    expected[63] = data[0];
    assert_eq!(back.to_vec(), expected);
    dma_unmap_page(&dev, dma, 64, Direction::Bidirectional);
    assert_eq!(load(page.address(), 64), expected);
    free_pages(&checker, page, 0);
    checker.assert_clean();
}

on_each_backend!(
    device_access_running_past_the_end_of_a_mapping_is_refused,
    device_write_past_the_end_of_a_coherent_allocation_is_refused,
    device_access_up_to_the_last_mapped_byte_is_silent,
);

// ---------------------------------------------------------------------------------------------
// device-access-direction

fn device_write_to_a_to_device_mapping_is_refused(via: Via) {
    let (checker, dev) = setup(via);
    let data = pattern(128, 6);
    let map_line = line!() + 1;
    let (page, dma) = map_page_start(&dev, 128, Direction::ToDevice, &data);
    let before = device_bytes(&dev, dma, 128);

    let line = line!() + 1;
    let r = dev.dma_write(dma + 16, &[0xee; 16]);

    assert_eq!(r, Err(DmaFault::Direction));
    let v = single_violation(&checker, &DEVICE_ACCESS_DIRECTION);
    assert_eq!(v.call, "device write");
    assert!(
        v.message.contains("device write to a TO_DEVICE mapping"),
        "{}",
        v.message
    );
    assert_eq!(v.detail_u64("dma_addr"), Some(dma + 16));
    assert_eq!(v.detail_u64("size"), Some(16));
    assert_eq!(
        v.detail("mapped_dir"),
        Some(&Value::Dir(Direction::ToDevice))
    );
    assert_site(&v.site, FILE, line);
    assert_mapped_at(&v, FILE, map_line);
    assert_eq!(device_bytes(&dev, dma, 128), before);

    checker.take_violations();
    dma_unmap_page(&dev, dma, 128, Direction::ToDevice);
    assert_eq!(load(page.address(), 128), data);
    free_pages(&checker, page, 0);
    assert_tidy(&checker);
}

fn device_read_of_a_from_device_mapping_is_refused(via: Via) {
    let (checker, dev) = setup(via);
    let map_line = line!() + 1;
    let (page, dma) = map_page_start(&dev, 128, Direction::FromDevice, &pattern(128, 7));

    let mut got = [0x33u8; 32];
    let r = dev.dma_read(dma, &mut got);

    assert_eq!(r, Err(DmaFault::Direction));
    assert_eq!(got, [0x33; 32], "a refused read fills nothing");
    let v = single_violation(&checker, &DEVICE_ACCESS_DIRECTION);
    assert_eq!(v.call, "device read");
    assert!(
        v.message.contains("device read of a FROM_DEVICE mapping"),
        "{}",
        v.message
    );
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("size"), Some(32));
    assert_eq!(
        v.detail("mapped_dir"),
        Some(&Value::Dir(Direction::FromDevice))
    );
    assert_mapped_at(&v, FILE, map_line);
    checker.take_violations();
    dma_unmap_page(&dev, dma, 128, Direction::FromDevice);
    free_pages(&checker, page, 0);
    assert_tidy(&checker);
}

fn device_access_in_the_mapped_direction_is_silent(via: Via) {
    let (checker, dev) = setup(via);
    let out = pattern(64, 8);
    let (tx_page, tx) = map_page_start(&dev, 64, Direction::ToDevice, &out);
    let (rx_page, rx) = map_page_start(&dev, 64, Direction::FromDevice, &[0; 64]);
    let (bidi_page, bidi) = map_page_start(&dev, 64, Direction::Bidirectional, &out);
    let mut handle = 0;
    let ring = dma_alloc_coherent(&dev, 64, &mut handle, Gfp::KERNEL);
    assert!(!ring.is_null());

    let mut seen = [0u8; 64];
    assert_eq!(dev.dma_read(tx, &mut seen), Ok(()));
    assert_eq!(seen.to_vec(), out);
    assert_eq!(dev.dma_write(rx, &pattern(64, 9)), Ok(()));
    assert_eq!(dev.dma_read(bidi, &mut seen), Ok(()));
    assert_eq!(dev.dma_write(bidi, &pattern(64, 10)), Ok(()));
    assert_eq!(dev.dma_write_u64(handle, 0x1234_5678_9abc_def0), Ok(()));
    assert_eq!(dev.dma_read_u64(handle), Ok(0x1234_5678_9abc_def0));

    assert_silent(&checker);
    dma_unmap_page(&dev, tx, 64, Direction::ToDevice);
    dma_unmap_page(&dev, rx, 64, Direction::FromDevice);
    dma_unmap_page(&dev, bidi, 64, Direction::Bidirectional);
    assert_eq!(load(rx_page.address(), 64), pattern(64, 9));
    assert_eq!(load(bidi_page.address(), 64), pattern(64, 10));
    assert_eq!(load(ring, 8), 0x1234_5678_9abc_def0u64.to_le_bytes());
    dma_free_coherent(&dev, 64, ring, handle);
    for page in [tx_page, rx_page, bidi_page] {
        free_pages(&checker, page, 0);
    }
    checker.assert_clean();
}

on_each_backend!(
    device_write_to_a_to_device_mapping_is_refused,
    device_read_of_a_from_device_mapping_is_refused,
    device_access_in_the_mapped_direction_is_silent,
);

// ---------------------------------------------------------------------------------------------
// device-access-cpu-owned

fn device_access_while_the_cpu_owns_the_buffer_is_reported_and_carried_out(via: Via) {
    let (checker, dev) = setup(via);
    let buf = kzalloc(&checker, 256, Gfp::KERNEL);
    let map_line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 256, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_sync_single_for_cpu(&dev, dma, 256, Direction::FromDevice);

    let line = line!() + 1;
    let r = dev.dma_write(dma + 4, b"late");

    assert_eq!(r, Ok(()), "the access is carried out");
    let v = single_violation(&checker, &DEVICE_ACCESS_CPU_OWNED);
    assert_eq!(v.call, "device write");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma + 4));
    assert_eq!(v.detail_u64("size"), Some(4));
    assert_site(&v.site, FILE, line);
    assert_mapped_at(&v, FILE, map_line);
    assert_eq!(device_bytes(&dev, dma + 4, 4), b"late");

    // A read of a TO_DEVICE buffer the CPU took back is reported the same way.
    checker.take_violations();
    let tx = kzalloc(&checker, 64, Gfp::KERNEL);
    let tx_dma = dma_map_single(&dev, tx, 64, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, tx_dma), 0);
    dma_sync_single_for_cpu(&dev, tx_dma, 64, Direction::ToDevice);
    assert_eq!(dev.dma_read_u32(tx_dma), Ok(0));
    let v = single_violation(&checker, &DEVICE_ACCESS_CPU_OWNED);
    assert_eq!(v.call, "device read");
    assert_eq!(v.detail_u64("dma_addr"), Some(tx_dma));

    checker.take_violations();
    dma_unmap_single(&dev, tx_dma, 64, Direction::ToDevice);
    dma_unmap_single(&dev, dma, 256, Direction::FromDevice);
    kfree(&checker, tx);
    kfree(&checker, buf);
    assert_tidy(&checker);
}

fn device_access_after_the_buffer_is_handed_back_is_silent(via: Via) {
    let (checker, dev) = setup(via);
    let buf = kzalloc(&checker, 256, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 256, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_sync_single_for_cpu(&dev, dma, 256, Direction::FromDevice);
    dma_sync_single_for_device(&dev, dma, 256, Direction::FromDevice);

    assert_eq!(dev.dma_write(dma, b"fresh"), Ok(()));

    assert_silent(&checker);
    dma_sync_single_for_cpu(&dev, dma, 256, Direction::FromDevice);
    assert_eq!(load(buf, 5), b"fresh");
    dma_unmap_single(&dev, dma, 256, Direction::FromDevice);
    kfree(&checker, buf);
    checker.assert_clean();
}

on_each_backend!(
    device_access_while_the_cpu_owns_the_buffer_is_reported_and_carried_out,
    device_access_after_the_buffer_is_handed_back_is_silent,
);

// ---------------------------------------------------------------------------------------------
// cpu-write-device-owned

fn cpu_write_after_the_map_is_reported_at_the_unmap(via: Via) {
    let (checker, dev) = setup(via);
    let old = pattern(200, 11);
    let buf = kmalloc(&checker, 200, Gfp::KERNEL);
    store(buf, &old);
    let map_line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 200, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    // The driver patches the header after handing the buffer over.
    store(buf, b"NEWHDR");
    let mut sent = vec![0u8; 200];
    assert_eq!(dev.dma_read(dma, &mut sent), Ok(()));
    assert_silent(&checker);
    let unmap_line = line!() + 1;
    dma_unmap_single(&dev, dma, 200, Direction::ToDevice);

    let v = single_violation(&checker, &CPU_WRITE_DEVICE_OWNED);
    assert_eq!(v.call, "dma_unmap_single");
    assert_eq!(v.device, "eth0");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("size"), Some(200));
    assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::ToDevice)));
    assert_site(&v.site, FILE, unmap_line);
    assert_mapped_at(&v, FILE, map_line);
    assert_related(&v, "handed to the device at", map_line);

    // With bounce buffering the device read the bytes of the map; otherwise it saw the patch.
    let mut patched = old.clone();
    patched[..6].copy_from_slice(b"NEWHDR");
    match via {
        Via::Bounce => assert_eq!(sent, old, "the device sees the copy made at the map"),
        Via::Direct | Via::Iommu => assert_eq!(sent, patched, "shared memory"),
    }
    // The unmap of a TO_DEVICE mapping copies nothing back: the CPU keeps its own bytes.
    assert_eq!(load(buf, 200), patched);
    kfree(&checker, buf);
}

/// A range sync for the device carries exactly that range of the CPU's bytes to the device
/// (through the bounce slot, at the same offset).
fn range_sync_for_the_device_carries_the_range_at_its_offset(via: Via) {
    let (checker, dev) = setup(via);
    let buf = kzalloc(&checker, 256, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 256, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_sync_single_for_cpu(&dev, dma, 256, Direction::ToDevice);
    let tail = pattern(128, 31);
    store(buf.wrapping_add(128), &tail);

    dma_sync_single_range_for_device(&dev, dma, 128, 128, Direction::ToDevice);

    // The device may read only the part handed back to it.
    let mut seen = vec![0u8; 128];
    assert_eq!(dev.dma_read(dma + 128, &mut seen), Ok(()));
    assert_eq!(seen, tail);
    assert_silent(&checker);
    dma_unmap_single(&dev, dma, 256, Direction::ToDevice);
    kfree(&checker, buf);
    assert_tidy(&checker);
}

fn cpu_write_after_sync_for_device_names_the_sync_as_the_hand_off(via: Via) {
    let (checker, dev) = setup(via);
    let buf = kzalloc(&checker, 128, Gfp::KERNEL);
    let map_line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 128, Direction::Bidirectional);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_sync_single_for_cpu(&dev, dma, 128, Direction::Bidirectional);
    store(buf, b"fine: the CPU owns it");
    let handed_line = line!() + 1;
    dma_sync_single_for_device(&dev, dma, 128, Direction::Bidirectional);
    store(buf, b"not fine");
    assert_silent(&checker);

    let line = line!() + 1;
    dma_sync_single_for_cpu(&dev, dma, 128, Direction::Bidirectional);

    let v = single_violation(&checker, &CPU_WRITE_DEVICE_OWNED);
    assert_eq!(v.call, "dma_sync_single_for_cpu");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::Bidirectional)));
    assert_site(&v.site, FILE, line);
    assert_mapped_at(&v, FILE, map_line);
    assert_related(&v, "handed to the device at", handed_line);

    // The CPU owns the buffer now: the unmap finds nothing more.
    checker.take_violations();
    dma_unmap_single(&dev, dma, 128, Direction::Bidirectional);
    kfree(&checker, buf);
    assert_tidy(&checker);
}

fn cpu_write_while_the_device_owns_is_not_checked_without_digests(via: Via) {
    let (checker, dev) = setup_with(quiet().digests(false), via);
    assert!(!checker.config().digests);
    let buf = kzalloc(&checker, 200, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 200, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    store(buf, b"NEWHDR");
    let bidi = dma_map_single(&dev, buf, 200, Direction::Bidirectional);
    assert_eq!(dma_mapping_error(&dev, bidi), 0);
    store(buf, b"again");

    dma_sync_single_for_cpu(&dev, bidi, 200, Direction::Bidirectional);
    dma_unmap_single(&dev, bidi, 200, Direction::Bidirectional);
    dma_unmap_single(&dev, dma, 200, Direction::ToDevice);

    assert_eq!(checker.count(&CPU_WRITE_DEVICE_OWNED), 0);
    assert_silent(&checker);

    // Only the fingerprints are off: a checked access is still judged.
    let rx = dma_map_single(&dev, buf, 200, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, rx), 0);
    let mut got = [0u8; 4];
    assert_eq!(checker.cpu_read(buf, &mut got), Some(()));
    assert_eq!(rule_ids(&checker), [CPU_ACCESS_DEVICE_OWNED.id]);
    checker.take_violations();
    dma_unmap_single(&dev, rx, 200, Direction::FromDevice);
    kfree(&checker, buf);
    assert_tidy(&checker);
}

fn cpu_write_between_a_device_write_and_the_hand_back_is_reported(via: Via) {
    let (checker, dev) = setup(via);
    let buf = kzalloc(&checker, 512, Gfp::KERNEL);
    let map_line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 512, Direction::Bidirectional);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    // The CPU scribbles on the head of the buffer while the device owns it, and then the
    // device writes its tail.
    store(buf, b"scribble");
    assert_eq!(dev.dma_write(dma + 256, &pattern(256, 12)), Ok(()));
    let line = line!() + 1;
    dma_sync_single_for_cpu(&dev, dma, 512, Direction::Bidirectional);

    let v = single_violation(&checker, &CPU_WRITE_DEVICE_OWNED);
    assert_site(&v.site, FILE, line);
    assert_mapped_at(&v, FILE, map_line);
    assert_related(&v, "handed to the device at", map_line);
    checker.take_violations();
    dma_unmap_single(&dev, dma, 512, Direction::Bidirectional);
    kfree(&checker, buf);
}

/// After a range sync the CPU owns the head and the device the tail: a CPU write to the tail
/// is reported at the next hand-back; writes to the head, or to the memory right after the
/// buffer, are not.
fn cpu_write_to_the_part_the_device_still_owns_is_reported(via: Via) {
    let (checker, dev) = setup(via);
    let buf = kzalloc(&checker, 256, Gfp::KERNEL);
    let next = kzalloc(&checker, 256, Gfp::KERNEL);
    assert_eq!(
        next.addr(),
        buf.addr() + 256,
        "two neighbouring objects of one slab"
    );
    let dma = dma_map_single(&dev, buf, 256, Direction::Bidirectional);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_sync_single_range_for_cpu(&dev, dma, 0, 128, Direction::Bidirectional);

    store(buf, b"the head is the CPU's");
    store(next, b"not part of any mapping");
    dma_sync_single_for_cpu(&dev, dma, 256, Direction::Bidirectional);
    assert_silent(&checker);

    dma_sync_single_range_for_device(&dev, dma, 128, 128, Direction::Bidirectional);
    store(buf.wrapping_add(136), b"the tail is the device's");
    dma_sync_single_for_cpu(&dev, dma, 256, Direction::Bidirectional);
    let v = single_violation(&checker, &CPU_WRITE_DEVICE_OWNED);
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));

    checker.take_violations();
    dma_unmap_single(&dev, dma, 256, Direction::Bidirectional);
    kfree(&checker, next);
    kfree(&checker, buf);
    assert_tidy(&checker);
}

fn cpu_writes_while_the_cpu_owns_the_buffer_are_silent(via: Via) {
    let (checker, dev) = setup(via);
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);
    store(buf, &pattern(256, 13));
    let dma = dma_map_single(&dev, buf, 256, Direction::Bidirectional);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    // The device's own writes change the CPU's bytes where memory is shared: not the CPU's.
    assert_eq!(dev.dma_write(dma, &pattern(256, 14)), Ok(()));
    dma_sync_single_for_cpu(&dev, dma, 256, Direction::Bidirectional);
    store(buf, b"the CPU owns it now");
    dma_sync_single_for_device(&dev, dma, 256, Direction::Bidirectional);
    assert_eq!(dev.dma_write(dma + 128, &pattern(128, 15)), Ok(()));
    dma_unmap_single(&dev, dma, 256, Direction::Bidirectional);
    store(buf, b"and after the unmap");

    assert_eq!(&load(buf, 19), b"and after the unmap");
    assert_eq!(load(buf.wrapping_add(128), 128), pattern(128, 15));
    kfree(&checker, buf);
    checker.assert_clean();
}

on_each_backend!(
    range_sync_for_the_device_carries_the_range_at_its_offset,
    cpu_write_to_the_part_the_device_still_owns_is_reported,
    cpu_write_after_the_map_is_reported_at_the_unmap,
    cpu_write_after_sync_for_device_names_the_sync_as_the_hand_off,
    cpu_write_while_the_device_owns_is_not_checked_without_digests,
    cpu_writes_while_the_cpu_owns_the_buffer_are_silent,
);

// A device write into shared memory re-fingerprints the whole buffer, so a CPU write made
// before it, elsewhere in the buffer, goes unreported where the device shares the CPU's memory
// (direct, IOMMU); with bounce buffering the device writes its slot and the write is caught.
mod cpu_write_between_a_device_write_and_the_hand_back_is_reported {
    #[test]
    fn direct() {
        super::cpu_write_between_a_device_write_and_the_hand_back_is_reported(super::Via::Direct);
    }
    #[test]
    fn iommu() {
        super::cpu_write_between_a_device_write_and_the_hand_back_is_reported(super::Via::Iommu);
    }
    #[test]
    fn bounce() {
        super::cpu_write_between_a_device_write_and_the_hand_back_is_reported(super::Via::Bounce);
    }
}

// ---------------------------------------------------------------------------------------------
// cpu-access-device-owned

fn cpu_read_of_a_buffer_the_device_owns_is_reported_and_stale_under_bounce(via: Via) {
    let (checker, dev) = setup(via);
    let buf = kzalloc(&checker, 256, Gfp::KERNEL);
    let before = load(buf, 256);
    let map_line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 256, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    let packet = pattern(100, 16);
    assert_eq!(dev.dma_write(dma, &packet), Ok(()));

    let mut got = vec![0u8; 100];
    let line = line!() + 1;
    let r = checker.cpu_read(buf, &mut got);

    assert_eq!(r, Some(()), "the read is carried out");
    let v = single_violation(&checker, &CPU_ACCESS_DEVICE_OWNED);
    assert_eq!(v.call, "cpu_read");
    assert_eq!(v.device, "eth0");
    assert!(v.message.contains("CPU read"), "{}", v.message);
    assert_eq!(v.detail_u64("cpu_addr"), Some(buf as u64));
    assert_eq!(v.detail_u64("size"), Some(100));
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::FromDevice)));
    assert_site(&v.site, FILE, line);
    assert_mapped_at(&v, FILE, map_line);
    assert_related(&v, "handed to the device at", map_line);
    match via {
        Via::Bounce => {
            assert_ne!(got, packet, "without a sync the CPU reads stale bytes");
            assert_eq!(got, before[..100]);
        }
        Via::Direct | Via::Iommu => assert_eq!(got, packet),
    }

    checker.take_violations();
    dma_unmap_single(&dev, dma, 256, Direction::FromDevice);
    assert_eq!(load(buf, 100), packet, "the unmap hands the bytes back");
    kfree(&checker, buf);
    assert_tidy(&checker);
}

fn cpu_write_to_a_buffer_the_device_owns_is_reported_once(via: Via) {
    let (checker, dev) = setup(via);
    let buf = kzalloc(&checker, 128, Gfp::KERNEL);
    let map_line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 128, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_sync_single_for_cpu(&dev, dma, 128, Direction::ToDevice);
    let handed_line = line!() + 1;
    dma_sync_single_for_device(&dev, dma, 128, Direction::ToDevice);

    let line = line!() + 1;
    let r = checker.cpu_write(buf.wrapping_add(8), b"late");

    assert_eq!(r, Some(()), "the write is carried out");
    let v = single_violation(&checker, &CPU_ACCESS_DEVICE_OWNED);
    assert_eq!(v.call, "cpu_write");
    assert!(v.message.contains("CPU write"), "{}", v.message);
    assert_eq!(v.detail_u64("cpu_addr"), Some(buf as u64 + 8));
    assert_eq!(v.detail_u64("size"), Some(4));
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::ToDevice)));
    assert_site(&v.site, FILE, line);
    assert_mapped_at(&v, FILE, map_line);
    assert_related(&v, "handed to the device at", handed_line);
    assert_eq!(&load(buf.wrapping_add(8), 4), b"late");

    // Reported at the write, so not again as cpu-write-device-owned at the unmap.
    dma_unmap_single(&dev, dma, 128, Direction::ToDevice);
    assert_eq!(rule_ids(&checker), [CPU_ACCESS_DEVICE_OWNED.id]);
    kfree(&checker, buf);
}

/// A checked write is reported at once; an unchecked CPU write before it, to other bytes the
/// device owns, is still reported at the hand-back (the checked write's one scan notes it
/// before the write is taken into the fingerprint).
fn unchecked_cpu_write_before_a_checked_one_is_still_reported_at_the_hand_back(via: Via) {
    let (checker, dev) = setup(via);
    let buf = kzalloc(&checker, 128, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 128, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    store(buf, b"unchecked");
    assert_eq!(
        checker.cpu_write(buf.wrapping_add(64), b"checked"),
        Some(())
    );
    assert_eq!(rule_ids(&checker), [CPU_ACCESS_DEVICE_OWNED.id]);
    let line = line!() + 1;
    dma_unmap_single(&dev, dma, 128, Direction::ToDevice);
    assert_eq!(
        rule_ids(&checker),
        [CPU_ACCESS_DEVICE_OWNED.id, CPU_WRITE_DEVICE_OWNED.id]
    );
    assert_site(&checker.violations()[1].site, FILE, line);
    checker.take_violations();
    kfree(&checker, buf);
}

fn cpu_read_of_a_bidirectional_buffer_the_device_owns_is_reported(via: Via) {
    let (checker, dev) = setup(via);
    let buf = kzalloc(&checker, 64, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 64, Direction::Bidirectional);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    let mut got = [0u8; 4];
    assert_eq!(checker.cpu_read(buf.wrapping_add(60), &mut got), Some(()));

    let v = single_violation(&checker, &CPU_ACCESS_DEVICE_OWNED);
    assert_eq!(v.detail_u64("cpu_addr"), Some(buf as u64 + 60));
    assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::Bidirectional)));
    checker.take_violations();
    dma_unmap_single(&dev, dma, 64, Direction::Bidirectional);
    kfree(&checker, buf);
    assert_tidy(&checker);
}

fn checked_cpu_access_the_rules_allow_is_silent(via: Via) {
    let (checker, dev) = setup(via);
    let data = pattern(128, 17);
    let tx = kmalloc(&checker, 128, Gfp::KERNEL);
    assert_eq!(checker.cpu_write(tx, &data), Some(()), "not mapped yet");
    let tx_dma = dma_map_single(&dev, tx, 128, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, tx_dma), 0);
    let rx = kzalloc(&checker, 128, Gfp::KERNEL);
    let rx_dma = dma_map_single(&dev, rx, 128, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, rx_dma), 0);
    let mut handle = 0;
    let ring = dma_alloc_coherent(&dev, 128, &mut handle, Gfp::KERNEL);
    assert!(!ring.is_null());

    // Reading a buffer the device only reads is harmless.
    let mut got = vec![0u8; 128];
    assert_eq!(checker.cpu_read(tx, &mut got), Some(()));
    assert_eq!(got, data);
    // After a sync for the CPU, the CPU may read and write.
    assert_eq!(dev.dma_write(rx_dma, &pattern(128, 18)), Ok(()));
    dma_sync_single_for_cpu(&dev, rx_dma, 128, Direction::FromDevice);
    assert_eq!(checker.cpu_read(rx, &mut got), Some(()));
    assert_eq!(got, pattern(128, 18));
    assert_eq!(checker.cpu_write(rx, b"recycled"), Some(()));
    dma_sync_single_for_device(&dev, rx_dma, 128, Direction::FromDevice);
    // Coherent memory is always shared.
    assert_eq!(checker.cpu_write(ring, &1u32.to_le_bytes()), Some(()));
    assert_eq!(dev.dma_read_u32(handle), Ok(1));
    assert_eq!(dev.dma_write_u32(handle + 4, 2), Ok(()));
    let mut word = [0u8; 4];
    assert_eq!(checker.cpu_read(ring.wrapping_add(4), &mut word), Some(()));
    assert_eq!(u32::from_le_bytes(word), 2);

    assert_silent(&checker);
    dma_unmap_single(&dev, tx_dma, 128, Direction::ToDevice);
    dma_unmap_single(&dev, rx_dma, 128, Direction::FromDevice);
    // After the unmap, the CPU owns the memory for good.
    assert_eq!(checker.cpu_write(tx, b"reuse"), Some(()));
    assert_eq!(checker.cpu_read(rx, &mut got), Some(()));
    dma_free_coherent(&dev, 128, ring, handle);
    kfree(&checker, tx);
    kfree(&checker, rx);
    checker.assert_clean();
}

on_each_backend!(
    cpu_read_of_a_buffer_the_device_owns_is_reported_and_stale_under_bounce,
    cpu_write_to_a_buffer_the_device_owns_is_reported_once,
    unchecked_cpu_write_before_a_checked_one_is_still_reported_at_the_hand_back,
    cpu_read_of_a_bidirectional_buffer_the_device_owns_is_reported,
    checked_cpu_access_the_rules_allow_is_silent,
);

#[test]
fn checked_cpu_access_outside_dma_memory_is_refused_without_a_report() {
    let checker = quiet().build();
    let mut local = [0u8; 16];
    let mut got = [0u8; 4];
    assert_eq!(checker.cpu_read(local.as_ptr(), &mut got), None);
    assert_eq!(checker.cpu_write(local.as_mut_ptr(), b"nope"), None);
    assert_eq!(local, [0; 16]);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// bounce-overrun (bounce buffering only: other backends have no slots)

/// Overwrite the byte the device sees at `dma`, behind every check, as a stray bus master
/// would.
fn poke(dev: &Device, dma: DmaAddr, byte: u8) {
    let phys = dev
        .backend()
        .dma_to_phys(&dev.params(), dma)
        .expect("the device reaches the byte");
    dev.checker()
        .memory()
        .write(phys, &[byte])
        .expect("inside memory");
}

fn bounce_overrun_case(checker: &Checker, dev: &Device, guard_offset: u64) {
    assert_eq!(dev.backend().name(), "bounce");
    let buf = kzalloc(checker, 100, Gfp::KERNEL);
    let map_line = line!() + 1;
    let dma = dma_map_single(dev, buf, 100, Direction::FromDevice);
    assert_eq!(dma_mapping_error(dev, dma), 0);
    poke(dev, dma + 100 + guard_offset, !GUARD_BYTE);
    assert_silent(checker);

    let line = line!() + 1;
    dma_unmap_single(dev, dma, 100, Direction::FromDevice);

    let v = single_violation(checker, &BOUNCE_OVERRUN);
    assert_eq!(v.call, "dma_unmap_single");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("size"), Some(100));
    assert_site(&v.site, FILE, line);
    assert_mapped_at(&v, FILE, map_line);
    assert_eq!(v.mapped_by, Some("dma_map_single"));
    assert_eq!(checker.live_entries().len(), 0, "the mapping is gone");
    kfree(checker, buf);
}

#[test]
fn write_into_the_first_guard_byte_of_a_bounce_slot_is_reported_at_unmap() {
    let checker = quiet().build();
    let dev = checker.device("eth0").bounce().build();
    bounce_overrun_case(&checker, &dev, 0);
}

#[test]
fn write_into_the_last_guard_byte_of_a_bounce_slot_is_reported_at_unmap() {
    let checker = quiet().build();
    let dev = checker.device("eth0").bounce().build();
    bounce_overrun_case(&checker, &dev, GUARD_BYTES - 1);
}

#[test]
fn bounce_overrun_is_found_with_forced_bounce_buffering() {
    let checker = quiet().force_bounce().build();
    assert!(checker.config().force_bounce);
    let dev = checker.device("eth0").build();
    bounce_overrun_case(&checker, &dev, 0);
}

#[test]
fn bounce_slot_used_up_to_its_last_byte_unmaps_silently() {
    let checker = quiet().build();
    let dev = checker.device("eth0").bounce().build();
    let buf = kzalloc(&checker, 100, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 100, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    assert_eq!(dev.dma_write(dma, &pattern(100, 19)), Ok(()));
    poke(&dev, dma + 99, 0x42);
    dma_unmap_single(&dev, dma, 100, Direction::FromDevice);

    let mut expected = pattern(100, 19);
    expected[99] = 0x42;
    assert_eq!(load(buf, 100), expected);
    kfree(&checker, buf);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// coherent-overrun

fn coherent_overrun_case(via: Via, past_end: usize) {
    let (checker, dev) = setup(via);
    let mut handle = 0;
    let alloc_line = line!() + 1;
    let cpu = dma_alloc_coherent(&dev, 100, &mut handle, Gfp::KERNEL);
    assert!(!cpu.is_null());
    store(cpu.wrapping_add(100 + past_end), &[0]);

    let line = line!() + 1;
    dma_free_coherent(&dev, 100, cpu, handle);

    let v = single_violation(&checker, &COHERENT_OVERRUN);
    assert_eq!(v.call, "dma_free_coherent");
    assert_eq!(v.detail_u64("dma_addr"), Some(handle));
    assert_eq!(v.detail_u64("size"), Some(100));
    assert_site(&v.site, FILE, line);
    assert_mapped_at(&v, FILE, alloc_line);
    assert_eq!(v.mapped_by, Some("dma_alloc_coherent"));
    assert_eq!(checker.live_entries().len(), 0, "the allocation is freed");
}

fn cpu_write_to_the_byte_after_a_coherent_allocation_is_reported_at_free(via: Via) {
    coherent_overrun_case(via, 0);
}

fn cpu_write_to_the_last_guard_byte_of_a_coherent_allocation_is_reported_at_free(via: Via) {
    coherent_overrun_case(via, GUARD_BYTES as usize - 1);
}

fn coherent_allocation_used_up_to_its_last_byte_frees_silently(via: Via) {
    let (checker, dev) = setup(via);
    let mut handle = 0;
    let cpu = dma_alloc_coherent(&dev, 100, &mut handle, Gfp::KERNEL);
    assert!(!cpu.is_null());
    store(cpu, &pattern(99, 20));
    assert_eq!(checker.cpu_write(cpu.wrapping_add(99), &[1]), Some(()));
    assert_eq!(dev.dma_write_u32(handle + 96, 7), Ok(()));

    dma_free_coherent(&dev, 100, cpu, handle);

    checker.assert_clean();
}

on_each_backend!(
    cpu_write_to_the_byte_after_a_coherent_allocation_is_reported_at_free,
    cpu_write_to_the_last_guard_byte_of_a_coherent_allocation_is_reported_at_free,
    coherent_allocation_used_up_to_its_last_byte_frees_silently,
);

// ---------------------------------------------------------------------------------------------
// Hand-offs done right

fn bidirectional_buffer_synced_both_ways_carries_data_each_way_silently(via: Via) {
    let (checker, dev) = setup(via);
    let buf = kzalloc(&checker, 256, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 256, Direction::Bidirectional);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    let from_device = pattern(256, 21);
    let from_cpu = pattern(256, 22);

    // The device writes, the CPU takes the buffer and reads what it wrote...
    assert_eq!(dev.dma_write(dma, &from_device), Ok(()));
    dma_sync_single_for_cpu(&dev, dma, 256, Direction::Bidirectional);
    let mut got = vec![0u8; 256];
    assert_eq!(checker.cpu_read(buf, &mut got), Some(()));
    assert_eq!(got, from_device);
    // ...writes new bytes and gives it back; the device reads the CPU's bytes.
    assert_eq!(checker.cpu_write(buf, &from_cpu), Some(()));
    let unsynced = device_bytes(&dev, dma, 256);
    dma_sync_single_for_device(&dev, dma, 256, Direction::Bidirectional);
    let mut seen = vec![0u8; 256];
    assert_eq!(dev.dma_read(dma, &mut seen), Ok(()));

    assert_eq!(seen, from_cpu);
    match via {
        // Only the sync for the device moves the CPU's bytes to the slot.
        Via::Bounce => assert_eq!(unsynced, from_device),
        Via::Direct | Via::Iommu => assert_eq!(unsynced, from_cpu),
    }
    dma_unmap_single(&dev, dma, 256, Direction::Bidirectional);
    assert_eq!(load(buf, 256), from_cpu);
    kfree(&checker, buf);
    checker.assert_clean();
}

fn to_device_buffer_rewritten_between_syncs_is_silent_and_seen_by_the_device(via: Via) {
    let (checker, dev) = setup(via);
    let first = pattern(128, 23);
    let second = pattern(128, 24);
    let buf = kmalloc(&checker, 128, Gfp::KERNEL);
    store(buf, &first);
    let dma = dma_map_single(&dev, buf, 128, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    let mut seen = vec![0u8; 128];
    assert_eq!(dev.dma_read(dma, &mut seen), Ok(()));
    assert_eq!(seen, first);

    dma_sync_single_for_cpu(&dev, dma, 128, Direction::ToDevice);
    store(buf, &second);
    dma_sync_single_for_device(&dev, dma, 128, Direction::ToDevice);
    assert_eq!(dev.dma_read(dma, &mut seen), Ok(()));

    assert_eq!(seen, second);
    dma_unmap_single(&dev, dma, 128, Direction::ToDevice);
    kfree(&checker, buf);
    checker.assert_clean();
}

on_each_backend!(
    bidirectional_buffer_synced_both_ways_carries_data_each_way_silently,
    to_device_buffer_rewritten_between_syncs_is_silent_and_seen_by_the_device,
);

// ---------------------------------------------------------------------------------------------
// Refused accesses: faults, memory, levels

fn every_refused_access_returns_its_fault_and_touches_nothing(via: Via) {
    let (checker, dev) = setup(via);
    let fill = pattern(256, 25);
    let (tx_page, tx) = map_page_start(&dev, 64, Direction::ToDevice, &fill);
    let (rx_page, rx) = map_page_start(&dev, 64, Direction::FromDevice, &fill);
    let gone = kzalloc(&checker, 64, Gfp::KERNEL);
    let gone_dma = dma_map_single(&dev, gone, 64, Direction::Bidirectional);
    assert_eq!(dma_mapping_error(&dev, gone_dma), 0);
    dma_unmap_single(&dev, gone_dma, 64, Direction::Bidirectional);
    let tx_view = device_view(&dev, tx, 256);
    let rx_view = device_view(&dev, rx, 256);

    let cases: [(DmaAddr, usize, DmaFault, &Rule); 4] = [
        (tx + 64, 4, DmaFault::Unmapped, &DEVICE_ACCESS_UNMAPPED),
        (
            gone_dma,
            4,
            DmaFault::AfterUnmap,
            &DEVICE_ACCESS_AFTER_UNMAP,
        ),
        (rx + 32, 33, DmaFault::Overrun, &DEVICE_ACCESS_OVERRUN),
        (tx, 4, DmaFault::Direction, &DEVICE_ACCESS_DIRECTION),
    ];
    for (addr, len, fault, rule) in cases {
        checker.take_violations();
        assert_eq!(dev.dma_write(addr, &vec![0xee; len]), Err(fault));
        assert_eq!(
            single_violation(&checker, rule).detail_u64("dma_addr"),
            Some(addr)
        );
        assert_eq!(fault.errno(), -EFAULT);
    }
    // Reads: a FROM_DEVICE mapping is write-only for the device.
    for (addr, len, fault) in [
        (rx, 8, DmaFault::Direction),
        (tx + 60, 8, DmaFault::Overrun),
    ] {
        let mut got = vec![0x5au8; len];
        assert_eq!(dev.dma_read(addr, &mut got), Err(fault));
        assert_eq!(got, vec![0x5a; len]);
    }
    assert_eq!(dev.dma_read_u16(gone_dma), Err(DmaFault::AfterUnmap));
    assert_eq!(dev.dma_read_u64(rx + 60), Err(DmaFault::Overrun));
    assert_eq!(dev.dma_write_u16(tx, 1), Err(DmaFault::Direction));
    assert_eq!(dev.dma_write_u64(rx + 60, 1), Err(DmaFault::Overrun));

    assert_eq!(device_view(&dev, tx, 256), tx_view);
    assert_eq!(device_view(&dev, rx, 256), rx_view);
    checker.take_violations();
    dma_unmap_page(&dev, tx, 64, Direction::ToDevice);
    dma_unmap_page(&dev, rx, 64, Direction::FromDevice);
    assert_eq!(load(tx_page.address(), 256), fill);
    // The unmap hands the CPU what the device's side held (with bounce buffering, a copy of
    // the slot, which the refused writes did not touch); the bytes after it are untouched.
    let rx_seen: Vec<u8> = rx_view[..64].iter().map(|b| b.expect("mapped")).collect();
    assert_eq!(load(rx_page.address(), 64), rx_seen);
    assert_eq!(load(rx_page.address().wrapping_add(64), 192), fill[64..]);
    assert_eq!(load(gone, 64), vec![0; 64]);
    free_pages(&checker, tx_page, 0);
    free_pages(&checker, rx_page, 0);
    kfree(&checker, gone);
    assert_tidy(&checker);
}

fn access_by_a_released_device_is_refused(via: Via) {
    let (checker, dev) = setup(via);
    let mut handle = 0;
    let ring = dma_alloc_coherent(&dev, 64, &mut handle, Gfp::KERNEL);
    assert!(!ring.is_null());
    store(ring, &pattern(64, 26));
    // The driver unbinds with the ring still allocated: a leak, and the memory stays.
    dev.release();
    assert_eq!(rule_ids(&checker), ["leak"]);
    checker.take_violations();

    let line = line!() + 1;
    let r = dev.dma_write(handle, &[0; 8]);

    assert_eq!(r, Err(DmaFault::Released));
    assert_eq!(DmaFault::Released.errno(), -EFAULT);
    let v = single_violation(&checker, &DEVICE_RELEASED);
    assert_eq!(v.call, "device write");
    assert_site(&v.site, FILE, line);
    let mut got = [9u8; 8];
    assert_eq!(dev.dma_read(handle, &mut got), Err(DmaFault::Released));
    assert_eq!(got, [9; 8]);
    assert_eq!(load(ring, 64), pattern(64, 26), "nothing was written");
}

fn device_access_violation_at_deny_level_panics_after_refusing(via: Via) {
    let (checker, dev) = setup_with(quiet().level(&DEVICE_ACCESS_DIRECTION, Level::Deny), via);
    let data = pattern(64, 27);
    let (page, dma) = map_page_start(&dev, 64, Direction::ToDevice, &data);

    let r = catch_unwind(AssertUnwindSafe(|| dev.dma_write(dma, &[0; 64])));

    let panic = r.expect_err("a deny-level violation panics at the access");
    let text = panic
        .downcast_ref::<String>()
        .expect("the report is the panic message");
    assert!(text.contains(DEVICE_ACCESS_DIRECTION.id), "{text}");
    assert_eq!(rule_ids(&checker), [DEVICE_ACCESS_DIRECTION.id]);
    assert_eq!(device_bytes(&dev, dma, 64), data, "the access was refused");
    checker.take_violations();
    dma_unmap_page(&dev, dma, 64, Direction::ToDevice);
    free_pages(&checker, page, 0);
    assert_eq!(checker.live_entries().len(), 0);
}

on_each_backend!(
    every_refused_access_returns_its_fault_and_touches_nothing,
    access_by_a_released_device_is_refused,
    device_access_violation_at_deny_level_panics_after_refusing,
);

#[test]
fn every_dma_fault_is_efault_to_c_callers() {
    for fault in [
        DmaFault::Unmapped,
        DmaFault::AfterUnmap,
        DmaFault::Overrun,
        DmaFault::Direction,
        DmaFault::Released,
    ] {
        assert_eq!(fault.errno(), -EFAULT, "{fault:?}");
        assert!(!fault.to_string().is_empty());
    }
}

#[test]
fn ownership_rules_are_warnings_by_default_and_belong_to_their_family() {
    for rule in [
        &DEVICE_ACCESS_UNMAPPED,
        &DEVICE_ACCESS_AFTER_UNMAP,
        &DEVICE_ACCESS_OVERRUN,
        &DEVICE_ACCESS_DIRECTION,
        &DEVICE_ACCESS_CPU_OWNED,
        &CPU_WRITE_DEVICE_OWNED,
        &CPU_ACCESS_DEVICE_OWNED,
        &BOUNCE_OVERRUN,
        &COHERENT_OVERRUN,
    ] {
        assert_eq!(rule.family, "ownership", "{}", rule.id);
        assert_eq!(rule.default_level, Level::Warn, "{}", rule.id);
        let checker = quiet().build();
        assert_eq!(checker.config().level(rule), Level::Warn, "{}", rule.id);
    }
}

// ---------------------------------------------------------------------------------------------
// Checking switched off

/// With checking off (`DMACHECK=off`), the DMA API goes straight to the backend; the device
/// model is the hardware and must keep moving bytes through the mappings, reporting nothing.
fn device_dma_still_works_with_checking_switched_off(via: Via) {
    let (checker, dev) = setup_with(quiet().enabled(false), via);
    assert!(!checker.config().enabled);
    let buf = kzalloc(&checker, 256, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 256, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    let packet = pattern(256, 28);

    let r = dev.dma_write(dma, &packet);

    assert_eq!(r, Ok(()));
    dma_sync_single_for_cpu(&dev, dma, 256, Direction::FromDevice);
    assert_eq!(load(buf, 256), packet);
    dma_unmap_single(&dev, dma, 256, Direction::FromDevice);
    kfree(&checker, buf);
    assert_eq!(checker.error_count(), 0, "{:?}", rule_ids(&checker));
}

// With checking off, the device model moves bytes through the backend unchecked.
on_each_backend!(device_dma_still_works_with_checking_switched_off);

// ---------------------------------------------------------------------------------------------
// Partial syncs: a sync of a range hands over that range only

/// As NIC drivers with half-page RX buffers do (ixgbe, igb, i40e): one page mapped once, each
/// half given to its own descriptor, each half synced on its own with
/// `dma_sync_single_range_for_*`. While the CPU holds one half, the device may fill the other.
fn device_filling_one_half_while_the_cpu_holds_the_other_is_silent(via: Via) {
    let (checker, dev) = setup(via);
    let half = PAGE_SIZE / 2;
    let (page, dma) = map_page_start(&dev, PAGE_SIZE, Direction::FromDevice, &[0; PAGE_SIZE]);
    let (a, b) = (pattern(half, 29), pattern(half, 30));

    assert_eq!(dev.dma_write(dma, &a), Ok(()));
    dma_sync_single_range_for_cpu(&dev, dma, 0, half, Direction::FromDevice);
    let mut got = vec![0u8; half];
    assert_eq!(checker.cpu_read(page.address(), &mut got), Some(()));
    assert_eq!(got, a);
    // The second half is still the device's.
    assert_eq!(dev.dma_write(dma + half as u64, &b), Ok(()));
    dma_sync_single_range_for_device(&dev, dma, 0, half, Direction::FromDevice);
    dma_sync_single_range_for_cpu(&dev, dma, half, half, Direction::FromDevice);
    let second = page.address().wrapping_add(half);
    assert_eq!(checker.cpu_read(second, &mut got), Some(()));
    assert_eq!(got, b);
    dma_sync_single_range_for_device(&dev, dma, half, half, Direction::FromDevice);

    dma_unmap_page(&dev, dma, PAGE_SIZE, Direction::FromDevice);
    free_pages(&checker, page, 0);
    checker.assert_clean();
}

/// The CPU holds both halves, recycles the first (a sync for the device of that range only),
/// and goes on reading the second, which it still holds.
fn cpu_reading_the_half_it_still_holds_after_recycling_the_other_is_silent(via: Via) {
    let (checker, dev) = setup(via);
    let half = PAGE_SIZE / 2;
    let (page, dma) = map_page_start(&dev, PAGE_SIZE, Direction::FromDevice, &[0; PAGE_SIZE]);
    let (a, b) = (pattern(half, 31), pattern(half, 32));
    assert_eq!(dev.dma_write(dma, &a), Ok(()));
    assert_eq!(dev.dma_write(dma + half as u64, &b), Ok(()));
    dma_sync_single_range_for_cpu(&dev, dma, 0, half, Direction::FromDevice);
    dma_sync_single_range_for_cpu(&dev, dma, half, half, Direction::FromDevice);

    dma_sync_single_range_for_device(&dev, dma, 0, half, Direction::FromDevice);
    let mut got = vec![0u8; half];
    let second = page.address().wrapping_add(half);
    assert_eq!(checker.cpu_read(second, &mut got), Some(()));

    assert_eq!(got, b);
    dma_sync_single_range_for_device(&dev, dma, half, half, Direction::FromDevice);
    dma_unmap_page(&dev, dma, PAGE_SIZE, Direction::FromDevice);
    free_pages(&checker, page, 0);
    checker.assert_clean();
}

// Ownership is kept per range: the device fills the half it still owns, the CPU reads the half
// it still holds.
on_each_backend!(
    device_filling_one_half_while_the_cpu_holds_the_other_is_silent,
    cpu_reading_the_half_it_still_holds_after_recycling_the_other_is_silent,
);

// ---------------------------------------------------------------------------------------------
// A sync of no bytes moves no ownership (it once split the CPU's range in two, so a CPU read
// across the split was reported as touching device-owned memory).

#[test]
fn an_empty_range_sync_for_the_device_leaves_the_cpu_owning_everything() {
    let (checker, dev) = setup(Via::Direct);
    let (page, dma) = map_page_start(&dev, 4096, Direction::FromDevice, &[0; 16]);
    dma_sync_single_for_cpu(&dev, dma, 4096, Direction::FromDevice);
    dma_sync_single_range_for_device(&dev, dma, 128, 0, Direction::FromDevice);
    let mut seen = [0u8; 128];
    checker
        .cpu_read(page.address().wrapping_add(64), &mut seen)
        .expect("the CPU may read what it owns");
    assert_silent(&checker);
    dma_unmap_page(&dev, dma, 4096, Direction::FromDevice);
    free_pages(&checker, page, 0);
    assert_tidy(&checker);
}

// ---------------------------------------------------------------------------------------------
// Bounce slots start as a copy of the buffer in every direction (as swiotlb has done since
// Linux 5.18): the bytes a FROM_DEVICE transfer does not write come back unchanged at the
// unmap, not as whatever the slot held before.

#[test]
fn bytes_the_device_does_not_write_come_back_unchanged_through_a_bounce_slot() {
    let (checker, dev) = setup(Via::Bounce);
    let first = kzalloc(&checker, 256, Gfp::KERNEL);
    let first_dma = dma_map_single(&dev, first, 256, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, first_dma), 0);
    assert_eq!(dev.dma_write(first_dma, &pattern(256, 41)), Ok(()));
    dma_unmap_single(&dev, first_dma, 256, Direction::FromDevice);

    // The next buffer gets the same slot; the device writes only its first 16 bytes.
    let second = kmalloc(&checker, 256, Gfp::KERNEL);
    store(second, &pattern(256, 42));
    let second_dma = dma_map_single(&dev, second, 256, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, second_dma), 0);
    assert_eq!(second_dma, first_dma, "the lowest free slot again");
    assert_eq!(dev.dma_write(second_dma, &[0xee; 16]), Ok(()));
    dma_unmap_single(&dev, second_dma, 256, Direction::FromDevice);

    let mut expected = pattern(256, 42);
    expected[..16].fill(0xee);
    assert_eq!(load(second, 256), expected);
    kfree(&checker, second);
    kfree(&checker, first);
    checker.assert_clean();
}
