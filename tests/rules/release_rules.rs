//! The rules of `src/rules/release.rs`: an unmap or free must end a live mapping of its own
//! device, with the parameters it was made with, by the call of its own family.

use crate::common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::{
    ListsSharingBytes, assert_mapped_at, assert_site, checker, device, live, map_checked, quiet,
    rule_ids, single_violation, violations_of,
};
use dmacheck::rules::{
    DOUBLE_UNMAP, FREE_COHERENT_IRQS_DISABLED, FREE_CPU_ADDRESS_MISMATCH, UNMAP_DIRECTION_MISMATCH,
    UNMAP_FUNCTION_MISMATCH, UNMAP_MAPPING_ERROR, UNMAP_SIZE_MISMATCH, UNMAP_UNCHECKED,
    UNMAP_UNKNOWN, WRONG_DEVICE,
};
use dmacheck::*;

const FILE: &str = "release_rules.rs";

// ---------------------------------------------------------------------------------------------
// unmap-unknown

#[test]
fn unmap_of_an_address_never_mapped_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");

    dma_unmap_single(&dev, 0x0123_4000, 64, Direction::ToDevice);

    let v = single_violation(&checker, &UNMAP_UNKNOWN);
    assert_eq!(v.call, "dma_unmap_single");
    assert_eq!(v.detail_u64("dma_addr"), Some(0x0123_4000));
    assert_eq!(v.detail_u64("size"), Some(64));
    assert!(v.mapped_at.is_none());
    assert!(v.related.is_none());
}

#[test]
fn unmap_of_an_address_inside_a_mapping_is_unknown_and_keeps_the_mapping() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 256, Direction::ToDevice);

    dma_unmap_single(&dev, dma + 16, 240, Direction::ToDevice);

    let v = single_violation(&checker, &UNMAP_UNKNOWN);
    assert_eq!(v.detail_u64("dma_addr"), Some(dma + 16));
    assert_eq!(live(&checker), 1, "nothing is released");
    assert_eq!(checker.live_entries()[0].dma_addr(), dma);

    checker.take_violations();
    dma_unmap_single(&dev, dma, 256, Direction::ToDevice);
    assert!(checker.violations().is_empty());
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn free_coherent_of_an_unknown_handle_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle = 0;
    let cpu = dma_alloc_coherent(&dev, PAGE_SIZE, &mut handle, Gfp::KERNEL);
    assert!(!cpu.is_null());

    dma_free_coherent(&dev, PAGE_SIZE, cpu, handle + PAGE_SIZE as u64);

    let v = single_violation(&checker, &UNMAP_UNKNOWN);
    assert_eq!(v.call, "dma_free_coherent");
    assert_eq!(v.detail_u64("dma_addr"), Some(handle + PAGE_SIZE as u64));
    assert_eq!(live(&checker), 1);
    checker.take_violations();
    dma_free_coherent(&dev, PAGE_SIZE, cpu, handle);
    assert!(checker.violations().is_empty());
    assert_eq!(live(&checker), 0);
}

#[test]
fn unmap_of_a_live_mapping_with_its_own_parameters_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 1500, Direction::ToDevice);
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
    let pdma = dma_map_page(&dev, page, 256, 1024, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, pdma), 0);

    dma_unmap_page(&dev, pdma, 1024, Direction::FromDevice);
    dma_unmap_single(&dev, dma, 1500, Direction::ToDevice);

    free_pages(&checker, page, 0);
    kfree(&checker, buf);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// unmap-mapping-error

#[test]
fn unmap_of_the_value_a_failed_map_returned_is_reported() {
    let checker = checker();
    let dev = checker.device("isa0").dma_mask(dma_bit_mask(24)).build();
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 64, Direction::ToDevice);
    assert_eq!(
        dma, DMA_MAPPING_ERROR,
        "ordinary memory is above a 24-bit mask"
    );
    checker.take_violations();

    dma_unmap_single(&dev, dma, 64, Direction::ToDevice);

    let v = single_violation(&checker, &UNMAP_MAPPING_ERROR);
    assert_eq!(v.call, "dma_unmap_single");
    assert_eq!(v.detail_u64("dma_addr"), Some(DMA_MAPPING_ERROR));
    assert_eq!(v.detail_u64("size"), Some(64));
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn free_coherent_of_the_mapping_error_handle_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle = 0;
    let cpu = dma_alloc_coherent(&dev, 128, &mut handle, Gfp::KERNEL);

    dma_free_coherent(&dev, 128, cpu, DMA_MAPPING_ERROR);

    let v = single_violation(&checker, &UNMAP_MAPPING_ERROR);
    assert_eq!(v.call, "dma_free_coherent");
    assert_eq!(live(&checker), 1, "the real allocation is untouched");
    checker.take_violations();
    dma_free_coherent(&dev, 128, cpu, handle);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_no_leaks();
}

