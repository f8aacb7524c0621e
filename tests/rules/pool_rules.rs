//! The rules of `src/rules/pool.rs` (and the context rules pools are subject to): DMA pools hand
//! out blocks of their size, alignment and boundary, take back only their own blocks, poison free
//! blocks like the kernel's pool debugging, and refuse to be used after they are destroyed.

use crate::common;

use common::{assert_site, checker, device, quiet, rule_ids, single_violation};
use dmacheck::rules::{
    POOL_BAD_PARAMETERS, POOL_DESTROY_BUSY, POOL_DOUBLE_FREE, POOL_FREE_FOREIGN,
    POOL_FREE_MISMATCH, POOL_IN_ATOMIC, POOL_USE_AFTER_DESTROY, POOL_WRITE_AFTER_FREE,
    SLEEPING_ALLOC_IN_ATOMIC,
};
use dmacheck::*;

const FILE: &str = "pool_rules.rs";

// ---------------------------------------------------------------------------------------------
// Helpers of this file (the shared ones are in tests/common)

/// One device of each backend: direct, behind the IOMMU, behind bounce buffering.
fn devices_of_every_backend(checker: &Checker, name: &str) -> Vec<(&'static str, Device)> {
    vec![
        (
            "direct",
            checker
                .device(&format!("{name}-direct"))
                .driver("pooldrv")
                .build(),
        ),
        (
            "iommu",
            checker
                .device(&format!("{name}-iommu"))
                .driver("pooldrv")
                .iommu()
                .build(),
        ),
        (
            "bounce",
            checker
                .device(&format!("{name}-bounce"))
                .driver("pooldrv")
                .bounce()
                .build(),
        ),
    ]
}

/// A block from `pool`, which must not fail.
#[track_caller]
fn alloc(pool: &DmaPool) -> (*mut u8, DmaAddr) {
    let mut dma = 0;
    let cpu = dma_pool_alloc(pool, Gfp::KERNEL, &mut dma);
    assert!(!cpu.is_null(), "dma_pool_alloc failed");
    assert_ne!(dma, DMA_MAPPING_ERROR);
    (cpu, dma)
}

/// Bytes that name the block they are written to.
fn pattern(dma: DmaAddr, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (dma as usize).wrapping_add(i * 7).wrapping_mul(31) as u8 ^ 0x5a)
        .collect()
}

/// The block honors the pool's layout, and its CPU and DMA addresses name the same bytes: what
/// the CPU writes at `cpu`, the device reads at `dma`.
#[track_caller]
fn check_block(
    dev: &Device,
    (cpu, dma): (*mut u8, DmaAddr),
    size: usize,
    align: usize,
    boundary: usize,
) {
    assert_eq!(
        dma % align as u64,
        0,
        "block {dma:#x} is not {align}-aligned"
    );
    if boundary != 0 {
        let b = boundary as u64;
        assert_eq!(
            dma / b,
            (dma + size as u64 - 1) / b,
            "block {dma:#x}+{size} crosses a {boundary}-byte boundary"
        );
    }
    let bytes = pattern(dma, size);
    dev.checker().cpu_write(cpu, &bytes).expect("DMA memory");
    let mut seen = vec![0; size];
    dev.dma_read(dma, &mut seen)
        .expect("the device reads its block");
    assert_eq!(seen, bytes, "the device sees other bytes at {dma:#x}");
}

