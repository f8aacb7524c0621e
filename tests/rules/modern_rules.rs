//! The rules of `src/rules/managed.rs`: managed (devres) memory is released with its device
//! without a leak report, and is freed only by the managed calls.

use crate::common;

use common::{checker, device, rule_ids, single_violation};
use dmacheck::rules::{
    FREE_WHILE_MAPPED, INVALID_FREE, LEAK, MANAGED_FREE_MISMATCH, MAP_RESOURCE_RAM,
    POOL_DESTROY_BUSY,
};
use dmacheck::*;

#[test]
fn managed_memory_is_released_with_its_device_without_a_leak_report() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut dma = 0;
    let ring = dmam_alloc_coherent(&dev, 4096, &mut dma, Gfp::KERNEL);
    assert!(!ring.is_null());
    let wc = dmam_alloc_attrs(&dev, 512, &mut dma, Gfp::KERNEL, DmaAttrs::WRITE_COMBINE);
    assert!(!wc.is_null());
    let pool = dmam_pool_create("desc", &dev, 64, 64, 0).unwrap();
    let block = dma_pool_alloc(&pool, Gfp::KERNEL, &mut dma);
    dma_pool_free(&pool, block, dma);
    assert_eq!(
        checker.live_entries().len(),
        3,
        "two buffers and the pool's page"
    );
    dev.release();
    assert!(checker.live_entries().is_empty());
    checker.assert_clean();
}

#[test]
fn managed_memory_is_released_when_the_last_handle_drops() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut dma = 0;
    assert!(!dmam_alloc_coherent(&dev, 4096, &mut dma, Gfp::KERNEL).is_null());
    drop(dev);
    assert!(checker.live_entries().is_empty());
    checker.assert_clean();
}

#[test]
fn an_early_managed_free_is_silent_and_not_freed_again_at_release() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut dma = 0;
    let wc = dmam_alloc_attrs(&dev, 512, &mut dma, Gfp::KERNEL, DmaAttrs::WRITE_COMBINE);
    // dmam_free_coherent takes no attrs: it frees with the allocation's, as devres does.
    dmam_free_coherent(&dev, 512, wc, dma);
    assert!(checker.live_entries().is_empty());
    dev.release();
    checker.assert_clean();
}

#[test]
fn managed_memory_freed_with_dma_free_coherent_is_reported_once() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut dma = 0;
    let ring = dmam_alloc_coherent(&dev, 4096, &mut dma, Gfp::KERNEL);
    dma_free_coherent(&dev, 4096, ring, dma);
    let v = single_violation(&checker, &MANAGED_FREE_MISMATCH);
    assert!(v.message.contains("dmam_alloc_coherent"), "{}", v.message);
    assert_eq!(v.call, "dma_free_coherent");
    // Freed, and no longer devres's: the release frees nothing twice and leaks nothing.
    dev.release();
    assert_eq!(rule_ids(&checker), [MANAGED_FREE_MISMATCH.id]);
}

#[test]
fn dmam_free_coherent_of_unmanaged_memory_is_reported_and_freed() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut dma = 0;
    let ring = dma_alloc_coherent(&dev, 4096, &mut dma, Gfp::KERNEL);
    dmam_free_coherent(&dev, 4096, ring, dma);
    let v = single_violation(&checker, &MANAGED_FREE_MISMATCH);
    assert_eq!(v.call, "dmam_free_coherent");
    assert!(checker.live_entries().is_empty());
}

#[test]
fn devm_kmalloc_memory_is_freed_at_release_and_when_the_last_handle_drops() {
    let checker = checker();
    let (dev, dropped) = (device(&checker, "eth0"), device(&checker, "eth1"));
    let stats = devm_kmalloc(&dev, 256, Gfp::KERNEL | Gfp::ZERO);
    let other = devm_kmalloc(&dropped, 64, Gfp::KERNEL);
    assert!(!stats.is_null() && !other.is_null());
    // SAFETY: 256 bytes devm_kmalloc gave, zeroed.
    assert!(
        unsafe { std::slice::from_raw_parts(stats, 256) }
            .iter()
            .all(|&b| b == 0)
    );
    dev.release();
    drop(dropped);
    checker.assert_clean();
    // Freed by devres: a kfree of either now is a double free.
    kfree(&checker, stats);
    kfree(&checker, other);
    assert_eq!(rule_ids(&checker), [INVALID_FREE.id, INVALID_FREE.id]);
}