#[test]
fn failed_map_tested_and_not_unmapped_is_silent() {
    let checker = checker();
    let dev = checker.device("isa0").dma_mask(dma_bit_mask(24)).build();
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 64, Direction::ToDevice);
    assert_eq!(rule_ids(&checker), ["map-above-mask"]);
    checker.take_violations();

    if dma_mapping_error(&dev, dma) == 0 {
        dma_unmap_single(&dev, dma, 64, Direction::ToDevice);
    }

    kfree(&checker, buf);
    assert_eq!(dma, DMA_MAPPING_ERROR);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    assert_eq!(checker.count(&UNMAP_MAPPING_ERROR), 0);
    assert_eq!(live(&checker), 0);
}

// ---------------------------------------------------------------------------------------------
// wrong-device

#[test]
fn unmap_on_another_device_is_reported_and_keeps_the_mapping() {
    let checker = checker();
    let nic = device(&checker, "eth0");
    let disk = device(&checker, "sda");
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let line = line!() + 1;
    let dma = dma_map_single(&nic, buf, 512, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&nic, dma), 0);

    dma_unmap_single(&disk, dma, 512, Direction::ToDevice);

    let v = single_violation(&checker, &WRONG_DEVICE);
    assert_eq!(v.call, "dma_unmap_single");
    assert_eq!(v.device, "sda");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(
        v.detail("mapped_device"),
        Some(&Value::Text("eth0".to_string()))
    );
    assert_mapped_at(&v, FILE, line);
    assert_eq!(live(&checker), 1, "the other device's mapping is kept");
    assert_eq!(checker.live_entries()[0].device(), nic.id());

    checker.take_violations();
    dma_unmap_single(&nic, dma, 512, Direction::ToDevice);
    assert!(checker.violations().is_empty());
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn free_coherent_on_another_device_is_reported_and_keeps_the_allocation() {
    let checker = checker();
    let nic = device(&checker, "eth0");
    let disk = device(&checker, "sda");
    let mut handle = 0;
    let cpu = dma_alloc_coherent(&nic, 256, &mut handle, Gfp::KERNEL);

    dma_free_coherent(&disk, 256, cpu, handle);

    let v = single_violation(&checker, &WRONG_DEVICE);
    assert_eq!(v.call, "dma_free_coherent");
    assert_eq!(
        v.detail("mapped_device"),
        Some(&Value::Text("eth0".to_string()))
    );
    assert_eq!(live(&checker), 1);
    checker.take_violations();
    dma_free_coherent(&nic, 256, cpu, handle);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_no_leaks();
}

#[test]
fn same_buffer_mapped_for_two_devices_is_unmapped_by_each_silently() {
    let checker = checker();
    let nic = device(&checker, "eth0");
    let disk = device(&checker, "sda");
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);
    let a = dma_map_single(&nic, buf, 256, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&nic, a), 0);
    let b = dma_map_single(&disk, buf, 256, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&disk, b), 0);
    assert_eq!(live(&checker), 2);

    dma_unmap_single(&disk, b, 256, Direction::ToDevice);
    dma_unmap_single(&nic, a, 256, Direction::ToDevice);

    kfree(&checker, buf);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// unmap-size-mismatch

#[test]
fn unmap_with_other_size_is_reported_and_releases_the_mapping() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 2048, Gfp::KERNEL);
    let line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 2048, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    let unmap_line = line!() + 1;
    dma_unmap_single(&dev, dma, 1024, Direction::ToDevice);

    let v = single_violation(&checker, &UNMAP_SIZE_MISMATCH);
    assert_eq!(v.call, "dma_unmap_single");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("size"), Some(1024));
    assert_eq!(v.detail_u64("mapped_size"), Some(2048));
    assert_eq!(v.mapped_by, Some("dma_map_single"));
    assert_mapped_at(&v, FILE, line);
    assert_site(&v.site, FILE, unmap_line);
    assert_eq!(live(&checker), 0, "the mapping is released as mapped");
    kfree(&checker, buf);
}

