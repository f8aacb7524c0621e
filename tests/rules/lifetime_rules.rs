//! The rules of `src/rules/lifetime.rs`: every mapping ends before its device goes away, no
//! DMA call names a released device, and only live allocations are freed.

use crate::common;

use common::{
    assert_mapped_at, assert_site, checker, device, listed_leaks, live, rule_ids, single_violation,
    violations_of,
};
use dmacheck::rules::{DEVICE_RELEASED, INVALID_FREE, LEAK};
use dmacheck::*;

const FILE: &str = "lifetime_rules.rs";

// ---------------------------------------------------------------------------------------------
// leak

#[test]
fn mapping_live_at_device_release_is_a_leak() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 1536, Gfp::KERNEL);
    let map_line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 1536, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);

    let release_line = line!() + 1;
    dev.release();

    let v = single_violation(&checker, &LEAK);
    assert_eq!(v.call, "device_release");
    assert_eq!(v.device, "eth0");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("size"), Some(1536));
    assert_eq!(v.detail("dir"), Some(&Value::Dir(Direction::FromDevice)));
    assert_eq!(v.mapped_by, Some("dma_map_single"));
    assert_mapped_at(&v, FILE, map_line);
    assert_site(&v.site, FILE, release_line);
    assert!(dev.is_released());
    assert_eq!(live(&checker), 0, "the release forgets the leaked entries");
    kfree(&checker, buf);
}

#[test]
fn coherent_allocation_live_at_device_release_is_a_leak() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle = 0;
    let line = line!() + 1;
    let cpu = dma_alloc_coherent(&dev, 2 * PAGE_SIZE, &mut handle, Gfp::KERNEL);
    assert!(!cpu.is_null());

    dev.release();

    let v = single_violation(&checker, &LEAK);
    assert_eq!(v.detail_u64("dma_addr"), Some(handle));
    assert_eq!(v.detail_u64("size"), Some(2 * PAGE_SIZE as u64));
    assert!(v.message.contains("coherent"), "{}", v.message);
    assert_eq!(v.mapped_by, Some("dma_alloc_coherent"));
    assert_mapped_at(&v, FILE, line);
    assert_eq!(live(&checker), 0);
}

#[test]
fn every_leaked_entry_is_reported_once_in_address_order() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let page = alloc_pages(&checker, Gfp::KERNEL, 1).expect("two pages");
    let high = dma_map_page(&dev, page, PAGE_SIZE, 64, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, high), 0);
    let low = dma_map_page(&dev, page, 0, 64, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, low), 0);

    dev.release();
    dev.release();

    let leaks: Vec<u64> = violations_of(&checker, &LEAK)
        .iter()
        .filter_map(|v| v.detail_u64("dma_addr"))
        .collect();
    assert_eq!(leaks, [low, high], "a second release reports nothing more");
    assert_eq!(rule_ids(&checker), ["leak", "leak"]);
    assert_eq!(live(&checker), 0);
    free_pages(&checker, page, 1);
}