#[track_caller]
fn assert_disjoint(blocks: &[(*mut u8, DmaAddr)], size: usize) {
    let mut ranges: Vec<(u64, u64)> = blocks.iter().map(|&(_, d)| (d, d + size as u64)).collect();
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "blocks {:#x?} and {:#x?} overlap",
            pair[0],
            pair[1]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Layout: size, alignment, boundary

#[test]
fn blocks_honor_size_alignment_and_boundary_on_every_backend() {
    // (size, align, boundary): small descriptors, blocks that just fit a boundary, a boundary
    // smaller than a page, and alignments above a page.
    let layouts = [
        (96, 32, 4096),
        (24, 8, 0),
        (1000, 1, 1024),
        (1500, 64, 2048),
        (3000, 16, 4096),
        (100, 8192, 0),
        (2000, 8192, 4096),
        (64, 64, 64),
    ];
    let checker = checker();
    for (i, &(size, align, boundary)) in layouts.iter().enumerate() {
        for (backend, dev) in devices_of_every_backend(&checker, &format!("dev{i}")) {
            let pool = dma_pool_create("layout", &dev, size, align, boundary)
                .unwrap_or_else(|| panic!("{backend}: pool {size}/{align}/{boundary} refused"));
            // Enough blocks for several pages of the pool.
            let blocks: Vec<_> = (0..3 * PAGE_SIZE / size.max(align).min(PAGE_SIZE) + 2)
                .map(|_| alloc(&pool))
                .collect();
            for &b in &blocks {
                check_block(&dev, b, size, align, boundary);
            }
            assert_disjoint(&blocks, size);
            assert_eq!(pool.busy(), blocks.len());
            for (cpu, dma) in blocks {
                dma_pool_free(&pool, cpu, dma);
            }
            assert_eq!(pool.busy(), 0);
            dma_pool_destroy(pool);
            assert!(
                checker.violations().is_empty(),
                "{backend} {size}/{align}/{boundary}: {:?}",
                rule_ids(&checker)
            );
        }
    }
    checker.assert_clean();
}

#[test]
fn alignment_above_a_page_holds_behind_an_iommu_with_other_coherent_memory() {
    let checker = checker();
    let dev = checker.device("gpu0").iommu().build();
    // The driver's ring: one coherent page, allocated before the pool.
    let mut ring_dma = 0;
    let ring = dma_alloc_coherent(&dev, PAGE_SIZE, &mut ring_dma, Gfp::KERNEL);
    assert!(!ring.is_null());
    let align = 2 * PAGE_SIZE;
    let pool = dma_pool_create("ctx", &dev, 256, align, 0).expect("valid parameters");
    let blocks: Vec<_> = (0..3).map(|_| alloc(&pool)).collect();
    for &b in &blocks {
        check_block(&dev, b, 256, align, 0);
    }
    for (cpu, dma) in blocks {
        dma_pool_free(&pool, cpu, dma);
    }
    dma_pool_destroy(pool);
    dma_free_coherent(&dev, PAGE_SIZE, ring, ring_dma);
    checker.assert_clean();
}

#[test]
fn align_zero_means_byte_aligned_and_is_accepted() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("bytes", &dev, 5, 0, 0).expect("align 0 is allowed");
    let blocks: Vec<_> = (0..4).map(|_| alloc(&pool)).collect();
    for &b in &blocks {
        check_block(&dev, b, 5, 1, 0);
    }
    assert_disjoint(&blocks, 5);
    for (cpu, dma) in blocks {
        dma_pool_free(&pool, cpu, dma);
    }
    dma_pool_destroy(pool);
    checker.assert_clean();
}

#[test]
fn alloc_fills_blocks_with_poison_and_zalloc_zeroes_them() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("qh", &dev, 96, 32, 4096).unwrap();
    let read = |cpu: *mut u8| {
        let mut b = vec![0xffu8; 96];
        checker.cpu_read(cpu, &mut b).unwrap();
        b
    };
    let (a, a_dma) = alloc(&pool);
    assert!(read(a).iter().all(|&b| b == POOL_POISON_ALLOCATED));
    let mut z_dma = 0;
    let z = dma_pool_zalloc(&pool, Gfp::KERNEL, &mut z_dma);
    assert!(!z.is_null());
    assert!(read(z).iter().all(|&b| b == 0));
    let mut g_dma = 0;
    let g = dma_pool_alloc(&pool, Gfp::KERNEL | Gfp::ZERO, &mut g_dma);
    assert!(read(g).iter().all(|&b| b == 0), "__GFP_ZERO zeroes too");
    for (cpu, dma) in [(a, a_dma), (z, z_dma), (g, g_dma)] {
        dma_pool_free(&pool, cpu, dma);
    }
    dma_pool_destroy(pool);
    checker.assert_clean();
}

#[test]
fn freed_blocks_are_handed_out_again() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("td", &dev, 64, 64, 0).unwrap();
    let (cpu, dma) = alloc(&pool);
    dma_pool_free(&pool, cpu, dma);
    let again = alloc(&pool);
    assert_eq!(again, (cpu, dma), "the free block is reused, not a new one");
    assert_eq!(checker.live_entries().len(), 1, "one page for the pool");
    dma_pool_free(&pool, again.0, again.1);
    dma_pool_destroy(pool);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// pool-bad-parameters

#[test]
fn bad_pool_parameters_are_refused_with_none() {
    let cases = [
        (0, 8, 0, "size 0"),
        (64, 3, 0, "align not a power of two"),
        (64, 48, 0, "align not a power of two"),
        (2048, 8, 1024, "boundary smaller than size"),
        (64, 8, 3000, "boundary not a power of two"),
    ];
    for (size, align, boundary, what) in cases {
        let checker = checker();
        let dev = device(&checker, "ehci0");
        let line = line!() + 1;
        let pool = dma_pool_create("bad", &dev, size, align, boundary);
        assert!(pool.is_none(), "{what}: the pool was created");
        let v = single_violation(&checker, &POOL_BAD_PARAMETERS);
        assert_eq!(v.call, "dma_pool_create", "{what}");
        assert_eq!(v.device, "ehci0");
        assert_eq!(v.detail_u64("size"), Some(size as u64), "{what}");
        assert_eq!(v.detail_u64("align"), Some(align as u64), "{what}");
        assert_eq!(v.detail_u64("boundary"), Some(boundary as u64), "{what}");
        assert!(
            v.message.contains("\"bad\""),
            "names the pool: {}",
            v.message
        );
        assert_site(&v.site, FILE, line);
        assert_eq!(checker.live_entries().len(), 0, "{what}: nothing allocated");
    }
}

