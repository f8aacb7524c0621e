//! The IOMMU backend: an I/O virtual address space per device, below the device's mask, where
//! the pages of a scatter-gather list are laid out so that those meeting at page boundaries
//! merge into one DMA segment, within the device's maximum segment size and segment boundary.
//! What a device sees is checked through the backend's own translation, byte by byte.

use crate::common;

use common::{checker, live, rule_ids};
use dmacheck::*;

/// A device of `checker` behind its IOMMU.
fn iommu_device(checker: &Checker, name: &str) -> DeviceBuilder {
    checker.device(name).driver("testdrv").iommu()
}

/// What `dev` reads at `len` bytes from `dma`: each byte's address translated by the backend,
/// then read from memory.
fn device_view(dev: &Device, dma: DmaAddr, len: usize) -> Vec<u8> {
    let params = dev.params();
    (0..len as u64)
        .map(|i| {
            let phys = dev
                .backend()
                .dma_to_phys(&params, dma + i)
                .unwrap_or_else(|| panic!("{:#x} is not mapped for {}", dma + i, dev.name()));
            let cpu = dev
                .checker()
                .memory()
                .cpu_of(phys, 1)
                .expect("translates into memory");
            // SAFETY: cpu names a byte of live memory inside the arena.
            unsafe { cpu.as_ptr().read() }
        })
        .collect()
}

/// `len` bytes at `cpu`, as the CPU sees them.
fn cpu_bytes(cpu: *const u8, len: usize) -> Vec<u8> {
    // SAFETY: the callers pass live allocations of at least `len` bytes.
    unsafe { std::slice::from_raw_parts(cpu, len).to_vec() }
}

/// Fill `len` bytes at `cpu` with a pattern that differs for each `tag`.
fn fill(cpu: *mut u8, len: usize, tag: u8) {
    for i in 0..len {
        // SAFETY: the callers pass live allocations of at least `len` bytes.
        unsafe {
            cpu.add(i)
                .write((i as u8).wrapping_mul(7) ^ tag.wrapping_mul(31))
        };
    }
}