#[test]
fn leaks_made_at_one_site_are_one_violation_counting_them_all() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 6 * 256 + 64, Gfp::KERNEL);
    // Six receive buffers mapped by one loop (one site), then one more at another site.
    let mut ring = Vec::new();
    let ring_line = line!() + 3;
    for i in 0..6 {
        let cpu = buf.wrapping_add(i * 256);
        let dma = dma_map_single(&dev, cpu, 200 + i, Direction::FromDevice);
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        ring.push((dma, 200 + i as u64, Direction::FromDevice));
    }
    let cpu = buf.wrapping_add(6 * 256);
    let other_line = line!() + 1;
    let other = dma_map_single(&dev, cpu, 64, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, other), 0);

    dev.release();

    let leaks = violations_of(&checker, &LEAK);
    assert_eq!(leaks.len(), 2, "one violation per site: {leaks:#?}");
    let (group, single) = (&leaks[0], &leaks[1]);
    assert_eq!(group.count, 6);
    assert_eq!(
        group.message,
        "6 single mappings still live (the first 4 by address listed)"
    );
    assert_eq!(group.detail_u64("entries"), Some(6));
    assert_eq!(
        group.detail_u64("bytes"),
        Some(200 + 201 + 202 + 203 + 204 + 205)
    );
    ring.sort_unstable_by_key(|&(dma, _, _)| dma);
    assert_eq!(listed_leaks(group), ring[..4], "the first four by address");
    assert_mapped_at(group, FILE, ring_line);
    assert_eq!(group.mapped_by, Some("dma_map_single"));
    assert_eq!(single.count, 1);
    assert_eq!(single.message, "single mapping still live");
    assert_eq!(listed_leaks(single), [(other, 64, Direction::ToDevice)]);
    assert_mapped_at(single, FILE, other_line);

    // Every leaked entry counted: the rule's count, the error count, the leak summary.
    assert_eq!(checker.count(&LEAK), 7);
    assert_eq!(checker.stats().errors, 7);
    let summary = checker.leak_report();
    assert_eq!((summary.entries, summary.sites.len()), (7, 2));
    let report = checker.report();
    assert_eq!(report.counters.violations, 7);
    assert_eq!(
        report.counters.violations_kept, 7,
        "the two violations stand for 7"
    );
    assert_eq!(report.violations[0].count, 6);
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn a_leak_group_lists_its_lowest_addresses_and_groups_come_by_lowest_address() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    // 40 buffers, a page each, mapped alternately at two sites: the table drains them in its
    // own order (by page hash), not by address.
    let pages = alloc_pages(&checker, Gfp::KERNEL, 6).expect("64 pages");
    let mut made: [Vec<DmaAddr>; 2] = [Vec::new(), Vec::new()];
    let at_even = |offset| dma_map_page(&dev, pages, offset, 128, Direction::ToDevice);
    let at_odd = |offset| dma_map_page(&dev, pages, offset, 128, Direction::ToDevice);
    for i in 0..40 {
        let dma = if i % 2 == 0 {
            at_even(i * PAGE_SIZE)
        } else {
            at_odd(i * PAGE_SIZE)
        };
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        made[i % 2].push(dma);
    }

    dev.release();

    let leaks = violations_of(&checker, &LEAK);
    assert_eq!(leaks.len(), 2);
    made.iter_mut().for_each(|m| m.sort_unstable());
    let lowest = |m: &[DmaAddr]| {
        m[..4]
            .iter()
            .map(|&a| (a, 128, Direction::ToDevice))
            .collect::<Vec<_>>()
    };
    let first = usize::from(made[1][0] < made[0][0]);
    assert_eq!(listed_leaks(&leaks[0]), lowest(&made[first]));
    assert_eq!(listed_leaks(&leaks[1]), lowest(&made[1 - first]));
    assert!(leaks.iter().all(|v| v.count == 20));
    assert_eq!(checker.count(&LEAK), 40);
    free_pages(&checker, pages, 6);
}

#[test]
fn check_leaks_groups_each_devices_entries_by_site() {
    let checker = checker();
    let nic = device(&checker, "eth0");
    let disk = device(&checker, "sda");
    let buf = kmalloc(&checker, 4096, Gfp::KERNEL);
    let mut made = Vec::new();
    for dev in [&nic, &disk] {
        for i in 0..3 {
            let dma = dma_map_single(dev, buf.wrapping_add(i * 512), 512, Direction::ToDevice);
            assert_eq!(dma_mapping_error(dev, dma), 0);
            made.push(dma);
        }
    }

    assert_eq!(checker.check_leaks(), 6);

    let leaks = violations_of(&checker, &LEAK);
    let per_device: Vec<(&str, u64)> = leaks.iter().map(|v| (v.device.as_str(), v.count)).collect();
    assert_eq!(per_device, [("eth0", 3), ("sda", 3)]);
    assert_eq!(checker.count(&LEAK), 6);
    assert_eq!(live(&checker), 6, "a leak check leaves the entries live");
    for (dev, of_dev) in [(&nic, &made[..3]), (&disk, &made[3..])] {
        for &dma in of_dev {
            dma_unmap_single(dev, dma, 512, Direction::ToDevice);
        }
    }
    kfree(&checker, buf);
}