#[test]
fn good_pool_parameters_are_silent() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    for (size, align, boundary) in [(1, 1, 1), (4096, 4096, 4096), (64, 8, 64), (3000, 2, 0)] {
        let pool = dma_pool_create("good", &dev, size, align, boundary)
            .unwrap_or_else(|| panic!("{size}/{align}/{boundary} refused"));
        dma_pool_destroy(pool);
    }
    checker.assert_clean();
}

#[test]
fn a_block_larger_than_memory_makes_every_allocation_fail() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("huge", &dev, 1 << 40, 8, 0).expect("valid parameters");
    let mut dma = 0;
    assert!(dma_pool_alloc(&pool, Gfp::KERNEL, &mut dma).is_null());
    assert_eq!(dma, DMA_MAPPING_ERROR);
    dma_pool_destroy(pool);
    checker.assert_clean();
}

#[test]
fn a_block_size_near_the_top_of_the_address_space_is_refused_without_a_panic() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    for (size, align) in [(usize::MAX, 1), (usize::MAX - 100, 64)] {
        // Refused at create, or every allocation fails: either way, no panic.
        if let Some(pool) = dma_pool_create("huge", &dev, size, align, 0) {
            let mut dma = 0;
            assert!(dma_pool_alloc(&pool, Gfp::KERNEL, &mut dma).is_null());
            dma_pool_destroy(pool);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// pool-free-foreign

#[test]
fn free_of_another_pools_block_is_foreign_and_frees_nothing() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let qh = dma_pool_create("qh", &dev, 96, 32, 0).unwrap();
    let td = dma_pool_create("td", &dev, 64, 64, 0).unwrap();
    let (cpu, dma) = alloc(&td);

    let line = line!() + 1;
    dma_pool_free(&qh, cpu, dma);

    let v = single_violation(&checker, &POOL_FREE_FOREIGN);
    assert_eq!(v.call, "dma_pool_free");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("cpu_addr"), Some(cpu.addr() as u64));
    assert!(v.message.contains("\"qh\""), "{}", v.message);
    assert_site(&v.site, FILE, line);
    assert_eq!(td.busy(), 1, "the block stays allocated in its own pool");
    assert_eq!(qh.busy(), 0);

    checker.take_violations();
    dma_pool_free(&td, cpu, dma);
    dma_pool_destroy(qh);
    dma_pool_destroy(td);
    checker.assert_clean();
}

#[test]
fn each_block_freed_to_its_own_pool_is_silent() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let qh = dma_pool_create("qh", &dev, 96, 32, 0).unwrap();
    let td = dma_pool_create("td", &dev, 64, 64, 0).unwrap();
    let (qh_cpu, qh_dma) = alloc(&qh);
    let (td_cpu, td_dma) = alloc(&td);

    dma_pool_free(&td, td_cpu, td_dma);
    dma_pool_free(&qh, qh_cpu, qh_dma);

    assert_eq!(checker.count(&POOL_FREE_FOREIGN), 0);
    assert_eq!((qh.busy(), td.busy()), (0, 0));
    dma_pool_destroy(qh);
    dma_pool_destroy(td);
    checker.assert_clean();
}

#[test]
fn free_of_a_coherent_allocation_into_a_pool_is_foreign() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("qh", &dev, 96, 32, 0).unwrap();
    let block = alloc(&pool);
    let mut handle = 0;
    let ring = dma_alloc_coherent(&dev, 256, &mut handle, Gfp::KERNEL);
    assert!(!ring.is_null());

    dma_pool_free(&pool, ring, handle);

    let v = single_violation(&checker, &POOL_FREE_FOREIGN);
    assert_eq!(v.detail_u64("dma_addr"), Some(handle));
    assert_eq!(v.detail_u64("cpu_addr"), Some(ring.addr() as u64));
    assert!(
        checker
            .live_entries()
            .iter()
            .any(|e| e.dma_addr() == handle),
        "the coherent allocation is untouched"
    );
    checker.take_violations();
    dma_free_coherent(&dev, 256, ring, handle);
    dma_pool_free(&pool, block.0, block.1);
    dma_pool_destroy(pool);
    checker.assert_clean();
}

#[test]
fn free_of_an_address_inside_a_block_is_foreign() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("qh", &dev, 96, 32, 0).unwrap();
    let (cpu, dma) = alloc(&pool);

    dma_pool_free(&pool, cpu.wrapping_add(32), dma + 32);

    let v = single_violation(&checker, &POOL_FREE_FOREIGN);
    assert_eq!(v.detail_u64("dma_addr"), Some(dma + 32));
    assert_eq!(pool.busy(), 1);
    checker.take_violations();
    dma_pool_free(&pool, cpu, dma);
    dma_pool_destroy(pool);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// pool-free-mismatch

