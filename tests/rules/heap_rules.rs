//! The rules of `src/rules/heap.rs`: memory stays allocated while a streaming mapping of it
//! lives (`free-while-mapped`), and the device's accesses to a mapping whose memory was freed
//! are reported (`device-access-freed`).

use crate::common;

use common::{
    assert_mapped_at, assert_site, checker, device, rule_ids, single_violation, violations_of,
};
use dmacheck::rules::{DEVICE_ACCESS_FREED, FREE_WHILE_MAPPED};
use dmacheck::*;

const FILE: &str = "heap_rules.rs";

#[test]
fn kfree_of_a_mapped_buffer_names_the_mapping_and_the_device_access_after_it() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);
    let map_line = line!() + 1;
    let dma = dma_map_single(&dev, buf, 256, Direction::Bidirectional);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    let free_line = line!() + 1;
    kfree(&checker, buf);

    let v = single_violation(&checker, &FREE_WHILE_MAPPED);
    assert_eq!((v.call, v.device.as_str()), ("kfree", "eth0"));
    assert_eq!(v.detail_u64("cpu_addr"), Some(buf.addr() as u64));
    assert_eq!(v.detail_u64("mapped_dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("mapped_size"), Some(256));
    assert_eq!(v.mapped_by, Some("dma_map_single"));
    assert_mapped_at(&v, FILE, map_line);
    assert_site(&v.site, FILE, free_line);
    checker.take_violations();

    // The device still has the mapping: its write lands in freed memory.
    dev.dma_write(dma + 16, b"packet")
        .expect("the mapping is live");
    let v = single_violation(&checker, &DEVICE_ACCESS_FREED);
    assert_eq!(v.detail_u64("dma_addr"), Some(dma + 16));
    assert!(v.message.contains("kfree"), "{}", v.message);
    assert_mapped_at(&v, FILE, map_line);
    let freed_at = v.related.as_ref().expect("names the free");
    assert_eq!(freed_at.label, "freed at");
    assert_site(&freed_at.site, FILE, free_line);
    checker.take_violations();
    let mut back = [0; 4];
    dev.dma_read(dma, &mut back).expect("the mapping is live");
    assert_eq!(rule_ids(&checker), ["device-access-freed"]);
    checker.take_violations();

    // The unmap is still due, and ends the matter.
    dma_unmap_single(&dev, dma, 256, Direction::Bidirectional);
    checker.assert_clean();
}

#[test]
fn freeing_pages_under_a_live_page_mapping_is_reported() {
    let checker = checker();
    let dev = device(&checker, "sda");
    let pages = alloc_pages(&checker, Gfp::KERNEL, 1).expect("two pages");
    // A mapping in the second page only: the whole order-1 block is freed.
    let map_line = line!() + 1;
    let dma = dma_map_page_attrs(
        &dev,
        pages,
        PAGE_SIZE + 512,
        512,
        Direction::ToDevice,
        DmaAttrs::empty(),
    );
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    free_pages(&checker, pages, 1);
    let v = single_violation(&checker, &FREE_WHILE_MAPPED);
    assert_eq!(v.call, "__free_pages");
    assert_eq!(v.detail_u64("size"), Some(2 * PAGE_SIZE as u64));
    assert_mapped_at(&v, FILE, map_line);
    checker.take_violations();
    dma_unmap_page(&dev, dma, 512, Direction::ToDevice);
    checker.assert_clean();
}

#[test]
fn freeing_after_the_unmap_and_freeing_a_neighbour_are_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    // Two objects side by side: one mapped, the other freed.
    let bufs: Vec<*mut u8> = (0..8).map(|_| kmalloc(&checker, 64, Gfp::KERNEL)).collect();
    let (mapped, neighbour) = bufs
        .iter()
        .flat_map(|&a| bufs.iter().map(move |&b| (a, b)))
        .find(|&(a, b)| b.addr() == a.addr() + 64)
        .expect("two adjacent objects");
    let dma = dma_map_single(&dev, mapped, 64, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    kfree(&checker, neighbour);
    dev.dma_write(dma, &[7; 64]).expect("the mapping is live");
    dma_unmap_single(&dev, dma, 64, Direction::FromDevice);
    for &buf in bufs.iter().filter(|&&b| b != neighbour) {
        kfree(&checker, buf);
    }
    assert_eq!(checker.count(&FREE_WHILE_MAPPED), 0);
    assert_eq!(checker.count(&DEVICE_ACCESS_FREED), 0);
    checker.assert_clean();
}

#[test]
fn a_page_freed_and_mapped_again_after_its_unmap_is_not_remembered_as_freed() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut first = None;
    for round in 0..2 {
        let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
        let dma = dma_map_page(&dev, page, 0, PAGE_SIZE, Direction::FromDevice);
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        first.get_or_insert((page, dma));
        if round == 0 {
            free_pages(&checker, page, 0);
            assert_eq!(rule_ids(&checker), ["free-while-mapped"]);
            checker.take_violations();
            dma_unmap_page(&dev, dma, PAGE_SIZE, Direction::FromDevice);
        } else {
            // Same page, same address, same call site: a new mapping of live memory.
            assert_eq!(first, Some((page, dma)));
            dev.dma_write(dma, &[1; 128]).expect("the mapping is live");
            dma_unmap_page(&dev, dma, PAGE_SIZE, Direction::FromDevice);
            free_pages(&checker, page, 0);
        }
    }
    checker.assert_clean();
}