#[test]
fn dropping_the_last_device_clone_reports_leaks() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let clone = dev.clone();
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);
    let map_line = line!() + 1;
    let dma = dma_map_single(&clone, buf, 64, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&clone, dma), 0);

    drop(dev);
    assert!(
        checker.violations().is_empty(),
        "another clone still holds the device"
    );
    assert_eq!(live(&checker), 1);

    drop(clone);

    let v = single_violation(&checker, &LEAK);
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("size"), Some(64));
    assert_mapped_at(&v, FILE, map_line);
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn check_leaks_reports_live_entries_and_keeps_them() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);
    let map_line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 256, Direction::Bidirectional);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    let mut handle = 0;
    let cpu = dma_alloc_coherent(&dev, 128, &mut handle, Gfp::KERNEL);

    let check_line = line!() + 1;
    let found = checker.check_leaks();

    assert_eq!(found, 2);
    let leaks = violations_of(&checker, &LEAK);
    assert_eq!(leaks.len(), 2);
    assert!(leaks.iter().all(|v| v.call == "check_leaks"));
    let single = leaks
        .iter()
        .find(|v| v.detail_u64("dma_addr") == Some(dma))
        .expect("the streaming mapping is reported");
    assert_eq!(single.detail_u64("size"), Some(256));
    assert_eq!(
        single.detail("dir"),
        Some(&Value::Dir(Direction::Bidirectional))
    );
    assert_mapped_at(single, FILE, map_line);
    assert_site(&single.site, FILE, check_line);
    assert!(
        leaks
            .iter()
            .any(|v| v.detail_u64("dma_addr") == Some(handle))
    );
    assert_eq!(live(&checker), 2, "a leak check leaves the entries live");

    checker.take_violations();
    dma_unmap_single(&dev, dma, 256, Direction::Bidirectional);
    dma_free_coherent(&dev, 128, cpu, handle);
    kfree(&checker, buf);
    assert_eq!(checker.check_leaks(), 0);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
}

#[test]
fn release_of_one_device_leaves_other_devices_entries_alone() {
    let checker = checker();
    let nic = device(&checker, "eth0");
    let disk = device(&checker, "sda");
    let buf = kmalloc(&checker, 512, Gfp::KERNEL);
    let a = dma_map_single(&nic, buf, 512, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&nic, a), 0);
    let b = dma_map_single(&disk, buf, 512, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&disk, b), 0);

    nic.release();

    let v = single_violation(&checker, &LEAK);
    assert_eq!(v.device, "eth0");
    let left = checker.live_entries();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].device(), disk.id());

    checker.take_violations();
    dma_unmap_single(&disk, b, 512, Direction::ToDevice);
    disk.release();
    kfree(&checker, buf);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_no_leaks();
}

#[test]
fn device_released_after_everything_is_unmapped_is_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 2048, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 2048, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    let mut handle = 0;
    let cpu = dma_alloc_coherent(&dev, PAGE_SIZE, &mut handle, Gfp::KERNEL);

    dma_free_coherent(&dev, PAGE_SIZE, cpu, handle);
    dma_unmap_single(&dev, dma, 2048, Direction::FromDevice);
    dev.release();
    drop(dev);

    kfree(&checker, buf);
    assert_eq!(checker.check_leaks(), 0);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// device-released

#[test]
fn map_after_device_release_is_refused() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 128, Gfp::KERNEL);
    dev.release();

    let line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 128, Direction::ToDevice);

    assert_eq!(dma, DMA_MAPPING_ERROR);
    assert_ne!(dma_mapping_error(&dev, dma), 0);
    let v = single_violation(&checker, &DEVICE_RELEASED);
    assert_eq!(v.call, "dma_map_single");
    assert_eq!(v.device, "eth0");
    assert_site(&v.site, FILE, line);
    assert_eq!(live(&checker), 0, "a refused map makes no entry");
    kfree(&checker, buf);
}

#[test]
fn map_page_after_device_release_is_refused() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
    dev.release();

    let dma = dma_map_page(&dev, page, 0, PAGE_SIZE, Direction::FromDevice);

    assert_eq!(dma, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &DEVICE_RELEASED);
    assert_eq!(v.call, "dma_map_page");
    assert_eq!(live(&checker), 0);
    free_pages(&checker, page, 0);
}

#[test]
fn unmap_and_sync_after_device_release_are_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 256, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dev.release();
    assert_eq!(rule_ids(&checker), ["leak"]);
    checker.take_violations();

    dma_sync_single_for_cpu(&dev, dma, 256, Direction::FromDevice);
    dma_sync_single_range_for_device(&dev, dma, 0, 64, Direction::FromDevice);
    dma_unmap_single(&dev, dma, 256, Direction::FromDevice);

    assert_eq!(
        rule_ids(&checker),
        ["device-released", "device-released", "device-released"]
    );
    let calls: Vec<&str> = checker.violations().iter().map(|v| v.call).collect();
    assert_eq!(
        calls,
        [
            "dma_sync_single_for_cpu",
            "dma_sync_single_range_for_device",
            "dma_unmap_single"
        ]
    );
    assert_eq!(live(&checker), 0);
    kfree(&checker, buf);
}