#[test]
fn free_coherent_with_other_size_is_reported_and_frees_the_allocation() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle = 0;
    let line = line!() + 1;
    let cpu = dma_alloc_coherent(&dev, 3 * PAGE_SIZE, &mut handle, Gfp::KERNEL);
    assert!(!cpu.is_null());

    dma_free_coherent(&dev, PAGE_SIZE, cpu, handle);

    let v = single_violation(&checker, &UNMAP_SIZE_MISMATCH);
    assert_eq!(v.call, "dma_free_coherent");
    assert_eq!(v.detail_u64("size"), Some(PAGE_SIZE as u64));
    assert_eq!(v.detail_u64("mapped_size"), Some(3 * PAGE_SIZE as u64));
    assert_eq!(v.mapped_by, Some("dma_alloc_coherent"));
    assert_mapped_at(&v, FILE, line);
    assert_eq!(live(&checker), 0);
    assert_eq!(
        checker.memory().bytes_in_use(),
        0,
        "all three pages are freed"
    );
}

#[test]
fn unmap_of_usize_max_bytes_is_a_size_mismatch_without_panic() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 64, Direction::FromDevice);

    dma_unmap_single(&dev, dma, usize::MAX, Direction::FromDevice);

    let v = single_violation(&checker, &UNMAP_SIZE_MISMATCH);
    assert_eq!(v.detail_u64("size"), Some(usize::MAX as u64));
    assert_eq!(v.detail_u64("mapped_size"), Some(64));
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn unmap_with_zero_size_is_a_size_mismatch() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 64, Direction::FromDevice);

    dma_unmap_single(&dev, dma, 0, Direction::FromDevice);

    let v = single_violation(&checker, &UNMAP_SIZE_MISMATCH);
    assert_eq!(v.detail_u64("size"), Some(0));
    assert_eq!(v.detail_u64("mapped_size"), Some(64));
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn unmap_picks_the_mapping_whose_size_matches_among_duplicates() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 1024, Gfp::KERNEL);
    let small = dma_map_single(&dev, buf, 512, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, small), 0);
    let large = dma_map_single(&dev, buf, 1024, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, large), 0);
    assert_eq!(small, large, "the same buffer has the same bus address");

    dma_unmap_single(&dev, large, 1024, Direction::ToDevice);
    dma_unmap_single(&dev, small, 512, Direction::ToDevice);

    kfree(&checker, buf);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// unmap-direction-mismatch

#[test]
fn unmap_with_other_direction_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 1536, Gfp::KERNEL);
    let line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 1536, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    dma_unmap_single(&dev, dma, 1536, Direction::ToDevice);

    let v = single_violation(&checker, &UNMAP_DIRECTION_MISMATCH);
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::ToDevice)));
    assert_eq!(
        v.detail("mapped_dir"),
        Some(&Value::Dir(Direction::FromDevice))
    );
    assert_mapped_at(&v, FILE, line);
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn unmap_page_with_bidirectional_for_a_to_device_mapping_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
    let dma = dma_map_page(&dev, page, 0, PAGE_SIZE, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    dma_unmap_page(&dev, dma, PAGE_SIZE, Direction::Bidirectional);

    let v = single_violation(&checker, &UNMAP_DIRECTION_MISMATCH);
    assert_eq!(v.call, "dma_unmap_page");
    assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::Bidirectional)));
    assert_eq!(
        v.detail("mapped_dir"),
        Some(&Value::Dir(Direction::ToDevice))
    );
    assert_eq!(live(&checker), 0);
    free_pages(&checker, page, 0);
}

#[test]
fn unmap_with_the_mapped_direction_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    for dir in [
        Direction::ToDevice,
        Direction::FromDevice,
        Direction::Bidirectional,
    ] {
        let (buf, dma) = map_checked(&dev, 64, dir);
        dma_unmap_single(&dev, dma, 64, dir);
        kfree(&checker, buf);
    }
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// unmap-function-mismatch

#[test]
fn single_mapping_unmapped_with_unmap_page_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);
    let line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 256, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    dma_unmap_page(&dev, dma, 256, Direction::ToDevice);

    let v = single_violation(&checker, &UNMAP_FUNCTION_MISMATCH);
    assert_eq!(v.call, "dma_unmap_page");
    assert_eq!(v.detail("mapped_kind"), Some(&Value::Kind(MapKind::Single)));
    assert_eq!(v.detail("kind"), Some(&Value::Kind(MapKind::Page)));
    assert!(v.message.contains("dma_unmap_single"), "{}", v.message);
    assert_mapped_at(&v, FILE, line);
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn coherent_memory_released_with_unmap_single_is_reported_and_freed() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle = 0;
    let cpu = dma_alloc_coherent(&dev, PAGE_SIZE, &mut handle, Gfp::KERNEL);
    assert!(!cpu.is_null());

    dma_unmap_single(&dev, handle, PAGE_SIZE, Direction::Bidirectional);

    let v = single_violation(&checker, &UNMAP_FUNCTION_MISMATCH);
    assert_eq!(
        v.detail("mapped_kind"),
        Some(&Value::Kind(MapKind::Coherent))
    );
    assert_eq!(v.detail("kind"), Some(&Value::Kind(MapKind::Single)));
    assert!(v.message.contains("dma_free_coherent"), "{}", v.message);
    assert_eq!(live(&checker), 0);
    assert_eq!(
        checker.memory().bytes_in_use(),
        0,
        "the coherent memory is freed as its family requires"
    );
}