#[test]
fn free_with_the_vaddr_of_one_block_and_the_dma_of_another_is_a_mismatch() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("qh", &dev, 96, 32, 0).unwrap();
    let (a_cpu, a_dma) = alloc(&pool);
    let (b_cpu, b_dma) = alloc(&pool);

    let line = line!() + 1;
    dma_pool_free(&pool, a_cpu, b_dma);

    let v = single_violation(&checker, &POOL_FREE_MISMATCH);
    assert_eq!(v.call, "dma_pool_free");
    assert_eq!(v.detail_u64("dma_addr"), Some(b_dma));
    assert_eq!(v.detail_u64("cpu_addr"), Some(a_cpu.addr() as u64));
    assert_eq!(
        v.detail_u64("block_cpu_addr"),
        Some(b_cpu.addr() as u64),
        "names the CPU address of the DMA address's block"
    );
    assert_site(&v.site, FILE, line);
    assert_eq!(pool.busy(), 2, "neither block is freed");

    checker.take_violations();
    dma_pool_free(&pool, a_cpu, a_dma);
    dma_pool_free(&pool, b_cpu, b_dma);
    dma_pool_destroy(pool);
    checker.assert_clean();
}

#[test]
fn free_with_both_addresses_alloc_returned_is_silent() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("qh", &dev, 96, 32, 0).unwrap();
    let (a_cpu, a_dma) = alloc(&pool);
    let (b_cpu, b_dma) = alloc(&pool);

    // Freed in the other order than allocated: each block by its own pair of addresses.
    dma_pool_free(&pool, b_cpu, b_dma);
    dma_pool_free(&pool, a_cpu, a_dma);

    assert_eq!(checker.count(&POOL_FREE_MISMATCH), 0);
    assert_eq!(pool.busy(), 0);
    dma_pool_destroy(pool);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// pool-double-free

#[test]
fn double_free_names_the_first_free() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("qh", &dev, 96, 32, 0).unwrap();
    let (cpu, dma) = alloc(&pool);
    let keep = alloc(&pool);

    let first = line!() + 1;
    dma_pool_free(&pool, cpu, dma);
    let second = line!() + 1;
    dma_pool_free(&pool, cpu, dma);
    dma_pool_free(&pool, cpu, dma);

    let all = checker.violations();
    assert_eq!(
        rule_ids(&checker),
        [POOL_DOUBLE_FREE.id, POOL_DOUBLE_FREE.id]
    );
    let v = &all[0];
    assert_eq!(v.call, "dma_pool_free");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("cpu_addr"), Some(cpu.addr() as u64));
    assert_site(&v.site, FILE, second);
    let related = v.related.as_ref().expect("names the first free");
    assert_eq!(related.label, "first freed at");
    assert_site(&related.site, FILE, first);
    let third = all[1].related.as_ref().expect("names the first free");
    assert_site(&third.site, FILE, first);
    assert_eq!(pool.busy(), 1, "the other block is untouched");

    checker.take_violations();
    dma_pool_free(&pool, keep.0, keep.1);
    // The block went back once, so the pool hands it out once: more blocks than a page holds
    // are all different.
    let blocks: Vec<_> = (0..2 * PAGE_SIZE / 96).map(|_| alloc(&pool)).collect();
    assert_disjoint(&blocks, 96);
    assert_eq!(blocks.iter().filter(|b| b.1 == dma).count(), 1);
    for (cpu, dma) in blocks {
        dma_pool_free(&pool, cpu, dma);
    }
    dma_pool_destroy(pool);
    checker.assert_clean();
}

#[test]
fn free_alloc_free_of_the_same_block_is_silent() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("qh", &dev, 96, 32, 0).unwrap();
    for _ in 0..5 {
        let (cpu, dma) = alloc(&pool);
        dma_pool_free(&pool, cpu, dma);
    }
    dma_pool_destroy(pool);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// pool-write-after-free

#[test]
fn write_to_a_freed_block_is_reported_when_it_is_handed_out_again() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("qh", &dev, 96, 32, 0).unwrap();
    let (cpu, dma) = alloc(&pool);
    let freed = line!() + 1;
    dma_pool_free(&pool, cpu, dma);
    // A stale pointer: the driver writes the freed block (byte 5).
    checker.cpu_write(cpu.wrapping_add(5), &[0x42]).unwrap();
    assert!(checker.violations().is_empty(), "caught at the next alloc");

    let mut again_dma = 0;
    let line = line!() + 1;
    let again = dma_pool_alloc(&pool, Gfp::KERNEL, &mut again_dma);

    let v = single_violation(&checker, &POOL_WRITE_AFTER_FREE);
    assert_eq!(v.call, "dma_pool_alloc");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("size"), Some(96));
    assert!(v.message.contains("byte 5"), "{}", v.message);
    assert_site(&v.site, FILE, line);
    let related = v.related.as_ref().expect("names the last free");
    assert_eq!(related.label, "last freed at");
    assert_site(&related.site, FILE, freed);
    assert_eq!(
        (again, again_dma),
        (cpu, dma),
        "the block is still handed out"
    );

    checker.take_violations();
    dma_pool_free(&pool, again, again_dma);
    dma_pool_destroy(pool);
    checker.assert_clean();
}

