//! User mappings of coherent DMA buffers (`dma_mmap_coherent`, `remap_pfn_range`): a real second
//! mapping of the buffer's pages, refused when it reaches beyond the buffer
//! (`mmap-out-of-bounds`), and a buffer freed while user space still maps it reported
//! (`free-while-mmapped`).

use crate::common;

use common::{assert_site, checker, device, rule_ids, single_violation};
use dmacheck::rules::{FREE_WHILE_MMAPPED, MMAP_OUT_OF_BOUNDS};
use dmacheck::*;

const FILE: &str = "mmap.rs";

// ---------------------------------------------------------------------------------------------
// Helpers of this file (the shared ones are in tests/common)

/// One device of each backend.
fn every_backend(checker: &Checker) -> Vec<Device> {
    vec![
        checker.device("fb-direct").driver("fbdrv").build(),
        checker.device("fb-iommu").driver("fbdrv").iommu().build(),
        checker.device("fb-bounce").driver("fbdrv").bounce().build(),
    ]
}

/// A coherent buffer, which must not fail; its site is the caller's.
#[track_caller]
fn alloc(dev: &Device, size: usize) -> (*mut u8, DmaAddr) {
    let mut dma = 0;
    let cpu = dma_alloc_coherent(dev, size, &mut dma, Gfp::KERNEL);
    assert!(!cpu.is_null(), "dma_alloc_coherent failed");
    (cpu, dma)
}

/// Write `data` through a user mapping at `offset`.
fn user_write(map: &UserMapping, offset: usize, data: &[u8]) {
    assert!(offset + data.len() <= map.len());
    // SAFETY: inside the mapping, which is live.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), map.as_ptr().add(offset), data.len()) };
}

/// Read `len` bytes of a user mapping at `offset`.
fn user_read(map: &UserMapping, offset: usize, len: usize) -> Vec<u8> {
    assert!(offset + len <= map.len());
    let mut out = vec![0; len];
    // SAFETY: inside the mapping, which is live.
    unsafe { std::ptr::copy_nonoverlapping(map.as_ptr().add(offset), out.as_mut_ptr(), len) };
    out
}

fn page_frame(checker: &Checker, cpu: *const u8) -> u64 {
    virt_to_phys(checker, cpu).expect("DMA memory") >> PAGE_SHIFT
}

// ---------------------------------------------------------------------------------------------
// dma_mmap_coherent: a second mapping of the same memory

#[test]
fn a_user_mapping_is_a_second_view_of_the_buffer_on_every_backend() {
    let checker = checker();
    for dev in every_backend(&checker) {
        let size = 2 * PAGE_SIZE;
        let (cpu, dma) = alloc(&dev, size);
        let user = dma_mmap_coherent(&dev, cpu, dma, size, 0, size)
            .unwrap_or_else(|e| panic!("{}: {e}", dev.name()));
        assert_eq!(user.len(), size);
        assert!(!user.is_empty());
        assert_ne!(user.as_ptr(), cpu, "another address");

        // User space writes; the driver and the device see it.
        user_write(&user, PAGE_SIZE + 10, b"from user");
        let mut seen = [0; 9];
        checker
            .cpu_read(cpu.wrapping_add(PAGE_SIZE + 10), &mut seen)
            .unwrap();
        assert_eq!(&seen, b"from user", "{}", dev.name());
        dev.dma_read(dma + PAGE_SIZE as u64 + 10, &mut seen)
            .unwrap();
        assert_eq!(&seen, b"from user", "{}", dev.name());

        // The device and the driver write; user space sees it.
        dev.dma_write(dma + 3, b"device").unwrap();
        assert_eq!(user_read(&user, 3, 6), b"device");
        checker.cpu_write(cpu.wrapping_add(100), b"driver").unwrap();
        assert_eq!(user_read(&user, 100, 6), b"driver");

        drop(user);
        dma_free_coherent(&dev, size, cpu, dma);
    }
    checker.assert_clean();
}