#[test]
fn an_early_devm_kfree_is_silent_and_not_freed_again_at_release() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = devm_kmalloc(&dev, 100, Gfp::KERNEL);
    devm_kfree(&dev, buf);
    devm_kfree(&dev, std::ptr::null());
    dev.release();
    checker.assert_clean();
    kfree(&checker, buf);
    assert_eq!(rule_ids(&checker), [INVALID_FREE.id], "devm_kfree freed it");
}

#[test]
fn devm_kfree_of_memory_devm_kmalloc_did_not_give_the_device_is_reported_and_not_freed() {
    let checker = checker();
    let (dev, other) = (device(&checker, "eth0"), device(&checker, "eth1"));
    let plain = kmalloc(&checker, 100, Gfp::KERNEL);
    devm_kfree(&dev, plain);
    let v = single_violation(&checker, &MANAGED_FREE_MISMATCH);
    assert_eq!(v.call, "devm_kfree");
    assert!(
        v.message.contains("devm_kmalloc did not allocate"),
        "{}",
        v.message
    );
    kfree(&checker, plain); // still allocated: no double free
    let theirs = devm_kmalloc(&other, 100, Gfp::KERNEL);
    devm_kfree(&dev, theirs);
    assert_eq!(
        rule_ids(&checker),
        [MANAGED_FREE_MISMATCH.id, MANAGED_FREE_MISMATCH.id]
    );
    other.release(); // eth1's devres still frees it: no report
    assert_eq!(checker.violations().len(), 2);
}

#[test]
fn devm_kmalloc_memory_still_mapped_at_release_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let buf = devm_kmalloc(&dev, 1536, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 1536, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dev.release();
    let mut ids = rule_ids(&checker);
    ids.sort();
    assert_eq!(
        ids,
        [FREE_WHILE_MAPPED.id, LEAK.id],
        "{:?}",
        checker.violations()
    );
}

#[test]
fn unmanaged_memory_still_leaks_and_a_managed_pool_reports_its_busy_blocks() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut dma = 0;
    let _ring = dma_alloc_coherent(&dev, 4096, &mut dma, Gfp::KERNEL);
    let pool = dmam_pool_create("desc", &dev, 64, 64, 0).unwrap();
    let _busy = dma_pool_alloc(&pool, Gfp::KERNEL, &mut dma);
    dev.release();
    let mut ids = rule_ids(&checker);
    ids.sort();
    assert!(
        ids.contains(&POOL_DESTROY_BUSY.id) && ids.contains(&LEAK.id),
        "{ids:?}"
    );
    assert!(!ids.contains(&MANAGED_FREE_MISMATCH.id));
}

// ---------------------------------------------------------------------------------------------
// map-resource-ram

/// A BAR of a peer device: MMIO far above the checker's memory.
const BAR: u64 = 0xfe00_0000;