/// Coherent memory has no direction of its own: released by the streaming call with any
/// direction, or a one-way mapping freed as coherent memory, only the function is wrong.
#[test]
fn a_release_by_the_other_family_reports_the_function_not_the_direction() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle = 0;
    let cpu = dma_alloc_coherent(&dev, PAGE_SIZE, &mut handle, Gfp::KERNEL);
    assert!(!cpu.is_null());
    dma_unmap_single(&dev, handle, PAGE_SIZE, Direction::ToDevice);
    assert_eq!(rule_ids(&checker), [UNMAP_FUNCTION_MISMATCH.id]);
    checker.take_violations();

    let (buf, dma) = map_checked(&dev, 128, Direction::ToDevice);
    dma_free_coherent(&dev, 128, buf, dma);
    assert_eq!(rule_ids(&checker), [UNMAP_FUNCTION_MISMATCH.id]);
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn streaming_mapping_freed_with_free_coherent_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 128, Direction::Bidirectional);

    dma_free_coherent(&dev, 128, buf, dma);

    let v = single_violation(&checker, &UNMAP_FUNCTION_MISMATCH);
    assert_eq!(v.call, "dma_free_coherent");
    assert_eq!(v.detail("mapped_kind"), Some(&Value::Kind(MapKind::Single)));
    assert_eq!(v.detail("kind"), Some(&Value::Kind(MapKind::Coherent)));
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn page_mapping_unmapped_with_unmap_page_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let page = alloc_pages(&checker, Gfp::KERNEL, 1).expect("two pages");
    let dma = dma_map_page_attrs(
        &dev,
        page,
        0,
        2 * PAGE_SIZE,
        Direction::FromDevice,
        DmaAttrs::SKIP_CPU_SYNC,
    );
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_unmap_page_attrs(
        &dev,
        dma,
        2 * PAGE_SIZE,
        Direction::FromDevice,
        DmaAttrs::SKIP_CPU_SYNC,
    );
    free_pages(&checker, page, 1);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// free-cpu-address-mismatch

#[test]
fn free_coherent_with_other_cpu_address_is_reported_and_frees_as_allocated() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle = 0;
    let line = line!() + 1;
    let cpu = dma_alloc_coherent(&dev, PAGE_SIZE, &mut handle, Gfp::KERNEL);
    assert!(!cpu.is_null());
    let wrong = cpu.wrapping_add(64);

    dma_free_coherent(&dev, PAGE_SIZE, wrong, handle);

    let v = single_violation(&checker, &FREE_CPU_ADDRESS_MISMATCH);
    assert_eq!(v.detail_u64("dma_addr"), Some(handle));
    assert_eq!(v.detail_u64("cpu_addr"), Some(wrong.addr() as u64));
    assert_eq!(v.detail_u64("mapped_cpu_addr"), Some(cpu.addr() as u64));
    assert_mapped_at(&v, FILE, line);
    assert_eq!(live(&checker), 0);
    assert_eq!(checker.memory().bytes_in_use(), 0);
}

#[test]
fn free_coherent_with_the_returned_cpu_address_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle = 0;
    let cpu = dma_alloc_coherent(&dev, 5000, &mut handle, Gfp::KERNEL);
    assert!(!cpu.is_null());
    assert_ne!(handle, DMA_MAPPING_ERROR);

    dma_free_coherent(&dev, 5000, cpu, handle);

    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

#[test]
fn free_coherent_of_null_does_nothing() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle = 0;
    let cpu = dma_alloc_coherent(&dev, 64, &mut handle, Gfp::KERNEL);

    dma_free_coherent(&dev, 64, std::ptr::null(), handle);

    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    assert_eq!(live(&checker), 1, "a NULL free is a no-op");
    dma_free_coherent(&dev, 64, cpu, handle);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// double-unmap