#[test]
fn write_after_free_names_the_last_free_not_the_first() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("qh", &dev, 96, 32, 0).unwrap();
    let (cpu, dma) = alloc(&pool);
    dma_pool_free(&pool, cpu, dma);
    let (cpu, dma) = alloc(&pool);
    let last = line!() + 1;
    dma_pool_free(&pool, cpu, dma);
    // The device writes the freed block (a stale descriptor address).
    dev.dma_write(dma + 95, &[0]).unwrap();

    let (again, again_dma) = alloc(&pool);

    let v = single_violation(&checker, &POOL_WRITE_AFTER_FREE);
    assert!(v.message.contains("byte 95"), "{}", v.message);
    assert_site(&v.related.as_ref().expect("last free").site, FILE, last);
    checker.take_violations();
    dma_pool_free(&pool, again, again_dma);
    dma_pool_destroy(pool);
    checker.assert_clean();
}

#[test]
fn writes_beside_a_freed_block_do_not_count_as_writes_after_free() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("qh", &dev, 96, 32, 0).unwrap();
    let (a_cpu, a_dma) = alloc(&pool);
    let (b_cpu, b_dma) = alloc(&pool);
    dma_pool_free(&pool, a_cpu, a_dma);
    // Block b is live: writing all of it is fine.
    checker.cpu_write(b_cpu, &[0x11; 96]).unwrap();
    let (c_cpu, c_dma) = alloc(&pool);
    assert_eq!(c_dma, a_dma);
    dma_pool_free(&pool, b_cpu, b_dma);
    dma_pool_free(&pool, c_cpu, c_dma);
    dma_pool_destroy(pool);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// pool-destroy-busy

#[test]
fn destroy_with_busy_blocks_reports_each_with_its_alloc_site_and_keeps_its_page() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    // Two blocks per page.
    let pool = dma_pool_create("big", &dev, 2048, 2048, 0).unwrap();
    let a = alloc(&pool);
    let b_line = line!() + 1;
    let b = alloc(&pool);
    let c_line = line!() + 1;
    let c = alloc(&pool);
    let d = alloc(&pool);
    let e = alloc(&pool); // a third page
    let page_of = |dma: DmaAddr| dma / PAGE_SIZE as u64;
    assert_eq!(page_of(a.1), page_of(b.1));
    assert_eq!(page_of(c.1), page_of(d.1));
    assert_ne!(page_of(a.1), page_of(c.1));
    assert_eq!(checker.live_entries().len(), 3, "three pages");
    checker.cpu_write(b.0, b"still in use").unwrap();
    // b and c stay busy; the third page is all free.
    for (cpu, dma) in [a, d, e] {
        dma_pool_free(&pool, cpu, dma);
    }

    let destroy_line = line!() + 1;
    dma_pool_destroy(pool);

    let mut busy = checker.violations();
    assert_eq!(
        rule_ids(&checker),
        [POOL_DESTROY_BUSY.id, POOL_DESTROY_BUSY.id]
    );
    busy.sort_by_key(|v| v.detail_u64("dma_addr"));
    for (v, (block, line)) in busy.iter().zip([(b, b_line), (c, c_line)]) {
        assert_eq!(v.call, "dma_pool_destroy");
        assert_eq!(v.detail_u64("dma_addr"), Some(block.1));
        assert_eq!(v.detail_u64("size"), Some(2048));
        assert_eq!(v.mapped_by, Some("dma_pool_alloc"));
        assert_site(v.mapped_at.as_ref().expect("the alloc site"), FILE, line);
        assert_site(&v.site, FILE, destroy_line);
        let text = v.to_string();
        let mapped = text
            .lines()
            .find(|l| l.trim_start().starts_with("mapped by dma_pool_alloc at"))
            .unwrap_or_else(|| panic!("no \"mapped by dma_pool_alloc at\" line: {text}"));
        assert!(
            mapped.contains(&format!("{FILE}:{line}:")),
            "the line names the alloc site: {mapped}"
        );
    }

    // The busy blocks' pages are still live coherent memory; the free page was released.
    let live = checker.live_entries();
    assert_eq!(live.len(), 2, "only the pages with busy blocks are kept");
    for block in [b, c] {
        assert!(
            live.iter()
                .any(|e| e.kind() == MapKind::Coherent && e.contains(block.1)),
            "the page of {:#x} is kept",
            block.1
        );
    }
    let mut seen = [0u8; 12];
    dev.dma_read(b.1, &mut seen).unwrap();
    assert_eq!(&seen, b"still in use", "busy memory is not released");
    checker.take_violations();
    assert!(checker.violations().is_empty());
}