#[test]
fn coherent_alloc_after_device_release_returns_null() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    dev.release();
    let mut handle = 0;

    let cpu = dma_alloc_coherent(&dev, PAGE_SIZE, &mut handle, Gfp::KERNEL);

    assert!(cpu.is_null());
    assert_eq!(handle, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &DEVICE_RELEASED);
    assert_eq!(v.call, "dma_alloc_coherent");
    assert_eq!(live(&checker), 0);
    assert_eq!(checker.memory().bytes_in_use(), 0, "nothing was allocated");
}

#[test]
fn free_coherent_after_device_release_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle = 0;
    let cpu = dma_alloc_coherent(&dev, PAGE_SIZE, &mut handle, Gfp::KERNEL);
    dev.release();
    checker.take_violations();

    dma_free_coherent(&dev, PAGE_SIZE, cpu, handle);

    let v = single_violation(&checker, &DEVICE_RELEASED);
    assert_eq!(v.call, "dma_free_coherent");
    assert_eq!(live(&checker), 0);
}

#[test]
fn a_new_device_after_release_works_silently() {
    let checker = checker();
    let old = device(&checker, "eth0");
    old.release();
    // The driver binds again: a new device of the same name.
    let dev = device(&checker, "eth0");
    assert_ne!(dev.id(), old.id());
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);

    let dma = dma_map_single(&dev, buf, 64, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_sync_single_for_device(&dev, dma, 64, Direction::ToDevice);
    dma_unmap_single(&dev, dma, 64, Direction::ToDevice);

    kfree(&checker, buf);
    assert!(!dev.is_released());
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// invalid-free

#[test]
fn kfree_of_a_stack_pointer_is_reported() {
    let checker = checker();
    let local = [0u8; 32];

    let line = line!() + 1;
    kfree(&checker, local.as_ptr());

    let v = single_violation(&checker, &INVALID_FREE);
    assert_eq!(v.call, "kfree");
    assert_eq!(v.detail_u64("cpu_addr"), Some(local.as_ptr().addr() as u64));
    assert_eq!(
        v.device,
        &*checker.device_name(DeviceId::NONE),
        "kfree names no device"
    );
    assert_site(&v.site, FILE, line);
}

#[test]
fn double_kfree_is_reported_once() {
    let checker = checker();
    let buf = kmalloc(&checker, 100, Gfp::KERNEL);
    kfree(&checker, buf);
    assert!(checker.violations().is_empty());

    kfree(&checker, buf);

    let v = single_violation(&checker, &INVALID_FREE);
    assert_eq!(v.detail_u64("cpu_addr"), Some(buf.addr() as u64));
}

#[test]
fn double_kfree_of_a_large_allocation_is_reported() {
    let checker = checker();
    let buf = kmalloc(&checker, 3 * PAGE_SIZE, Gfp::KERNEL);
    kfree(&checker, buf);

    kfree(&checker, buf);

    let v = single_violation(&checker, &INVALID_FREE);
    assert_eq!(v.detail_u64("cpu_addr"), Some(buf.addr() as u64));
    assert_eq!(checker.memory().bytes_in_use(), 0);
}

#[test]
fn kfree_of_a_pointer_inside_an_allocation_is_reported_and_frees_nothing() {
    let checker = checker();
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);

    kfree(&checker, buf.wrapping_add(8));

    let v = single_violation(&checker, &INVALID_FREE);
    assert_eq!(v.detail_u64("cpu_addr"), Some(buf.addr() as u64 + 8));
    checker.take_violations();
    kfree(&checker, buf);
    assert!(
        checker.violations().is_empty(),
        "the allocation was still live: {:?}",
        rule_ids(&checker)
    );
}

#[test]
fn kfree_of_coherent_memory_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle = 0;
    let cpu = dma_alloc_coherent(&dev, PAGE_SIZE, &mut handle, Gfp::KERNEL);

    kfree(&checker, cpu);

    let v = single_violation(&checker, &INVALID_FREE);
    assert_eq!(v.detail_u64("cpu_addr"), Some(cpu.addr() as u64));
    assert_eq!(live(&checker), 1, "the coherent allocation is untouched");
    checker.take_violations();
    dma_free_coherent(&dev, PAGE_SIZE, cpu, handle);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    assert_eq!(checker.memory().bytes_in_use(), 0);
}