#[test]
fn second_unmap_names_the_first_unmap() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let map_line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 512, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    let first_line = line!() + 1;
    dma_unmap_single(&dev, dma, 512, Direction::ToDevice);
    assert!(checker.violations().is_empty());

    let second_line = line!() + 1;
    dma_unmap_single(&dev, dma, 512, Direction::ToDevice);

    let v = single_violation(&checker, &DOUBLE_UNMAP);
    assert_eq!(v.call, "dma_unmap_single");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("size"), Some(512));
    assert!(v.message.contains("dma_unmap_single"), "{}", v.message);
    assert_site(&v.site, FILE, second_line);
    assert_mapped_at(&v, FILE, map_line);
    let related = v.related.as_ref().expect("the first release is named");
    assert_eq!(related.label, "first released at");
    assert_site(&related.site, FILE, first_line);
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn second_free_coherent_is_a_double_unmap() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle = 0;
    let cpu = dma_alloc_coherent(&dev, 256, &mut handle, Gfp::KERNEL);
    let first_line = line!() + 1;
    dma_free_coherent(&dev, 256, cpu, handle);

    dma_free_coherent(&dev, 256, cpu, handle);

    let v = single_violation(&checker, &DOUBLE_UNMAP);
    assert_eq!(v.call, "dma_free_coherent");
    assert_eq!(v.mapped_by, Some("dma_alloc_coherent"));
    assert!(v.message.contains("dma_free_coherent"), "{}", v.message);
    let related = v.related.as_ref().expect("the first release is named");
    assert_eq!(related.label, "first released at");
    assert_site(&related.site, FILE, first_line);
    assert_eq!(live(&checker), 0);
}

#[test]
fn second_unmap_is_a_double_unmap_even_if_another_device_maps_the_buffer() {
    let checker = checker();
    let nic = device(&checker, "eth0");
    let disk = device(&checker, "sda");
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let a = dma_map_single(&nic, buf, 512, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&nic, a), 0);
    let b = dma_map_single(&disk, buf, 512, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&disk, b), 0);
    let first_line = line!() + 1;
    dma_unmap_single(&nic, a, 512, Direction::ToDevice);

    dma_unmap_single(&nic, a, 512, Direction::ToDevice);

    let v = single_violation(&checker, &DOUBLE_UNMAP);
    let related = v.related.as_ref().expect("the first release is named");
    assert_site(&related.site, FILE, first_line);
    assert_eq!(live(&checker), 1, "the other device's mapping is kept");
    dma_unmap_single(&disk, b, 512, Direction::ToDevice);
    kfree(&checker, buf);
}

#[test]
fn buffer_mapped_twice_and_unmapped_twice_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);
    let a = dma_map_single(&dev, buf, 64, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, a), 0);
    let b = dma_map_single(&dev, buf, 64, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, b), 0);

    dma_unmap_single(&dev, a, 64, Direction::ToDevice);
    dma_unmap_single(&dev, b, 64, Direction::ToDevice);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));

    // A third unmap is one too many.
    dma_unmap_single(&dev, b, 64, Direction::ToDevice);
    assert_eq!(rule_ids(&checker), ["double-unmap"]);
    kfree(&checker, buf);
    assert_eq!(live(&checker), 0);
}

#[test]
fn map_unmap_map_unmap_of_the_same_buffer_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 2048, Gfp::KERNEL);
    for _ in 0..3 {
        let dma = dma_map_single(&dev, buf, 2048, Direction::FromDevice);
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        dma_unmap_single(&dev, dma, 2048, Direction::FromDevice);
    }
    kfree(&checker, buf);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// unmap-unchecked

#[test]
fn unmap_of_a_map_never_tested_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 2048, Gfp::KERNEL);
    let line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 2048, Direction::ToDevice);

    dma_unmap_single(&dev, dma, 2048, Direction::ToDevice);

    let v = single_violation(&checker, &UNMAP_UNCHECKED);
    assert_eq!(v.call, "dma_unmap_single");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("size"), Some(2048));
    assert!(v.message.contains("dma_map_single"), "{}", v.message);
    assert_mapped_at(&v, FILE, line);
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn unmap_page_of_a_map_page_never_tested_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
    let dma = dma_map_page(&dev, page, 0, PAGE_SIZE, Direction::FromDevice);

    dma_unmap_page(&dev, dma, PAGE_SIZE, Direction::FromDevice);

    let v = single_violation(&checker, &UNMAP_UNCHECKED);
    assert_eq!(v.mapped_by, Some("dma_map_page"));
    assert!(v.message.contains("dma_map_page"), "{}", v.message);
    free_pages(&checker, page, 0);
}

#[test]
fn unmap_after_dma_mapping_error_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 2048, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 2048, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    dma_unmap_single(&dev, dma, 2048, Direction::ToDevice);

    kfree(&checker, buf);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

#[test]
fn unmap_unchecked_does_not_apply_to_coherent_memory() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle = 0;
    // Coherent allocations report failure by NULL, so there is nothing to test with
    // dma_mapping_error.
    let cpu = dma_alloc_coherent(&dev, 4096, &mut handle, Gfp::KERNEL);
    assert!(!cpu.is_null());

    dma_free_coherent(&dev, 4096, cpu, handle);

    assert_eq!(checker.count(&UNMAP_UNCHECKED), 0);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