#[test]
fn destroy_after_every_block_is_freed_is_silent_and_frees_the_pages() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("qh", &dev, 512, 64, 0).unwrap();
    let blocks: Vec<_> = (0..20).map(|_| alloc(&pool)).collect();
    assert!(checker.live_entries().len() > 1, "several pages");
    for (cpu, dma) in blocks {
        dma_pool_free(&pool, cpu, dma);
    }
    dma_pool_destroy(pool);
    assert_eq!(checker.live_entries().len(), 0);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// pool-in-atomic

#[test]
fn create_and_destroy_under_a_spinlock_are_reported() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let lock = SpinLock::new(());

    let guard = lock.lock();
    let create_line = line!() + 1;
    let pool = dma_pool_create("qh", &dev, 96, 32, 0);
    drop(guard);

    let v = single_violation(&checker, &POOL_IN_ATOMIC);
    assert_eq!(v.call, "dma_pool_create");
    assert!(v.message.contains("spinlock"), "{}", v.message);
    assert_site(&v.site, FILE, create_line);
    let pool = pool.expect("the pool is still created");
    checker.take_violations();

    // A pool with a page, destroyed with the lock held (IRQs stay enabled).
    let (cpu, dma) = alloc(&pool);
    dma_pool_free(&pool, cpu, dma);
    let guard = lock.lock();
    let destroy_line = line!() + 1;
    dma_pool_destroy(pool);
    drop(guard);

    let v = single_violation(&checker, &POOL_IN_ATOMIC);
    assert_eq!(v.call, "dma_pool_destroy");
    assert_site(&v.site, FILE, destroy_line);
    assert_eq!(checker.live_entries().len(), 0, "the destroy still happens");
}

#[test]
fn create_and_destroy_in_a_hard_irq_handler_are_reported() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = run_in_hardirq(|| dma_pool_create("qh", &dev, 96, 32, 0)).unwrap();
    run_in_hardirq(|| dma_pool_destroy(pool));
    let all = checker.violations();
    assert_eq!(rule_ids(&checker), [POOL_IN_ATOMIC.id, POOL_IN_ATOMIC.id]);
    assert_eq!(all[0].call, "dma_pool_create");
    assert_eq!(all[1].call, "dma_pool_destroy");
    for v in &all {
        assert!(v.message.contains("hard IRQ"), "{}", v.message);
    }
}

#[test]
fn destroy_of_a_pool_with_pages_in_a_hard_irq_handler_is_reported_and_still_frees_them() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("qh", &dev, 96, 32, 0).unwrap();
    let (cpu, dma) = alloc(&pool);
    dma_pool_free(&pool, cpu, dma);
    assert_eq!(checker.live_entries().len(), 1);

    let line = line!() + 1;
    run_in_hardirq(|| dma_pool_destroy(pool));

    // Freeing the pages with IRQs off is reported too, as the kernel's WARN would.
    let found = checker.violations();
    let v = found
        .iter()
        .find(|v| v.rule.id == POOL_IN_ATOMIC.id)
        .unwrap_or_else(|| panic!("no pool-in-atomic: {:?}", rule_ids(&checker)));
    assert_eq!(v.call, "dma_pool_destroy");
    assert_site(&v.site, FILE, line);
    assert_eq!(checker.live_entries().len(), 0, "the page is freed");
}

#[test]
fn create_and_destroy_in_process_context_are_silent() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let lock = SpinLock::new(0);
    // A lock taken and released before: the context is process context again.
    *lock.lock_irqsave() += 1;
    let pool = dma_pool_create("qh", &dev, 96, 32, 0).unwrap();
    let (cpu, dma) = alloc(&pool);
    dma_pool_free(&pool, cpu, dma);
    dma_pool_destroy(pool);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// sleeping-alloc-in-atomic for pool allocations

#[test]
fn gfp_atomic_pool_allocs_in_a_hard_irq_handler_are_silent() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("td", &dev, 64, 64, 0).unwrap();
    // The pool is empty: the handler's allocation also allocates the pool's first page.
    let blocks = run_in_hardirq(|| {
        let blocks: Vec<_> = (0..3)
            .map(|_| {
                let mut dma = 0;
                let cpu = dma_pool_alloc(&pool, Gfp::ATOMIC, &mut dma);
                assert!(!cpu.is_null());
                (cpu, dma)
            })
            .collect();
        // A block freed in the handler too.
        dma_pool_free(&pool, blocks[2].0, blocks[2].1);
        blocks
    });
    for &(cpu, dma) in &blocks[..2] {
        dma_pool_free(&pool, cpu, dma);
    }
    dma_pool_destroy(pool);
    checker.assert_clean();
}