#[test]
fn free_pages_with_the_wrong_order_is_reported_and_frees_nothing() {
    let checker = checker();
    let page = alloc_pages(&checker, Gfp::KERNEL, 2).expect("four pages");

    let line = line!() + 1;
    free_pages(&checker, page, 1);

    let v = single_violation(&checker, &INVALID_FREE);
    assert_eq!(v.call, "__free_pages");
    assert_eq!(v.detail_u64("cpu_addr"), Some(page.address().addr() as u64));
    assert!(v.message.contains("order 2"), "{}", v.message);
    assert_site(&v.site, FILE, line);
    assert_eq!(checker.memory().bytes_in_use(), 4 * PAGE_SIZE);

    checker.take_violations();
    free_pages(&checker, page, 2);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    assert_eq!(checker.memory().bytes_in_use(), 0);
}

#[test]
fn double_free_pages_is_reported() {
    let checker = checker();
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
    free_pages(&checker, page, 0);

    free_pages(&checker, page, 0);

    let v = single_violation(&checker, &INVALID_FREE);
    assert_eq!(v.call, "__free_pages");
    assert_eq!(v.detail_u64("cpu_addr"), Some(page.address().addr() as u64));
}

#[test]
fn free_pages_of_a_stack_page_is_reported() {
    let checker = checker();
    let local = [0u8; 16];
    let page = virt_to_page(local.as_ptr()).expect("non-null");

    free_pages(&checker, page, 0);

    let v = single_violation(&checker, &INVALID_FREE);
    assert_eq!(v.call, "__free_pages");
    assert_eq!(v.detail_u64("cpu_addr"), Some(page.address().addr() as u64));
}

#[test]
fn free_pages_of_kmalloc_memory_is_reported() {
    let checker = checker();
    let buf = kmalloc(&checker, 2 * PAGE_SIZE, Gfp::KERNEL);
    let page = virt_to_page(buf).expect("non-null");

    free_pages(&checker, page, 1);

    let v = single_violation(&checker, &INVALID_FREE);
    assert_eq!(v.detail_u64("cpu_addr"), Some(buf.addr() as u64));
    checker.take_violations();
    kfree(&checker, buf);
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
}

#[test]
fn kfree_of_null_is_silent() {
    let checker = checker();
    kfree(&checker, std::ptr::null());
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

#[test]
fn freeing_live_allocations_with_their_own_calls_is_silent() {
    let checker = checker();
    let small = kmalloc(&checker, 48, Gfp::KERNEL);
    let large = kzalloc(&checker, 5 * PAGE_SIZE, Gfp::KERNEL);
    let low = kmalloc(&checker, 512, Gfp::KERNEL | Gfp::DMA);
    let pages = alloc_pages(&checker, Gfp::KERNEL, 3).expect("eight pages");
    assert!(!small.is_null() && !large.is_null() && !low.is_null());

    kfree(&checker, small);
    kfree(&checker, large);
    kfree(&checker, low);
    free_pages(&checker, pages, 3);

    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// invalid-device

#[test]
fn calls_on_a_device_standing_for_no_device_are_invalid_device() {
    let checker = checker();
    let nobody = device(&checker, "(no device)");
    nobody.mark_invalid();
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);
    assert_eq!(
        dma_map_single(&nobody, buf, 64, Direction::ToDevice),
        DMA_MAPPING_ERROR
    );
    dma_unmap_single(&nobody, 0x1000, 64, Direction::ToDevice);
    assert_eq!(nobody.dma_read_u32(0x1000), Err(DmaFault::Released));
    assert_eq!(rule_ids(&checker), ["invalid-device"; 3]);
    kfree(&checker, buf);
}

#[test]
fn a_device_that_was_never_marked_invalid_is_not_reported_as_one() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    assert!(!dev.is_invalid());
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 64, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_unmap_single(&dev, dma, 64, Direction::ToDevice);
    dev.release();
    dma_unmap_single(&dev, dma, 64, Direction::ToDevice);
    assert_eq!(rule_ids(&checker), ["device-released"]);
    kfree(&checker, buf);
}