#[test]
fn dma_mapping_error_on_another_device_does_not_count_as_tested() {
    let checker = checker();
    let nic = device(&checker, "eth0");
    let disk = device(&checker, "sda");
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);
    let dma = dma_map_single(&nic, buf, 64, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&disk, dma), 0);

    dma_unmap_single(&nic, dma, 64, Direction::ToDevice);

    assert_eq!(rule_ids(&checker), ["unmap-unchecked"]);
    kfree(&checker, buf);
}

#[test]
fn each_duplicate_mapping_needs_its_own_dma_mapping_error() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);
    let first = dma_map_single(&dev, buf, 64, Direction::ToDevice);
    // The same buffer mapped again before the first result is tested; the second result is
    // never tested.
    let second = dma_map_single(&dev, buf, 64, Direction::ToDevice);
    assert_eq!(first, second, "the same buffer has the same bus address");
    assert_eq!(dma_mapping_error(&dev, first), 0);

    dma_unmap_single(&dev, first, 64, Direction::ToDevice);
    dma_unmap_single(&dev, second, 64, Direction::ToDevice);

    // The kernel marks only the first unchecked entry per dma_mapping_error call, so one of
    // the two mappings is reported.
    assert_eq!(rule_ids(&checker), ["unmap-unchecked"]);
    kfree(&checker, buf);
}

// ---------------------------------------------------------------------------------------------
// free-coherent-irqs-disabled

#[test]
fn free_coherent_under_local_irq_save_is_reported_and_still_frees() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle = 0;
    let cpu = dma_alloc_coherent(&dev, 2 * PAGE_SIZE, &mut handle, Gfp::ATOMIC);
    assert!(!cpu.is_null());

    let flags = local_irq_save();
    let line = line!() + 1;
    dma_free_coherent(&dev, 2 * PAGE_SIZE, cpu, handle);
    drop(flags);

    let v = single_violation(&checker, &FREE_COHERENT_IRQS_DISABLED);
    assert_eq!(v.call, "dma_free_coherent");
    assert_eq!(v.detail_u64("dma_addr"), Some(handle));
    assert_eq!(v.detail_u64("size"), Some(2 * PAGE_SIZE as u64));
    assert_site(&v.site, FILE, line);
    assert_eq!(live(&checker), 0);
    assert!(!irqs_disabled());
}

#[test]
fn free_coherent_after_the_irq_guard_is_dropped_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle = 0;
    let cpu = {
        let _flags = local_irq_save();
        assert!(irqs_disabled());
        // Allocating with IRQs off (GFP_ATOMIC) is allowed; only the free is not.
        dma_alloc_coherent(&dev, PAGE_SIZE, &mut handle, Gfp::ATOMIC)
    };
    assert!(!cpu.is_null());
    assert!(
        !irqs_disabled(),
        "dropping the guard restores the IRQ state"
    );

    dma_free_coherent(&dev, PAGE_SIZE, cpu, handle);

    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

#[test]
fn free_coherent_between_irq_disable_and_enable_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle = 0;
    let cpu = dma_alloc_coherent(&dev, PAGE_SIZE, &mut handle, Gfp::KERNEL);

    local_irq_disable();
    dma_free_coherent(&dev, PAGE_SIZE, cpu, handle);
    local_irq_enable();

    assert_eq!(rule_ids(&checker), ["free-coherent-irqs-disabled"]);
    assert_eq!(live(&checker), 0);
}

#[test]
fn free_coherent_of_null_with_irqs_disabled_is_still_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");

    let flags = local_irq_save();
    dma_free_coherent(&dev, PAGE_SIZE, std::ptr::null(), 0);
    flags.restore();

    let v = single_violation(&checker, &FREE_COHERENT_IRQS_DISABLED);
    assert_eq!(v.detail_u64("size"), Some(PAGE_SIZE as u64));
}

#[test]
fn streaming_unmap_with_irqs_disabled_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 256, Direction::FromDevice);

    let flags = local_irq_save();
    dma_sync_single_for_cpu(&dev, dma, 256, Direction::FromDevice);
    dma_unmap_single(&dev, dma, 256, Direction::FromDevice);
    drop(flags);

    kfree(&checker, buf);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// Levels