#[test]
fn gfp_kernel_pool_alloc_in_a_hard_irq_handler_is_reported() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("td", &dev, 64, 64, 0).unwrap();
    // A free block is ready, so the pool needs no new page.
    let (cpu, dma) = alloc(&pool);
    dma_pool_free(&pool, cpu, dma);

    let line = line!() + 3;
    let (cpu, dma) = run_in_hardirq(|| {
        let mut dma = 0;
        let cpu = dma_pool_alloc(&pool, Gfp::KERNEL, &mut dma);
        (cpu, dma)
    });

    let v = single_violation(&checker, &SLEEPING_ALLOC_IN_ATOMIC);
    assert_eq!(v.call, "dma_pool_alloc");
    assert!(v.message.contains("hard IRQ"), "{}", v.message);
    assert_eq!(v.detail_u64("size"), Some(64));
    assert_site(&v.site, FILE, line);
    assert!(!cpu.is_null(), "the allocation is still carried out");
    checker.take_violations();
    dma_pool_free(&pool, cpu, dma);
    dma_pool_destroy(pool);
    checker.assert_clean();
}

#[test]
fn gfp_kernel_pool_alloc_of_a_new_page_in_a_hard_irq_handler_is_reported_once() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("td", &dev, 64, 64, 0).unwrap();

    let (cpu, dma) = run_in_hardirq(|| {
        let mut dma = 0;
        let cpu = dma_pool_alloc(&pool, Gfp::KERNEL, &mut dma);
        (cpu, dma)
    });

    let v = single_violation(&checker, &SLEEPING_ALLOC_IN_ATOMIC);
    assert_eq!(v.call, "dma_pool_alloc", "the driver called dma_pool_alloc");
    checker.take_violations();
    dma_pool_free(&pool, cpu, dma);
    dma_pool_destroy(pool);
    checker.assert_clean();
}

#[test]
fn gfp_kernel_pool_alloc_under_a_spinlock_is_reported() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("td", &dev, 64, 64, 0).unwrap();
    let (cpu, dma) = alloc(&pool);
    dma_pool_free(&pool, cpu, dma);
    let lock = SpinLock::new(());
    let guard = lock.lock_bh();
    let mut dma = 0;
    let cpu = dma_pool_alloc(&pool, Gfp::KERNEL, &mut dma);
    drop(guard);
    let v = single_violation(&checker, &SLEEPING_ALLOC_IN_ATOMIC);
    assert_eq!(v.call, "dma_pool_alloc");
    checker.take_violations();
    dma_pool_free(&pool, cpu, dma);
    dma_pool_destroy(pool);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// pool-use-after-destroy

#[test]
fn alloc_from_a_destroyed_pool_is_refused_and_reported() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("qh", &dev, 96, 32, 0).unwrap();
    let stale = pool.clone();
    dma_pool_destroy(pool);
    assert!(checker.violations().is_empty());

    let mut dma = 0;
    let line = line!() + 1;
    let cpu = dma_pool_alloc(&stale, Gfp::KERNEL, &mut dma);

    assert!(cpu.is_null());
    assert_eq!(dma, DMA_MAPPING_ERROR);
    let v = single_violation(&checker, &POOL_USE_AFTER_DESTROY);
    assert_eq!(v.call, "dma_pool_alloc");
    assert!(v.message.contains("\"qh\""), "{}", v.message);
    assert_site(&v.site, FILE, line);
    assert_eq!(checker.live_entries().len(), 0, "no page was allocated");
}

#[test]
fn free_to_a_destroyed_pool_and_a_second_destroy_are_reported() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("qh", &dev, 96, 32, 0).unwrap();
    let stale = pool.clone();
    let (cpu, dma) = alloc(&pool);
    dma_pool_destroy(pool);
    assert_eq!(rule_ids(&checker), [POOL_DESTROY_BUSY.id]);
    checker.take_violations();

    let free_line = line!() + 1;
    dma_pool_free(&stale, cpu, dma);
    let destroy_line = line!() + 1;
    dma_pool_destroy(stale.clone());

    let all = checker.violations();
    assert_eq!(
        rule_ids(&checker),
        [POOL_USE_AFTER_DESTROY.id, POOL_USE_AFTER_DESTROY.id]
    );
    assert_eq!(all[0].call, "dma_pool_free");
    assert_eq!(all[0].detail_u64("dma_addr"), Some(dma));
    assert_site(&all[0].site, FILE, free_line);
    assert_eq!(all[1].call, "dma_pool_destroy");
    assert_site(&all[1].site, FILE, destroy_line);
    assert_eq!(stale.busy(), 0);
}

#[test]
fn a_pool_used_until_its_destroy_and_a_new_pool_after_it_are_silent() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("qh", &dev, 96, 32, 0).unwrap();
    let (cpu, dma) = alloc(&pool);
    dma_pool_free(&pool, cpu, dma);
    dma_pool_destroy(pool);
    // A pool of the same name made after the destroy is a new pool.
    let again = dma_pool_create("qh", &dev, 96, 32, 0).unwrap();
    let (cpu, dma) = alloc(&again);
    dma_pool_free(&again, cpu, dma);
    dma_pool_destroy(again);

    assert_eq!(checker.count(&POOL_USE_AFTER_DESTROY), 0);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// Fault injection