/// `n` single pages, each filled with its own pattern, and a list of them whole.
fn page_list(checker: &Checker, n: usize) -> (SgTable, Vec<Page>) {
    let mut sgl = SgTable::new(n);
    let pages: Vec<Page> = (0..n)
        .map(|i| {
            let page = alloc_pages(checker, Gfp::KERNEL, 0).expect("a page");
            fill(page_address(page), PAGE_SIZE, i as u8 + 1);
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

/// The bytes of the first `nents` entries of a list, in order, as the CPU sees them.
fn list_bytes(sgl: &SgTable, nents: usize) -> Vec<u8> {
    sgl.entries()[..nents]
        .iter()
        .flat_map(|e| cpu_bytes(e.virt(), e.length()))
        .collect()
}

/// The driver's loop over a mapped list: `count` entries, each read with `sg_dma_address` and
/// `sg_dma_len`.
fn segments(sgl: &SgTable, count: usize) -> Vec<(DmaAddr, usize)> {
    let mut hw = Vec::with_capacity(count);
    for sg in for_each_sg(sgl, count) {
        hw.push((sg_dma_address(&sg), sg_dma_len(&sg)));
    }
    hw
}

/// What the device reads through all the segments, one after the other.
fn device_bytes(dev: &Device, segs: &[(DmaAddr, usize)]) -> Vec<u8> {
    segs.iter()
        .flat_map(|&(dma, len)| device_view(dev, dma, len))
        .collect()
}

fn crosses(start: DmaAddr, len: usize, mask: u64) -> bool {
    start & !mask != (start + len as u64 - 1) & !mask
}

// ---------------------------------------------------------------------------------------------
// Merging

#[test]
fn whole_pages_map_to_fewer_segments_and_the_driver_loop_is_clean() {
    let checker = checker();
    let dev = iommu_device(&checker, "nvme0").build();
    let nents = 8;
    let (mut sgl, pages) = page_list(&checker, nents);

    let count = dma_map_sg(&dev, &mut sgl, nents, Direction::ToDevice);

    assert!(count >= 1 && count < nents, "count {count} of {nents}");
    let segs = segments(&sgl, count);
    assert_eq!(segs.len(), count);
    assert_eq!(segs.iter().map(|s| s.1).sum::<usize>(), nents * PAGE_SIZE);
    assert_eq!(
        device_bytes(&dev, &segs),
        list_bytes(&sgl, nents),
        "the device reads the pages in list order"
    );
    dma_sync_sg_for_cpu(&dev, &sgl, nents, Direction::ToDevice);
    dma_sync_sg_for_device(&dev, &sgl, nents, Direction::ToDevice);
    dma_unmap_sg(&dev, &mut sgl, nents, Direction::ToDevice);
    for (dma, _) in &segs {
        assert_eq!(
            dev.backend().dma_to_phys(&dev.params(), *dma),
            None,
            "unmapped I/O addresses translate to nothing"
        );
    }
    free_page_list(&checker, pages);
    checker.assert_clean();
}

#[test]
fn merging_stops_at_the_max_segment_size() {
    let checker = checker();
    let max = 2 * PAGE_SIZE;
    let dev = iommu_device(&checker, "nvme0")
        .max_segment_size(max as u64)
        .build();
    let (mut sgl, pages) = page_list(&checker, 8);

    let count = dma_map_sg(&dev, &mut sgl, 8, Direction::FromDevice);

    let segs = segments(&sgl, count);
    assert!(segs.iter().all(|&(_, len)| len <= max), "{segs:x?}");
    // Neighbouring pages still merge, up to the limit: four segments of two pages.
    assert_eq!(count, 4, "{segs:x?}");
    assert!(segs.iter().all(|&(_, len)| len == max), "{segs:x?}");
    assert_eq!(device_bytes(&dev, &segs), list_bytes(&sgl, 8));
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    dma_unmap_sg(&dev, &mut sgl, 8, Direction::FromDevice);
    free_page_list(&checker, pages);
    checker.assert_clean();
}

#[test]
fn merging_stops_at_the_segment_boundary() {
    let checker = checker();
    let mask = 0x3fff;
    let dev = iommu_device(&checker, "nvme0")
        .segment_boundary_mask(mask)
        .build();
    let (mut sgl, pages) = page_list(&checker, 8);

    let count = dma_map_sg(&dev, &mut sgl, 8, Direction::ToDevice);

    let segs = segments(&sgl, count);
    assert!(
        segs.iter().all(|&(start, len)| !crosses(start, len, mask)),
        "{segs:x?}"
    );
    // 32 KiB of pages in 16 KiB windows: two segments, each a whole window.
    assert_eq!(count, 2, "{segs:x?}");
    assert!(
        segs.iter()
            .all(|&(start, len)| start & mask == 0 && len == 4 * PAGE_SIZE)
    );
    assert_eq!(device_bytes(&dev, &segs), list_bytes(&sgl, 8));
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    dma_unmap_sg(&dev, &mut sgl, 8, Direction::ToDevice);
    free_page_list(&checker, pages);
    checker.assert_clean();
}

#[test]
fn entry_that_would_cross_a_boundary_moves_to_the_next_window() {
    let checker = checker();
    let mask = 0x3fff;
    let dev = iommu_device(&checker, "nvme0")
        .segment_boundary_mask(mask)
        .build();
    // Three pages, then two: the two would straddle the first 16 KiB window's end.
    let big = alloc_pages(&checker, Gfp::KERNEL, 2).expect("four pages");
    let small = alloc_pages(&checker, Gfp::KERNEL, 1).expect("two pages");
    fill(page_address(big), 3 * PAGE_SIZE, 1);
    fill(page_address(small), 2 * PAGE_SIZE, 2);
    let mut sgl = SgTable::new(2);
    sg_set_page(&mut sgl, 0, big, 3 * PAGE_SIZE, 0);
    sg_set_page(&mut sgl, 1, small, 2 * PAGE_SIZE, 0);

    let count = dma_map_sg(&dev, &mut sgl, 2, Direction::ToDevice);

    let segs = segments(&sgl, count);
    assert_eq!(count, 2, "{segs:x?}");
    assert!(
        segs.iter().all(|&(start, len)| !crosses(start, len, mask)),
        "{segs:x?}"
    );
    assert_eq!(segs[1].0 & mask, 0, "the second entry starts a window");
    assert_eq!(device_bytes(&dev, &segs), list_bytes(&sgl, 2));
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    dma_unmap_sg(&dev, &mut sgl, 2, Direction::ToDevice);
    free_pages(&checker, big, 2);
    free_pages(&checker, small, 1);
    checker.assert_clean();
}

#[test]
fn entries_with_sub_page_offsets_or_lengths_are_not_merged() {
    let checker = checker();
    let dev = iommu_device(&checker, "nvme0").build();
    let pages: Vec<Page> = (0..4)
        .map(|i| {
            let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
            fill(page_address(page), PAGE_SIZE, i + 1);
            page
        })
        .collect();
    let slab = kmalloc(&checker, 512, Gfp::KERNEL);
    fill(slab, 512, 9);
    let mut sgl = SgTable::new(5);
    // Ends inside its page, so the next does not merge with it.
    sg_set_page(&mut sgl, 0, pages[0], 100, 0);
    // A whole page, but after an entry that ended inside its page.
    sg_set_page(&mut sgl, 1, pages[1], PAGE_SIZE, 0);
    // Starts at an offset: does not merge with the whole page before it.
    sg_set_page(&mut sgl, 2, pages[2], 1024, 512);
    // A whole page after one that ended inside its page.
    sg_set_page(&mut sgl, 3, pages[3], PAGE_SIZE, 0);
    // Part of a small slab object: neither starts nor ends at a page boundary.
    sg_set_buf(&mut sgl, 4, slab.wrapping_add(1), 100);

    let count = dma_map_sg(&dev, &mut sgl, 5, Direction::ToDevice);

    assert_eq!(count, 5, "no entry meets the next at a page boundary");
    let segs = segments(&sgl, count);
    let lengths: Vec<usize> = segs.iter().map(|s| s.1).collect();
    assert_eq!(lengths, [100, PAGE_SIZE, 1024, PAGE_SIZE, 100]);
    assert_eq!(segs[2].0 % PAGE_SIZE as u64, 512, "the offset is kept");
    assert_eq!(device_bytes(&dev, &segs), list_bytes(&sgl, 5));
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    dma_unmap_sg(&dev, &mut sgl, 5, Direction::ToDevice);
    for page in pages {
        free_pages(&checker, page, 0);
    }
    kfree(&checker, slab);
    checker.assert_clean();
}

#[test]
fn entry_ending_at_a_page_end_merges_with_a_following_whole_page() {
    let checker = checker();
    let dev = iommu_device(&checker, "nvme0").build();
    let (mut sgl, pages) = page_list(&checker, 2);
    // The tail of the first page, then the whole second page: they meet at a page boundary.
    sg_set_page(&mut sgl, 0, pages[0], PAGE_SIZE - 256, 256);

    let count = dma_map_sg(&dev, &mut sgl, 2, Direction::ToDevice);

    let segs = segments(&sgl, count);
    assert_eq!(count, 1, "{segs:x?}");
    assert_eq!(segs[0].1, 2 * PAGE_SIZE - 256);
    assert_eq!(segs[0].0 % PAGE_SIZE as u64, 256);
    assert_eq!(device_bytes(&dev, &segs), list_bytes(&sgl, 2));
    dma_unmap_sg(&dev, &mut sgl, 2, Direction::ToDevice);
    free_page_list(&checker, pages);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// Address spaces

#[test]
fn iova_addresses_lie_below_the_mask_and_are_not_the_physical_addresses() {
    let checker = checker();
    let direct = checker.device("direct0").build();
    for bits in [32, 30] {
        let mask = dma_bit_mask(bits);
        let dev = iommu_device(&checker, "nvme0")
            .dma_mask(mask)
            .coherent_dma_mask(mask)
            .build();
        let buf = kmalloc(&checker, 3 * PAGE_SIZE, Gfp::KERNEL);
        fill(buf, 3 * PAGE_SIZE, 3);
        let phys = checker
            .memory()
            .phys_of(buf, 3 * PAGE_SIZE as u64)
            .expect("DMA-able");

        let on_bus = dma_map_single(&direct, buf, 3 * PAGE_SIZE, Direction::ToDevice);
        let iova = dma_map_single(&dev, buf, 3 * PAGE_SIZE, Direction::ToDevice);
        let (mut sgl, pages) = page_list(&checker, 3);
        let count = dma_map_sg(&dev, &mut sgl, 3, Direction::ToDevice);

        assert_eq!(dma_mapping_error(&direct, on_bus), 0);
        assert_eq!(dma_mapping_error(&dev, iova), 0);
        assert_eq!(
            on_bus, phys,
            "the direct backend hands out physical addresses"
        );
        assert_ne!(iova, phys, "an IOMMU hands out its own addresses");
        assert!(
            iova + 3 * PAGE_SIZE as u64 - 1 <= mask,
            "{iova:#x} above {mask:#x}"
        );
        let segs = segments(&sgl, count);
        for &(dma, len) in &segs {
            assert!(dma + len as u64 - 1 <= mask, "{dma:#x} above {mask:#x}");
        }
        let first_page = checker
            .memory()
            .phys_of(page_address(pages[0]), 1)
            .expect("DMA-able");
        assert_ne!(segs[0].0, first_page, "an sg segment has its own address");
        assert_eq!(
            dev.backend().dma_to_phys(&dev.params(), segs[0].0),
            Some(first_page)
        );
        assert_eq!(
            device_view(&dev, iova, 3 * PAGE_SIZE),
            cpu_bytes(buf, 3 * PAGE_SIZE)
        );
        assert_eq!(
            device_view(&direct, on_bus, 3 * PAGE_SIZE),
            cpu_bytes(buf, 3 * PAGE_SIZE)
        );

        dma_unmap_sg(&dev, &mut sgl, 3, Direction::ToDevice);
        dma_unmap_single(&dev, iova, 3 * PAGE_SIZE, Direction::ToDevice);
        dma_unmap_single(&direct, on_bus, 3 * PAGE_SIZE, Direction::ToDevice);
        free_page_list(&checker, pages);
        kfree(&checker, buf);
    }
    checker.assert_clean();
}

#[test]
fn two_devices_behind_the_iommu_have_separate_address_spaces() {
    let checker = checker();
    let nic = iommu_device(&checker, "eth0").build();
    let disk = iommu_device(&checker, "sda").build();
    let buf = kmalloc(&checker, 2 * PAGE_SIZE, Gfp::KERNEL);
    fill(buf, 2 * PAGE_SIZE, 5);
    let phys = checker
        .memory()
        .phys_of(buf, 2 * PAGE_SIZE as u64)
        .expect("DMA-able");

    let a = dma_map_single(&nic, buf, 2 * PAGE_SIZE, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&nic, a), 0);
    let b = dma_map_single(&disk, buf, 2 * PAGE_SIZE, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&disk, b), 0);

    // Each address leads, in its own device's space, to the same memory.
    for (dev, dma) in [(&nic, a), (&disk, b)] {
        let translated = dev.backend().dma_to_phys(&dev.params(), dma);
        assert_eq!(translated, Some(phys), "{}", dev.name());
        let cpu = checker
            .memory()
            .cpu_of(phys, 2 * PAGE_SIZE as u64)
            .expect("in memory");
        assert_eq!(cpu.as_ptr(), buf);
        assert_eq!(
            device_view(dev, dma, 2 * PAGE_SIZE),
            cpu_bytes(buf, 2 * PAGE_SIZE)
        );
    }

    // Unmapping for one device leaves the other's translation in place.
    dma_unmap_single(&nic, a, 2 * PAGE_SIZE, Direction::ToDevice);
    assert_eq!(nic.backend().dma_to_phys(&nic.params(), a), None);
    assert_eq!(disk.backend().dma_to_phys(&disk.params(), b), Some(phys));
    assert_eq!(
        device_view(&disk, b, 2 * PAGE_SIZE),
        cpu_bytes(buf, 2 * PAGE_SIZE)
    );
    assert_eq!(live(&checker), 1);
    dma_unmap_single(&disk, b, 2 * PAGE_SIZE, Direction::ToDevice);
    assert_eq!(disk.backend().dma_to_phys(&disk.params(), b), None);
    kfree(&checker, buf);
    checker.assert_clean();
}

#[test]
fn same_list_mapped_for_two_devices_reads_the_same_bytes_through_each() {
    let checker = checker();
    let nic = iommu_device(&checker, "eth0").build();
    let disk = iommu_device(&checker, "sda").build();
    let (mut for_nic, pages) = page_list(&checker, 4);
    let mut for_disk = for_nic.clone();

    let n = dma_map_sg(&nic, &mut for_nic, 4, Direction::ToDevice);
    let d = dma_map_sg(&disk, &mut for_disk, 4, Direction::ToDevice);

    let expected = list_bytes(&for_nic, 4);
    assert_eq!(device_bytes(&nic, &segments(&for_nic, n)), expected);
    assert_eq!(device_bytes(&disk, &segments(&for_disk, d)), expected);
    dma_unmap_sg(&nic, &mut for_nic, 4, Direction::ToDevice);
    assert_eq!(
        device_bytes(&disk, &segments(&for_disk, d)),
        expected,
        "the disk's mapping outlives the nic's"
    );
    dma_unmap_sg(&disk, &mut for_disk, 4, Direction::ToDevice);
    free_page_list(&checker, pages);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// Coherent and single mappings

#[test]
fn coherent_memory_is_reachable_through_the_iommu_and_freed_silently() {
    let checker = checker();
    let mask = dma_bit_mask(32);
    let dev = iommu_device(&checker, "eth0")
        .coherent_dma_mask(mask)
        .build();
    let size = 3 * PAGE_SIZE;
    let mut handle = 0;

    let ring = dma_alloc_coherent(&dev, size, &mut handle, Gfp::KERNEL);

    assert!(!ring.is_null());
    assert_ne!(handle, DMA_MAPPING_ERROR);
    assert!(handle + size as u64 - 1 <= mask);
    let phys = checker
        .memory()
        .phys_of(ring, size as u64)
        .expect("in memory");
    assert_ne!(handle, phys, "the handle is an I/O address");
    assert_eq!(dev.backend().dma_to_phys(&dev.params(), handle), Some(phys));
    assert_eq!(device_view(&dev, handle, size), vec![0; size], "zeroed");
    fill(ring, size, 4);
    assert_eq!(device_view(&dev, handle, size), cpu_bytes(ring, size));

    dma_free_coherent(&dev, size, ring, handle);

    assert_eq!(dev.backend().dma_to_phys(&dev.params(), handle), None);
    assert_eq!(checker.memory().bytes_in_use(), 0, "the memory is freed");
    checker.assert_clean();
}

#[test]
fn single_and_page_mappings_through_the_iommu_translate_to_the_cpu_bytes() {
    let checker = checker();
    let dev = iommu_device(&checker, "eth0").build();
    let skb = kmalloc(&checker, 1514, Gfp::KERNEL);
    fill(skb, 1514, 6);
    let block = alloc_pages(&checker, Gfp::KERNEL, 2).expect("four pages");
    fill(page_address(block), 4 * PAGE_SIZE, 7);

    let a = dma_map_single(&dev, skb, 1514, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, a), 0);
    // Three pages' worth from an offset inside the first page.
    let b = dma_map_page(&dev, block, 100, 3 * PAGE_SIZE, Direction::Bidirectional);
    assert_eq!(dma_mapping_error(&dev, b), 0);

    assert_eq!(device_view(&dev, a, 1514), cpu_bytes(skb, 1514));
    assert_eq!(a % PAGE_SIZE as u64, skb.addr() as u64 % PAGE_SIZE as u64);
    let from = page_address(block).wrapping_add(100);
    assert_eq!(
        device_view(&dev, b, 3 * PAGE_SIZE),
        cpu_bytes(from, 3 * PAGE_SIZE)
    );
    // The CPU takes the buffer, writes, hands it back, and the device sees the write.
    dma_sync_single_for_cpu(&dev, b, 3 * PAGE_SIZE, Direction::Bidirectional);
    // SAFETY: from + 5000 lies inside the live four-page block.
    unsafe { from.add(5000).write(0xa5) };
    dma_sync_single_for_device(&dev, b, 3 * PAGE_SIZE, Direction::Bidirectional);
    assert_eq!(device_view(&dev, b + 5000, 1), [0xa5]);

    dma_unmap_page(&dev, b, 3 * PAGE_SIZE, Direction::Bidirectional);
    dma_unmap_single(&dev, a, 1514, Direction::ToDevice);
    assert_eq!(dev.backend().dma_to_phys(&dev.params(), a), None);
    assert_eq!(dev.backend().dma_to_phys(&dev.params(), b), None);
    kfree(&checker, skb);
    free_pages(&checker, block, 2);
    checker.assert_clean();
}