#[test]
fn deny_level_panics_at_the_call_after_recording_and_releasing() {
    let checker = quiet().level(&UNMAP_SIZE_MISMATCH, Level::Deny).build();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 2048, Direction::ToDevice);
    assert_eq!(live(&checker), 1);

    let result = catch_unwind(AssertUnwindSafe(|| {
        dma_unmap_single(&dev, dma, 1024, Direction::ToDevice);
    }));

    let payload = result.expect_err("a deny-level violation panics at the call");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("a text panic message");
    assert!(message.contains("unmap-size-mismatch"), "{message}");
    let v = single_violation(&checker, &UNMAP_SIZE_MISMATCH);
    assert_eq!(v.level, Level::Deny);
    assert_eq!(v.detail_u64("mapped_size"), Some(2048));
    assert_eq!(checker.count(&UNMAP_SIZE_MISMATCH), 1);
    assert_eq!(live(&checker), 0, "the entry was released before the panic");
    kfree(&checker, buf);
}

#[test]
fn deny_level_without_panicking_at_deny_records_at_deny_and_goes_on() {
    let checker = quiet()
        .level(&UNMAP_SIZE_MISMATCH, Level::Deny)
        .panic_at_deny(false)
        .build();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 2048, Direction::ToDevice);

    let result = catch_unwind(AssertUnwindSafe(|| {
        dma_unmap_single(&dev, dma, 1024, Direction::ToDevice);
    }));

    assert!(result.is_ok(), "no panic at a deny-level finding");
    let v = single_violation(&checker, &UNMAP_SIZE_MISMATCH);
    assert_eq!(v.level, Level::Deny, "the level stays as configured");
    assert_eq!(checker.config().level(&UNMAP_SIZE_MISMATCH), Level::Deny);
    assert_eq!(checker.report().counters.deny, 1);
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn deny_level_of_one_rule_does_not_panic_for_others() {
    let checker = quiet().level(&UNMAP_SIZE_MISMATCH, Level::Deny).build();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 64, Direction::ToDevice);

    // A direction mismatch stays at warn level: reported, no panic.
    dma_unmap_single(&dev, dma, 64, Direction::FromDevice);

    let v = single_violation(&checker, &UNMAP_DIRECTION_MISMATCH);
    assert_eq!(v.level, Level::Warn);
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn allow_level_records_nothing_for_the_rule() {
    let checker = quiet().level(&UNMAP_SIZE_MISMATCH, Level::Allow).build();
    let dev = device(&checker, "eth0");
    let (buf, dma) = map_checked(&dev, 2048, Direction::ToDevice);

    dma_unmap_single(&dev, dma, 1024, Direction::ToDevice);

    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    assert_eq!(checker.count(&UNMAP_SIZE_MISMATCH), 0);
    assert_eq!(checker.error_count(), 0);
    assert_eq!(live(&checker), 0, "the mapping is still released");
    kfree(&checker, buf);
}

#[test]
fn allow_level_leaves_other_rules_reported() {
    let checker = quiet().level(&UNMAP_SIZE_MISMATCH, Level::Allow).build();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 2048, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 2048, Direction::ToDevice);

    // Wrong size (allowed) and never tested (still warned).
    dma_unmap_single(&dev, dma, 1024, Direction::ToDevice);

    assert_eq!(rule_ids(&checker), ["unmap-unchecked"]);
    assert_eq!(violations_of(&checker, &UNMAP_SIZE_MISMATCH).len(), 0);
    kfree(&checker, buf);
}

// ---------------------------------------------------------------------------------------------
// Bad input to releases

#[test]
fn bad_releases_never_panic_nor_lose_other_entries() {
    let checker = checker();
    let nic = device(&checker, "eth0");
    let disk = device(&checker, "sda");
    let (buf, dma) = map_checked(&nic, 256, Direction::ToDevice);
    let mut handle = 0;
    let cpu = dma_alloc_coherent(&nic, 256, &mut handle, Gfp::KERNEL);
    let before: Vec<DmaAddr> = checker
        .live_entries()
        .iter()
        .map(|e| e.dma_addr())
        .collect();
    assert_eq!(before.len(), 2);

    dma_unmap_single(&nic, 0, 256, Direction::ToDevice);
    dma_unmap_single(&nic, u64::MAX - 4096, 256, Direction::ToDevice);
    dma_unmap_single(&nic, DMA_MAPPING_ERROR, 256, Direction::None);
    dma_unmap_page(&disk, dma, 256, Direction::ToDevice);
    dma_free_coherent(&disk, 256, cpu, handle);
    dma_free_coherent(&nic, usize::MAX, cpu, 0xdead_0000);

    assert_eq!(
        rule_ids(&checker),
        [
            "unmap-unknown",
            "unmap-unknown",
            "direction-none",
            "unmap-mapping-error",
            "wrong-device",
            "wrong-device",
            "unmap-unknown",
        ]
    );
    let after: Vec<DmaAddr> = checker
        .live_entries()
        .iter()
        .map(|e| e.dma_addr())
        .collect();
    assert_eq!(after, before);
    assert_eq!(checker.stats().live_entries, 2);

    checker.take_violations();
    dma_unmap_single(&nic, dma, 256, Direction::ToDevice);
    dma_free_coherent(&nic, 256, cpu, handle);
    kfree(&checker, buf);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_no_leaks();
}