/// A driver that allocates `n` blocks and copes with failures; returns how many failed.
fn careful_pool_user(dev: &Device, n: usize) -> usize {
    let pool = dma_pool_create("rx", dev, 256, 64, 4096).expect("valid parameters");
    let mut blocks = Vec::new();
    let mut failed = 0;
    for _ in 0..n {
        let mut dma = 0;
        let cpu = dma_pool_alloc(&pool, Gfp::KERNEL, &mut dma);
        if cpu.is_null() {
            assert_eq!(dma, DMA_MAPPING_ERROR, "a failed alloc returns no handle");
            failed += 1;
            continue;
        }
        blocks.push((cpu, dma));
    }
    for (cpu, dma) in blocks {
        dma_pool_free(&pool, cpu, dma);
    }
    dma_pool_destroy(pool);
    failed
}

#[test]
fn injected_pool_failures_return_null_and_a_careful_driver_stays_clean() {
    let (calls, every) = (12, 3);
    let checker = quiet()
        .fail(FaultSpec::every(FaultKind::Pool, every as u64))
        .build();
    let dev = device(&checker, "ehci0");
    let failed = careful_pool_user(&dev, calls);
    assert_eq!(failed, calls / every, "every third allocation fails");
    assert_eq!(checker.faults_injected(), failed as u64);
    checker.assert_clean();
}

#[test]
fn injected_pool_failures_within_a_budget_and_per_device() {
    let checker = quiet()
        .fail(
            FaultSpec::every(FaultKind::Pool, 1)
                .device("ehci1")
                .budget(2),
        )
        .build();
    let spared = device(&checker, "ehci0");
    let failing = device(&checker, "ehci1");
    assert_eq!(careful_pool_user(&spared, 5), 0, "another device");
    assert_eq!(careful_pool_user(&failing, 5), 2, "the budget");
    assert_eq!(checker.faults_injected(), 2);
    checker.assert_clean();
}

#[test]
fn a_failing_page_allocation_makes_the_pool_alloc_fail_cleanly() {
    let checker = quiet()
        .fail(FaultSpec::every(FaultKind::Alloc, 1).budget(1))
        .build();
    let dev = device(&checker, "ehci0");
    let failed = careful_pool_user(&dev, 3);
    assert_eq!(
        failed, 1,
        "the first page allocation fails, then a retry succeeds"
    );
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// invalid-pool
//
// A C-ABI rule (a Rust pool is a type); the firing cases are in tests/c/pool_rules.c.

/// The pool calls of the C ABI (`<linux/dmapool.h>`), on the process-wide checker (a loom build
/// leaves the C ABI out).
#[cfg(not(loom))]
mod c_pool_abi {
    use std::ffi::{c_char, c_uint, c_void};

    unsafe extern "C" {
        pub fn dmacheck_device_create(
            name: *const c_char,
            driver: *const c_char,
            mask: u64,
        ) -> *mut c_void;
        pub fn dmacheck_device_release(dev: *mut c_void);
        pub fn dma_pool_create(
            name: *const c_char,
            dev: *mut c_void,
            size: usize,
            align: usize,
            boundary: usize,
        ) -> *mut c_void;
        pub fn dma_pool_alloc(pool: *mut c_void, flags: c_uint, handle: *mut u64) -> *mut c_void;
        pub fn dma_pool_free(pool: *mut c_void, vaddr: *mut c_void, addr: u64);
        pub fn dma_pool_destroy(pool: *mut c_void);
    }
}

/// The process-wide checker's `invalid-pool` reports (the C ABI's checker).
#[cfg(not(loom))]
fn invalid_pools() -> usize {
    Checker::global()
        .violations()
        .iter()
        .filter(|v| v.rule.id == dmacheck::rules::INVALID_POOL.id)
        .count()
}

#[test]
#[cfg(not(loom))]
fn pools_dma_pool_create_returned_are_never_invalid_pool() {
    use c_pool_abi::*;
    let name = std::ffi::CString::new("cpool0").unwrap();
    let before = invalid_pools();
    // SAFETY: the calls get what the C API documents: NUL-terminated names, the device and pool
    // these calls returned, and a block with the handle the pool gave for it.
    unsafe {
        let dev = dmacheck_device_create(name.as_ptr(), name.as_ptr(), u64::MAX);
        let pool = dma_pool_create(name.as_ptr(), dev, 64, 8, 0);
        assert!(!pool.is_null());
        let mut handle = 0u64;
        let block = dma_pool_alloc(pool, 0, &mut handle);
        assert!(!block.is_null());
        dma_pool_free(pool, block, handle);
        dma_pool_destroy(pool);
        dma_pool_destroy(std::ptr::null_mut());
        dmacheck_device_release(dev);
    }
    assert_eq!(invalid_pools() - before, 0);
}