#[test]
fn mmio_of_a_peer_maps_and_unmaps_silently_direct_and_behind_an_iommu() {
    let checker = checker();
    let direct = device(&checker, "dma0");
    let iommu = checker.device("dma1").iommu().build();
    for dev in [&direct, &iommu] {
        let dma = dma_map_resource(dev, BAR, 4096, Direction::Bidirectional, DmaAttrs::empty());
        assert_eq!(dma_mapping_error(dev, dma), 0, "{:?}", checker.violations());
        assert_eq!(checker.live_entries().len(), 1);
        dma_unmap_resource(dev, dma, 4096, Direction::Bidirectional, DmaAttrs::empty());
        assert!(checker.live_entries().is_empty());
    }
    let dma = dma_map_resource(&direct, BAR, 4096, Direction::ToDevice, DmaAttrs::empty());
    assert_eq!(dma, BAR, "direct: the bus address is the physical address");
    assert_eq!(dma_mapping_error(&direct, dma), 0);
    // The 6.18 form: dma_map_phys with DMA_ATTR_MMIO is the same mapping.
    let dma = dma_map_phys(&iommu, BAR, 64, Direction::ToDevice, DmaAttrs::MMIO);
    assert_ne!(dma, BAR, "an IOVA behind the IOMMU");
    assert_eq!(dma_mapping_error(&iommu, dma), 0);
    dma_unmap_phys(&iommu, dma, 64, Direction::ToDevice, DmaAttrs::MMIO);
    dma_unmap_resource(&direct, BAR, 4096, Direction::ToDevice, DmaAttrs::empty());
    checker.assert_clean();
}

#[test]
fn dma_map_resource_of_ram_is_reported_and_refused() {
    let checker = checker();
    let dev = device(&checker, "dma0");
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);
    let phys = checker.memory().phys_of(buf, 256).unwrap();
    let dma = dma_map_resource(&dev, phys, 256, Direction::ToDevice, DmaAttrs::empty());
    assert_eq!(dma, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &MAP_RESOURCE_RAM);
    assert_eq!(v.call, "dma_map_resource");
    assert!(checker.live_entries().is_empty());
    kfree(&checker, buf);
}

#[test]
fn a_resource_mapping_unmapped_as_a_page_is_reported() {
    use dmacheck::rules::UNMAP_ATTRS_MISMATCH;
    let checker = checker();
    let dev = device(&checker, "dma0");
    let dma = dma_map_resource(&dev, BAR, 4096, Direction::ToDevice, DmaAttrs::empty());
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dma_unmap_page(&dev, dma, 4096, Direction::ToDevice);
    single_violation(&checker, &UNMAP_ATTRS_MISMATCH);
}

// ---------------------------------------------------------------------------------------------
// get-sgtable-unknown

#[test]
fn a_coherent_buffer_exported_as_a_table_describes_its_pages() {
    let checker = checker();
    let dev = device(&checker, "gpu0");
    let mut dma = 0;
    let buf = dma_alloc_coherent(&dev, 3 * PAGE_SIZE - 10, &mut dma, Gfp::KERNEL);
    let table = dma_get_sgtable(&dev, buf, dma, 3 * PAGE_SIZE - 10).unwrap();
    assert_eq!(sg_nents(&table), 1);
    assert_eq!(table.entries()[0].length(), 3 * PAGE_SIZE);
    assert_eq!(table.entries()[0].virt(), buf);
    sg_free_table(table);
    dma_free_coherent(&dev, 3 * PAGE_SIZE - 10, buf, dma);
    checker.assert_clean();
}

#[test]
fn dma_get_sgtable_of_memory_that_is_not_a_live_buffer_of_the_device_is_reported() {
    use dmacheck::rules::GET_SGTABLE_UNKNOWN;
    let checker = checker();
    let dev = device(&checker, "gpu0");
    let other = device(&checker, "gpu1");
    let mut dma = 0;
    let buf = dma_alloc_coherent(&dev, PAGE_SIZE, &mut dma, Gfp::KERNEL);
    for (on, size, handle) in [
        (&other, PAGE_SIZE, dma),
        (&dev, 2 * PAGE_SIZE, dma),
        (&dev, PAGE_SIZE, dma + 64),
    ] {
        assert_eq!(dma_get_sgtable(on, buf, handle, size).err(), Some(-6));
        single_violation(&checker, &GET_SGTABLE_UNKNOWN);
        checker.take_violations();
    }
    dma_free_coherent(&dev, PAGE_SIZE, buf, dma);
    assert_eq!(dma_get_sgtable(&dev, buf, dma, PAGE_SIZE).err(), Some(-6));
}

// ---------------------------------------------------------------------------------------------
// The two-step IOVA API: iova-not-allocated, iova-link-out-of-range, iova-link-overlap,
// iova-unlink-partial, iova-free-linked