// ---------------------------------------------------------------------------------------------
// Which of several entries at one address a release ends: the one of its kind, then of its
// entry count (sg), then of its size, then of its direction, each criterion outweighing all
// those after it together. (The direct backend maps a buffer where it lies, so every mapping
// of one buffer starts at the same address.)

/// A mapping of the start of one buffer, made by [`entries_left_after`].
#[derive(Clone, Copy, Debug)]
enum Part {
    Single(usize, Direction),
    Page(usize, Direction),
}

/// Map each part of one page, in the order given, release with `release`, and return the
/// `(kind, size, direction)` of the entries still live.
fn entries_left_after(
    parts: &[Part],
    release: impl Fn(&Device, DmaAddr),
) -> Vec<(MapKind, u64, Direction)> {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
    let buf = page_address(page);
    let mut at = None;
    for &part in parts {
        let dma = match part {
            Part::Single(len, dir) => dma_map_single(&dev, buf, len, dir),
            Part::Page(len, dir) => dma_map_page(&dev, page, 0, len, dir),
        };
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        assert_eq!(*at.get_or_insert(dma), dma);
    }
    release(&dev, at.expect("a part"));
    let left = checker
        .live_entries()
        .iter()
        .map(|e| (e.kind(), e.size(), e.dir()))
        .collect();
    dev.release();
    free_pages(&checker, page, 0);
    left
}

/// The release ends `expected` and leaves `other`, whichever was mapped first.
#[track_caller]
fn assert_release_ends(expected: Part, other: Part, release: impl Fn(&Device, DmaAddr)) {
    let kind_size = |p: Part| match p {
        Part::Single(len, dir) => (MapKind::Single, len as u64, dir),
        Part::Page(len, dir) => (MapKind::Page, len as u64, dir),
    };
    for parts in [[expected, other], [other, expected]] {
        assert_eq!(
            entries_left_after(&parts, &release),
            [kind_size(other)],
            "mapped in the order {parts:?}"
        );
    }
}

#[test]
fn a_release_ends_the_entry_of_its_kind_over_size_and_direction() {
    use Direction::{FromDevice, ToDevice};
    assert_release_ends(
        Part::Single(64, ToDevice),
        Part::Page(128, FromDevice),
        |dev, dma| dma_unmap_single(dev, dma, 128, FromDevice),
    );
}

#[test]
fn a_release_ends_the_entry_of_its_size_over_direction() {
    use Direction::{FromDevice, ToDevice};
    assert_release_ends(
        Part::Single(128, ToDevice),
        Part::Single(64, FromDevice),
        |dev, dma| dma_unmap_single(dev, dma, 128, FromDevice),
    );
}

#[test]
fn a_release_ends_the_entry_of_its_direction_when_all_else_is_equal() {
    use Direction::{FromDevice, ToDevice};
    assert_release_ends(
        Part::Single(128, FromDevice),
        Part::Single(128, ToDevice),
        |dev, dma| dma_unmap_single(dev, dma, 128, FromDevice),
    );
}

/// The same first bytes in sg lists of 1 and 2 entries: unmapping the two-entry list ends its
/// own segment, not the other list's, although that one has the unmap's direction.
#[test]
fn an_sg_unmap_ends_the_segment_of_its_entry_count_over_direction() {
    for two_entry_list_first in [true, false] {
        let checker = checker();
        let dev = device(&checker, "sda");
        let ListsSharingBytes {
            mut one,
            mut two,
            buf,
            other,
        } = ListsSharingBytes::map(
            &dev,
            Direction::FromDevice,
            Direction::ToDevice,
            !two_entry_list_first,
        );

        dma_unmap_sg(&dev, &mut two, 2, Direction::FromDevice);

        let left: Vec<(u64, u32)> = checker
            .live_entries()
            .iter()
            .map(|e| (e.size(), e.sg_nents()))
            .collect();
        assert_eq!(
            left,
            [(128, 1)],
            "two-entry list first: {two_entry_list_first}"
        );
        checker.take_violations();
        dma_unmap_sg(&dev, &mut one, 1, Direction::FromDevice);
        assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
        assert_eq!(live(&checker), 0);
        kfree(&checker, other);
        kfree(&checker, buf);
    }
}