#[test]
fn memory_freed_twice_under_one_mapping_is_forgotten_at_its_unmap() {
    // The mapping's memory is freed, allocated again and freed again while the mapping lives:
    // two reports of one mapping. Its unmap must forget both, or the next mapping made there
    // by the same call would be taken for freed memory (and every unmap would scan the stale
    // records, a list that grows for the life of the checker).
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut first = None;
    for round in 0..2 {
        let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
        let dma = dma_map_page(&dev, page, 0, PAGE_SIZE, Direction::FromDevice);
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        first.get_or_insert((page, dma));
        if round == 0 {
            free_pages(&checker, page, 0);
            let again = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
            assert_eq!(again, page, "the allocator gives the freed page back");
            free_pages(&checker, again, 0);
            assert_eq!(
                rule_ids(&checker),
                ["free-while-mapped", "free-while-mapped"]
            );
            checker.take_violations();
            dma_unmap_page(&dev, dma, PAGE_SIZE, Direction::FromDevice);
        } else {
            // Same page, same address, same call site: a new mapping of live memory.
            assert_eq!(first, Some((page, dma)));
            dev.dma_write(dma, &[1; 128]).expect("the mapping is live");
            dma_unmap_page(&dev, dma, PAGE_SIZE, Direction::FromDevice);
            free_pages(&checker, page, 0);
        }
    }
    checker.assert_clean();
}

#[test]
fn device_release_forgets_the_freed_mappings_it_reports_as_leaks() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 64, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    kfree(&checker, buf);
    dev.release();
    assert_eq!(rule_ids(&checker), ["free-while-mapped", "leak"]);
    checker.take_violations();
    let other = device(&checker, "eth1");
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);
    let dma = dma_map_single(&other, buf, 64, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&other, dma), 0);
    other.dma_write(dma, &[2; 64]).expect("the mapping is live");
    dma_unmap_single(&other, dma, 64, Direction::FromDevice);
    kfree(&checker, buf);
    checker.assert_clean();
}

#[test]
fn a_device_release_ends_its_mappings_of_shared_memory_and_no_other_devices() {
    let checker = checker();
    let (nic, disk) = (device(&checker, "eth0"), device(&checker, "sda"));
    // Both devices map the same buffer, and the same 32 pages (a large mapping); the NIC also
    // maps many small buffers on the same pages.
    let buf = kmalloc(&checker, 2048, Gfp::KERNEL);
    let big = alloc_pages(&checker, Gfp::KERNEL, 5).expect("32 pages");
    let big_len = 32 * PAGE_SIZE;
    let mut disk_dmas = Vec::new();
    for dev in [&nic, &disk] {
        let dma = dma_map_single(dev, buf, 2048, Direction::ToDevice);
        assert_eq!(dma_mapping_error(dev, dma), 0);
        let whole = dma_map_page(dev, big, 0, big_len, Direction::ToDevice);
        assert_eq!(dma_mapping_error(dev, whole), 0);
        if dev.id() == disk.id() {
            disk_dmas = vec![dma, whole];
        }
    }
    for i in 0..64 {
        let dma = dma_map_page(&nic, big, i * 64, 64, Direction::ToDevice);
        assert_eq!(dma_mapping_error(&nic, dma), 0);
    }

    nic.release();
    checker.take_violations();

    // The disk's mappings are still known to a free: each free names the disk's mapping only.
    kfree(&checker, buf);
    free_pages(&checker, big, 5);
    let frees = violations_of(&checker, &FREE_WHILE_MAPPED);
    let named: Vec<(&str, Option<u64>)> = frees
        .iter()
        .map(|v| (v.device.as_str(), v.detail_u64("mapped_dma_addr")))
        .collect();
    assert_eq!(
        named,
        [("sda", Some(disk_dmas[0])), ("sda", Some(disk_dmas[1]))]
    );
    checker.take_violations();
    disk.release();
    checker.take_violations();

    // Released, the disk's mappings are gone too: memory allocated again and freed is silent.
    let buf = kmalloc(&checker, 2048, Gfp::KERNEL);
    kfree(&checker, buf);
    checker.assert_clean();
}

/// Mappings of many pages (kept apart in the index of mapped memory) and of a few (kept under
/// each page) are found once each, whichever of their bytes a free covers.
#[test]
fn frees_find_large_and_multi_page_mappings_once() {
    let checker = checker();
    let dev = device(&checker, "sda");
    let big = alloc_pages(&checker, Gfp::KERNEL, 5).expect("32 pages");
    let whole = dma_map_page(&dev, big, 0, 32 * PAGE_SIZE, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, whole), 0);
    let buf = kmalloc(&checker, 3 * PAGE_SIZE, Gfp::KERNEL);
    let part = dma_map_single(
        &dev,
        buf.wrapping_add(100),
        2 * PAGE_SIZE,
        Direction::FromDevice,
    );
    assert_eq!(dma_mapping_error(&dev, part), 0);
    free_pages(&checker, big, 5);
    kfree(&checker, buf);
    let found: Vec<u64> = violations_of(&checker, &FREE_WHILE_MAPPED)
        .iter()
        .map(|v| v.detail_u64("mapped_dma_addr").unwrap())
        .collect();
    assert_eq!(found, [whole, part]);
    checker.take_violations();
    dma_unmap_page(&dev, whole, 32 * PAGE_SIZE, Direction::ToDevice);
    dma_unmap_single(&dev, part, 2 * PAGE_SIZE, Direction::FromDevice);
    // Unmapped: the same memory, allocated and freed again, is nobody's.
    let big = alloc_pages(&checker, Gfp::KERNEL, 5).expect("32 pages");
    free_pages(&checker, big, 5);
    let buf = kmalloc(&checker, 3 * PAGE_SIZE, Gfp::KERNEL);
    kfree(&checker, buf);
    checker.assert_clean();
}