use dmacheck::rules::{
    IOVA_FREE_LINKED, IOVA_LINK_OUT_OF_RANGE, IOVA_LINK_OVERLAP, IOVA_NOT_ALLOCATED,
    IOVA_UNLINK_PARTIAL,
};

/// An IOMMU device and four pages of memory (their physical address).
fn iova_setup(checker: &Checker) -> (Device, Page, u64) {
    let dev = checker.device("nvme0").iommu().build();
    let block = alloc_pages(checker, Gfp::KERNEL, 2).unwrap();
    let phys = checker.memory().phys_of(page_address(block), 1).unwrap();
    (dev, block, phys)
}

#[test]
fn a_space_linked_piece_by_piece_is_one_contiguous_range_for_the_device() {
    let checker = checker();
    let (dev, block, phys) = iova_setup(&checker);
    let mut state = DmaIovaState::default();
    assert!(dma_iova_try_alloc(&dev, &mut state, phys, 4 * PAGE_SIZE));
    assert!(dma_use_iova(&state));
    // Two pieces, linked in reverse order of their memory.
    let (p, d) = (PAGE_SIZE, Direction::FromDevice);
    assert_eq!(
        dma_iova_link(
            &dev,
            &state,
            phys + 2 * p as u64,
            0,
            2 * p,
            d,
            DmaAttrs::empty()
        ),
        0
    );
    assert_eq!(
        dma_iova_link(&dev, &state, phys, 2 * p, 2 * p, d, DmaAttrs::empty()),
        0
    );
    assert_eq!(dma_iova_sync(&dev, &state, 0, 4 * p), 0);
    // The device writes either side of the seam; the CPU sees it where each piece lives.
    // (One access across two links is judged per link: see the IOVA notes in README.)
    dev.dma_write(state.addr + p as u64 * 2 - 2, b"ab").unwrap();
    dev.dma_write(state.addr + p as u64 * 2, b"cd").unwrap();
    dma_sync_single_for_cpu(&dev, state.addr, 2 * p, d);
    dma_sync_single_for_cpu(&dev, state.addr + 2 * p as u64, 2 * p, d);
    // SAFETY: the pages are live and the CPU owns them after the syncs.
    let (end, start) = unsafe {
        (
            std::slice::from_raw_parts(page_address(block).add(4 * p - 2), 2),
            std::slice::from_raw_parts(page_address(block), 2),
        )
    };
    assert_eq!((end, start), (&b"ab"[..], &b"cd"[..]));
    dma_iova_destroy(&dev, &mut state, 4 * p, d, DmaAttrs::empty());
    assert!(!dma_use_iova(&state));
    assert!(checker.live_entries().is_empty());
    free_pages(&checker, block, 2);
    // Correct use fires none of the IOVA rules.
    let fired = rule_ids(&checker);
    for rule in [
        &IOVA_NOT_ALLOCATED,
        &IOVA_LINK_OUT_OF_RANGE,
        &IOVA_LINK_OVERLAP,
        &IOVA_UNLINK_PARTIAL,
        &IOVA_FREE_LINKED,
    ] {
        assert!(!fired.contains(&rule.id), "{} fired", rule.id);
    }
    checker.assert_clean();
}

#[test]
fn without_an_iommu_the_iova_api_is_not_used() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut state = DmaIovaState { addr: 1, size: 1 };
    assert!(!dma_iova_try_alloc(&dev, &mut state, 0, PAGE_SIZE));
    assert_eq!(state, DmaIovaState::default());
    checker.assert_clean();
    assert_eq!(
        dma_iova_link(
            &dev,
            &state,
            0,
            0,
            64,
            Direction::ToDevice,
            DmaAttrs::empty()
        ),
        -22
    );
    single_violation(&checker, &IOVA_NOT_ALLOCATED);
}