#[test]
fn a_mapping_from_a_page_offset_maps_those_pages() {
    let checker = checker();
    let dev = device(&checker, "fb0");
    let size = 4 * PAGE_SIZE;
    let (cpu, dma) = alloc(&dev, size);
    let user = dma_mmap_coherent(&dev, cpu, dma, size, 1, 2 * PAGE_SIZE).unwrap();
    assert_eq!(user.len(), 2 * PAGE_SIZE);
    checker
        .cpu_write(cpu.wrapping_add(PAGE_SIZE + 5), b"page one")
        .unwrap();
    assert_eq!(user_read(&user, 5, 8), b"page one");
    user_write(&user, PAGE_SIZE, b"page two");
    let mut seen = [0; 8];
    dev.dma_read(dma + 2 * PAGE_SIZE as u64, &mut seen).unwrap();
    assert_eq!(&seen, b"page two");
    drop(user);
    dma_free_coherent(&dev, size, cpu, dma);
    checker.assert_clean();
}

#[test]
fn the_last_partial_page_of_a_buffer_may_be_mapped() {
    let checker = checker();
    let dev = device(&checker, "fb0");
    let size = PAGE_SIZE + 100;
    let (cpu, dma) = alloc(&dev, size);
    let user = dma_mmap_coherent(&dev, cpu, dma, size, 0, 2 * PAGE_SIZE).unwrap();
    user_write(&user, PAGE_SIZE + 99, b"!");
    let mut seen = [0; 1];
    checker
        .cpu_read(cpu.wrapping_add(PAGE_SIZE + 99), &mut seen)
        .unwrap();
    assert_eq!(&seen, b"!");
    drop(user);
    dma_free_coherent(&dev, size, cpu, dma);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// mmap-out-of-bounds

#[test]
fn mappings_beyond_the_buffer_are_refused_with_enxio() {
    let size = 2 * PAGE_SIZE + 100; // three pages, the last one partly
    let pages = size.div_ceil(PAGE_SIZE);
    // (vm_pgoff, vm_len): too long, starting past the end, reaching past the end, empty.
    let cases = [
        (0, (pages + 1) * PAGE_SIZE),
        (pages, PAGE_SIZE),
        (pages + 7, PAGE_SIZE),
        (1, pages * PAGE_SIZE),
        (pages - 1, PAGE_SIZE + 1),
        (0, 0),
    ];
    for (pgoff, len) in cases {
        let checker = checker();
        let dev = device(&checker, "fb0");
        let alloc_line = line!() + 1;
        let (cpu, dma) = alloc(&dev, size);

        let line = line!() + 1;
        let result = dma_mmap_coherent(&dev, cpu, dma, size, pgoff, len);

        assert_eq!(result.err(), Some(-ENXIO), "pgoff {pgoff} len {len}");
        let v = single_violation(&checker, &MMAP_OUT_OF_BOUNDS);
        assert_eq!(v.call, "dma_mmap_coherent");
        assert_eq!(v.device, "fb0");
        assert_eq!(v.detail_u64("dma_addr"), Some(dma));
        assert_eq!(v.detail_u64("vm_pgoff"), Some(pgoff as u64));
        assert_eq!(v.detail_u64("vm_len"), Some(len as u64));
        assert_eq!(v.detail_u64("buffer_pages"), Some(pages as u64));
        assert_eq!(v.mapped_by, Some("dma_alloc_coherent"));
        assert_site(v.mapped_at.as_ref().unwrap(), FILE, alloc_line);
        assert_site(&v.site, FILE, line);
        checker.take_violations();
        // Nothing is mapped: the free is silent.
        dma_free_coherent(&dev, size, cpu, dma);
        checker.assert_clean();
    }
}

#[test]
fn mappings_inside_the_buffer_are_silent() {
    let checker = checker();
    let dev = device(&checker, "fb0");
    let size = 3 * PAGE_SIZE;
    let (cpu, dma) = alloc(&dev, size);
    let maps: Vec<_> = [(0, size), (0, 1), (2, PAGE_SIZE), (1, 2 * PAGE_SIZE)]
        .into_iter()
        .map(|(pgoff, len)| {
            dma_mmap_coherent(&dev, cpu, dma, size, pgoff, len)
                .unwrap_or_else(|e| panic!("{pgoff}+{len}: {e}"))
        })
        .collect();
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    drop(maps);
    dma_free_coherent(&dev, size, cpu, dma);
    checker.assert_clean();
}

#[test]
fn mapping_an_unknown_handle_is_refused_with_enxio() {
    let checker = checker();
    let dev = device(&checker, "fb0");
    let other = device(&checker, "fb1");
    let (cpu, dma) = alloc(&dev, PAGE_SIZE);
    let (ocpu, odma) = alloc(&other, PAGE_SIZE);
    let (gone, gone_dma) = alloc(&dev, PAGE_SIZE);
    dma_free_coherent(&dev, PAGE_SIZE, gone, gone_dma);

    let cases = [
        (cpu, dma + PAGE_SIZE as u64 * 64, "never allocated"),
        (ocpu, odma, "another device's buffer"),
        (gone, gone_dma, "a freed buffer"),
    ];
    for (c, d, what) in cases {
        let line = line!() + 1;
        let result = dma_mmap_coherent(&dev, c, d, PAGE_SIZE, 0, PAGE_SIZE);
        assert_eq!(result.err(), Some(-ENXIO), "{what}");
        let v = single_violation(&checker, &MMAP_OUT_OF_BOUNDS);
        assert_eq!(v.detail_u64("dma_addr"), Some(d), "{what}");
        assert!(v.mapped_at.is_none(), "{what}: no buffer to name");
        assert_site(&v.site, FILE, line);
        checker.take_violations();
    }
    dma_free_coherent(&dev, PAGE_SIZE, cpu, dma);
    dma_free_coherent(&other, PAGE_SIZE, ocpu, odma);
    checker.assert_clean();
}

#[test]
fn mapping_with_another_cpu_address_is_refused() {
    let checker = checker();
    let dev = device(&checker, "fb0");
    let (cpu, dma) = alloc(&dev, 2 * PAGE_SIZE);
    let (other, other_dma) = alloc(&dev, 2 * PAGE_SIZE);
    let result = dma_mmap_coherent(&dev, other, dma, 2 * PAGE_SIZE, 0, PAGE_SIZE);
    assert_eq!(result.err(), Some(-ENXIO));
    let v = single_violation(&checker, &MMAP_OUT_OF_BOUNDS);
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    checker.take_violations();
    dma_free_coherent(&dev, 2 * PAGE_SIZE, cpu, dma);
    dma_free_coherent(&dev, 2 * PAGE_SIZE, other, other_dma);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// remap_pfn_range

#[test]
fn remap_pfn_range_of_a_live_coherent_buffer_is_a_second_view() {
    let checker = checker();
    for dev in every_backend(&checker) {
        let size = 3 * PAGE_SIZE;
        let (cpu, dma) = alloc(&dev, size);
        let pfn = page_frame(&checker, cpu);

        let all = remap_pfn_range(&checker, pfn, size).unwrap();
        let last = remap_pfn_range(&checker, pfn + 2, PAGE_SIZE).unwrap();
        assert_eq!((all.len(), last.len()), (size, PAGE_SIZE));

        user_write(&last, 7, b"tail");
        assert_eq!(user_read(&all, 2 * PAGE_SIZE + 7, 4), b"tail");
        let mut seen = [0; 4];
        dev.dma_read(dma + 2 * PAGE_SIZE as u64 + 7, &mut seen)
            .unwrap();
        assert_eq!(&seen, b"tail", "{}", dev.name());
        dev.dma_write(dma + 1, b"head").unwrap();
        assert_eq!(user_read(&all, 1, 4), b"head");
        checker.cpu_read(cpu.wrapping_add(1), &mut seen).unwrap();
        assert_eq!(&seen, b"head");

        drop((all, last));
        dma_free_coherent(&dev, size, cpu, dma);
    }
    checker.assert_clean();
}

#[test]
fn remap_pfn_range_outside_any_buffer_is_refused() {
    let checker = checker();
    let dev = device(&checker, "fb0");
    let size = 2 * PAGE_SIZE;
    let (cpu, dma) = alloc(&dev, size);
    let pfn = page_frame(&checker, cpu);
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).unwrap();
    let ordinary = page_frame(&checker, page_address(page));
    let buf = kmalloc(&checker, 64, Gfp::KERNEL);
    let streaming = dma_map_single(&dev, buf, 64, Direction::ToDevice);
    assert_eq!(dma_mapping_error(&dev, streaming), 0);
    let (gone, gone_dma) = alloc(&dev, PAGE_SIZE);
    let gone_pfn = page_frame(&checker, gone);
    dma_free_coherent(&dev, PAGE_SIZE, gone, gone_dma);

    let cases = [
        (ordinary, PAGE_SIZE, "ordinary pages"),
        (page_frame(&checker, buf), PAGE_SIZE, "a streaming buffer"),
        (gone_pfn, PAGE_SIZE, "a freed buffer"),
        (pfn, size + PAGE_SIZE, "past the buffer's end"),
        (pfn + 1, size, "from inside to past the end"),
        (pfn - 1, PAGE_SIZE, "the page before"),
        (pfn, 0, "nothing"),
    ];
    for (frame, len, what) in cases {
        let line = line!() + 1;
        let result = remap_pfn_range(&checker, frame, len);
        assert_eq!(result.err(), Some(-EINVAL), "{what}");
        let v = single_violation(&checker, &MMAP_OUT_OF_BOUNDS);
        assert_eq!(v.call, "remap_pfn_range", "{what}");
        assert_eq!(v.detail_u64("pfn"), Some(frame), "{what}");
        assert_eq!(v.detail_u64("size"), Some(len as u64), "{what}");
        assert_site(&v.site, FILE, line);
        checker.take_violations();
    }
    dma_unmap_single(&dev, streaming, 64, Direction::ToDevice);
    kfree(&checker, buf);
    free_pages(&checker, page, 0);
    // Nothing was mapped: the free is silent.
    dma_free_coherent(&dev, size, cpu, dma);
    checker.assert_clean();
}

#[test]
fn remap_pfn_range_of_a_huge_size_is_refused_without_a_panic() {
    let checker = checker();
    let dev = device(&checker, "fb0");
    let (cpu, dma) = alloc(&dev, PAGE_SIZE);
    let result = remap_pfn_range(&checker, page_frame(&checker, cpu), usize::MAX);
    assert_eq!(result.err(), Some(-EINVAL));
    single_violation(&checker, &MMAP_OUT_OF_BOUNDS);
    checker.take_violations();
    dma_free_coherent(&dev, PAGE_SIZE, cpu, dma);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// free-while-mmapped

#[test]
fn freeing_a_buffer_user_space_still_maps_is_reported() {
    let checker = checker();
    for dev in every_backend(&checker) {
        let size = 2 * PAGE_SIZE;
        let alloc_line = line!() + 1;
        let (cpu, dma) = alloc(&dev, size);
        let user = dma_mmap_coherent(&dev, cpu, dma, size, 0, size).unwrap();

        let line = line!() + 1;
        dma_free_coherent(&dev, size, cpu, dma);

        let v = single_violation(&checker, &FREE_WHILE_MMAPPED);
        assert_eq!(v.call, "dma_free_coherent");
        assert_eq!(v.device, dev.name());
        assert_eq!(v.detail_u64("dma_addr"), Some(dma));
        assert_eq!(v.detail_u64("size"), Some(size as u64));
        assert_eq!(v.mapped_by, Some("dma_alloc_coherent"));
        assert_site(v.mapped_at.as_ref().unwrap(), FILE, alloc_line);
        assert_site(&v.site, FILE, line);
        assert!(
            checker.live_entries().is_empty(),
            "the buffer is freed all the same"
        );
        checker.take_violations();
        drop(user);
    }
    checker.assert_clean();
}

#[test]
fn freeing_a_buffer_mapped_with_remap_pfn_range_is_reported() {
    let checker = checker();
    let dev = device(&checker, "fb0");
    let (cpu, dma) = alloc(&dev, PAGE_SIZE);
    let user = remap_pfn_range(&checker, page_frame(&checker, cpu), PAGE_SIZE).unwrap();
    dma_free_coherent(&dev, PAGE_SIZE, cpu, dma);
    let v = single_violation(&checker, &FREE_WHILE_MMAPPED);
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    checker.take_violations();
    drop(user);
}

#[test]
fn after_every_mapping_is_dropped_the_free_is_silent() {
    let checker = checker();
    let dev = device(&checker, "fb0");
    let size = 2 * PAGE_SIZE;
    let (cpu, dma) = alloc(&dev, size);
    let first = dma_mmap_coherent(&dev, cpu, dma, size, 0, size).unwrap();
    let second = dma_mmap_coherent(&dev, cpu, dma, size, 1, PAGE_SIZE).unwrap();
    let third = remap_pfn_range(&checker, page_frame(&checker, cpu), PAGE_SIZE).unwrap();
    drop(first);
    drop(third);
    // One mapping is left: still reported.
    let (probe, probe_dma) = alloc(&dev, PAGE_SIZE);
    let probe_map = dma_mmap_coherent(&dev, probe, probe_dma, PAGE_SIZE, 0, PAGE_SIZE).unwrap();
    drop(probe_map);
    dma_free_coherent(&dev, PAGE_SIZE, probe, probe_dma);
    assert!(
        checker.violations().is_empty(),
        "the probe's mapping was dropped"
    );
    drop(second);

    dma_free_coherent(&dev, size, cpu, dma);

    checker.assert_clean();
}

#[test]
fn one_mapping_left_of_several_is_enough_to_report() {
    let checker = checker();
    let dev = device(&checker, "fb0");
    let (cpu, dma) = alloc(&dev, PAGE_SIZE);
    let a = dma_mmap_coherent(&dev, cpu, dma, PAGE_SIZE, 0, PAGE_SIZE).unwrap();
    let b = dma_mmap_coherent(&dev, cpu, dma, PAGE_SIZE, 0, PAGE_SIZE).unwrap();
    drop(a);
    dma_free_coherent(&dev, PAGE_SIZE, cpu, dma);
    assert_eq!(rule_ids(&checker), [FREE_WHILE_MMAPPED.id]);
    checker.take_violations();
    drop(b);
}

#[test]
fn a_stale_mapping_does_not_mark_a_new_buffer_at_the_same_iova_as_mapped() {
    let checker = checker();
    let dev = checker.device("gpu0").iommu().build();
    let (cpu, dma) = alloc(&dev, PAGE_SIZE);
    let old_phys = virt_to_phys(&checker, cpu).unwrap();
    let stale = dma_mmap_coherent(&dev, cpu, dma, PAGE_SIZE, 0, PAGE_SIZE).unwrap();
    dma_free_coherent(&dev, PAGE_SIZE, cpu, dma);
    assert_eq!(rule_ids(&checker), [FREE_WHILE_MMAPPED.id]);
    checker.take_violations();
    // The old pages go to someone else; the next buffer gets the same I/O address, other pages.
    let squatter = alloc_pages(&checker, Gfp::KERNEL, 0).unwrap();
    let (new_cpu, new_dma) = alloc(&dev, PAGE_SIZE);
    assert_eq!(new_dma, dma, "the I/O address is reused");
    assert_ne!(
        virt_to_phys(&checker, new_cpu).unwrap(),
        old_phys,
        "other memory"
    );

    dma_free_coherent(&dev, PAGE_SIZE, new_cpu, new_dma);

    assert!(
        checker.violations().is_empty(),
        "nobody maps the new buffer: {:?}",
        rule_ids(&checker)
    );
    drop(stale);
    free_pages(&checker, squatter, 0);
}