#[test]
fn links_outside_the_space_misaligned_or_overlapping_are_refused() {
    let checker = checker();
    let (dev, block, phys) = iova_setup(&checker);
    let mut state = DmaIovaState::default();
    assert!(dma_iova_try_alloc(&dev, &mut state, phys, 2 * PAGE_SIZE));
    let link = |phys: u64, offset: usize, size: usize| {
        dma_iova_link(
            &dev,
            &state,
            phys,
            offset,
            size,
            Direction::ToDevice,
            DmaAttrs::empty(),
        )
    };
    assert_eq!(link(phys, PAGE_SIZE, 2 * PAGE_SIZE), -22);
    single_violation(&checker, &IOVA_LINK_OUT_OF_RANGE);
    checker.take_violations();
    assert_eq!(link(phys + 64, 0, 64), -22, "offset in page 64, IOVA's 0");
    single_violation(&checker, &IOVA_LINK_OUT_OF_RANGE);
    checker.take_violations();
    assert_eq!(link(phys, 0, 100), 0);
    assert_eq!(link(phys + 200, 200, 100), -22, "the same I/O page");
    single_violation(&checker, &IOVA_LINK_OVERLAP);
    checker.take_violations();
    assert_eq!(link(phys + PAGE_SIZE as u64, PAGE_SIZE, 100), 0);
    dma_iova_destroy(
        &dev,
        &mut state,
        2 * PAGE_SIZE,
        Direction::ToDevice,
        DmaAttrs::empty(),
    );
    checker.assert_clean();
    free_pages(&checker, block, 2);
}

#[test]
fn unlinking_part_of_a_link_and_freeing_live_links_are_reported() {
    let checker = checker();
    let (dev, block, phys) = iova_setup(&checker);
    let mut state = DmaIovaState::default();
    let d = Direction::ToDevice;
    assert!(dma_iova_try_alloc(&dev, &mut state, phys, 4 * PAGE_SIZE));
    assert_eq!(
        dma_iova_link(&dev, &state, phys, 0, 2 * PAGE_SIZE, d, DmaAttrs::empty()),
        0
    );
    dma_iova_unlink(&dev, &state, 0, PAGE_SIZE, d, DmaAttrs::empty());
    single_violation(&checker, &IOVA_UNLINK_PARTIAL);
    assert_eq!(checker.live_entries().len(), 1, "the cut link stays");
    checker.take_violations();
    // Destroying with a mapped_len short of the link: the link is reported and ended.
    dma_iova_destroy(&dev, &mut state, PAGE_SIZE, d, DmaAttrs::empty());
    let ids = rule_ids(&checker);
    assert_eq!(ids, [IOVA_UNLINK_PARTIAL.id, IOVA_FREE_LINKED.id]);
    assert!(checker.live_entries().is_empty());
    checker.take_violations();
    // The state is gone: a second free names no space.
    dma_iova_free(&dev, &mut state);
    single_violation(&checker, &IOVA_NOT_ALLOCATED);
    free_pages(&checker, block, 2);
}

#[test]
fn a_space_freed_after_its_links_are_unlinked_is_silent_and_links_leak_at_release() {
    let checker = checker();
    let (dev, block, phys) = iova_setup(&checker);
    let mut state = DmaIovaState::default();
    let d = Direction::Bidirectional;
    assert!(dma_iova_try_alloc(&dev, &mut state, phys, 2 * PAGE_SIZE));
    assert_eq!(
        dma_iova_link(&dev, &state, phys, 0, PAGE_SIZE, d, DmaAttrs::empty()),
        0
    );
    dma_iova_unlink(&dev, &state, 0, PAGE_SIZE, d, DmaAttrs::empty());
    dma_iova_free(&dev, &mut state);
    checker.assert_clean();
    assert!(dma_iova_try_alloc(&dev, &mut state, phys, 2 * PAGE_SIZE));
    assert_eq!(
        dma_iova_link(&dev, &state, phys, 0, PAGE_SIZE, d, DmaAttrs::empty()),
        0
    );
    dev.release();
    single_violation(&checker, &LEAK);
    free_pages(&checker, block, 2);
}
