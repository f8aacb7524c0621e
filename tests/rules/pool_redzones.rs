//! `pool-overrun`: the padding after each DMA pool block is a redzone, so a block written past
//! its end is reported as that block's overrun, at its free, the next block's free or alloc, or
//! the pool's destroy, even when the write reached into the next block.

use crate::common;

use common::{assert_mapped_at, assert_site, checker, device, quiet, rule_ids, single_violation};
use dmacheck::rules::{POOL_OVERRUN, POOL_REDZONE};
use dmacheck::*;

const FILE: &str = "pool_redzones.rs";

/// A block from `pool`, which must not fail.
#[track_caller]
fn alloc(pool: &DmaPool) -> (*mut u8, DmaAddr) {
    let mut dma = 0;
    let cpu = dma_pool_alloc(pool, Gfp::KERNEL, &mut dma);
    assert!(!cpu.is_null(), "dma_pool_alloc failed");
    (cpu, dma)
}

#[test]
fn a_write_into_the_padding_is_reported_at_the_blocks_free() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    // 96-byte blocks 128 bytes apart: 32 bytes of redzone each.
    let pool = dma_pool_create("qh", &dev, 96, 64, 0).unwrap();
    let alloc_line = line!() + 1;
    let (cpu, dma) = alloc(&pool);
    checker.cpu_write(cpu, &[0x11; 100]).unwrap();
    assert!(checker.violations().is_empty(), "caught at the free");
    let free_line = line!() + 1;
    dma_pool_free(&pool, cpu, dma);

    let v = single_violation(&checker, &POOL_OVERRUN);
    assert_eq!(v.call, "dma_pool_free");
    assert_eq!(v.detail_u64("dma_addr"), Some(dma));
    assert_eq!(v.detail_u64("size"), Some(96));
    assert_eq!(v.detail_u64("overrun"), Some(4));
    assert!(v.message.contains("\"qh\""), "{}", v.message);
    assert_mapped_at(&v, FILE, alloc_line);
    assert_site(&v.site, FILE, free_line);
    checker.take_violations();
    // Reported once: the redzone is whole again.
    let (cpu, dma) = alloc(&pool);
    dma_pool_free(&pool, cpu, dma);
    dma_pool_destroy(pool);
    checker.assert_clean();
}

#[test]
fn an_overrun_into_the_next_allocated_block_is_the_writers_at_that_blocks_free() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("qh", &dev, 96, 64, 0).unwrap();
    let a_line = line!() + 1;
    let (a, a_dma) = alloc(&pool);
    let (b, b_dma) = alloc(&pool);
    assert_eq!(b_dma, a_dma + 128, "b follows a");
    // The device writes a descriptor 8 bytes too long, from a through its redzone into b.
    dev.dma_write(a_dma, &[0x22; 136]).unwrap();
    dma_pool_free(&pool, b, b_dma);

    let v = single_violation(&checker, &POOL_OVERRUN);
    assert_eq!(v.detail_u64("dma_addr"), Some(a_dma), "the writer, not b");
    assert_eq!(v.detail_u64("overrun"), Some(32));
    assert_mapped_at(&v, FILE, a_line);
    checker.take_violations();
    dma_pool_free(&pool, a, a_dma);
    dma_pool_destroy(pool);
    checker.assert_clean();
}

#[test]
fn an_overrun_into_a_free_block_is_the_writers_not_a_write_after_free() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("qh", &dev, 96, 64, 0).unwrap();
    let a_line = line!() + 1;
    let (a, a_dma) = alloc(&pool);
    let (b, b_dma) = alloc(&pool);
    dma_pool_free(&pool, b, b_dma);
    checker.cpu_write(a, &[0x33; 140]).unwrap();
    // b is handed out again: its poison is broken by a's overrun.
    let (b, again) = alloc(&pool);
    assert_eq!(again, b_dma);
    let v = single_violation(&checker, &POOL_OVERRUN);
    assert_eq!(v.call, "dma_pool_alloc");
    assert_eq!(v.detail_u64("dma_addr"), Some(a_dma));
    assert_mapped_at(&v, FILE, a_line);
    checker.take_violations();
    dma_pool_free(&pool, b, again);
    dma_pool_free(&pool, a, a_dma);
    dma_pool_destroy(pool);
    checker.assert_clean();
}

#[test]
fn an_overrun_of_a_block_never_freed_is_reported_at_destroy() {
    let checker = checker();
    let dev = device(&checker, "ehci0");
    let pool = dma_pool_create("td", &dev, 40, 16, 0).unwrap();
    let (_, _) = alloc(&pool);
    let a_line = line!() + 1;
    let (a, a_dma) = alloc(&pool);
    checker.cpu_write(a.wrapping_add(40), &[0]).unwrap();
    dma_pool_free(&pool, a, a_dma);
    assert_mapped_at(&single_violation(&checker, &POOL_OVERRUN), FILE, a_line);
    checker.take_violations();
    let (a, a_dma) = alloc(&pool);
    checker.cpu_write(a.wrapping_add(47), &[0]).unwrap();
    let destroy_line = line!() + 1;
    dma_pool_destroy(pool);
    let ids = rule_ids(&checker);
    assert_eq!(
        ids,
        ["pool-overrun", "pool-destroy-busy", "pool-destroy-busy"]
    );
    let v = single_violation_of(&checker, "pool-overrun");
    assert_eq!(v.detail_u64("dma_addr"), Some(a_dma));
    assert_eq!(v.detail_u64("overrun"), Some(8));
    assert_site(&v.site, FILE, destroy_line);
}

/// The one violation of rule `id` among several.
fn single_violation_of(checker: &Checker, id: &str) -> report::Violation {
    let mut of: Vec<_> = checker
        .violations()
        .into_iter()
        .filter(|v| v.rule.id == id)
        .collect();
    assert_eq!(of.len(), 1, "{id}");
    of.remove(0)
}

#[test]
fn blocks_without_padding_get_a_redzone_only_with_the_option() {
    for (redzone, apart) in [(false, 64), (true, 128)] {
        let checker = quiet().pool_redzone(redzone).build();
        let dev = device(&checker, "xhci0");
        let pool = dma_pool_create("trb", &dev, 64, 64, 0).unwrap();
        let (a, a_dma) = alloc(&pool);
        let (b, b_dma) = alloc(&pool);
        assert_eq!(b_dma - a_dma, apart);
        // One byte too many.
        checker.cpu_write(a, &[0x44; 65]).unwrap();
        dma_pool_free(&pool, a, a_dma);
        let expected: &[&str] = if redzone { &["pool-overrun"] } else { &[] };
        assert_eq!(rule_ids(&checker), expected, "redzone {redzone}");
        checker.take_violations();
        dma_pool_free(&pool, b, b_dma);
        dma_pool_destroy(pool);
        if !redzone {
            // Without padding the byte landed in b, which was live: nothing can tell.
            assert!(checker.violations().is_empty());
        }
        checker.assert_clean();
    }
}

#[test]
fn blocks_used_within_their_size_are_silent_with_redzones_everywhere() {
    let checker = quiet().pool_redzone(true).build();
    let dev = device(&checker, "ehci0");
    for (size, align) in [(96, 64), (64, 64), (40, 16), (8, 1), (4096, 4096)] {
        let pool = dma_pool_create("qh", &dev, size, align, 0).unwrap();
        let blocks: Vec<_> = (0..5).map(|_| alloc(&pool)).collect();
        for &(cpu, dma) in &blocks {
            checker.cpu_write(cpu, &vec![0x55; size]).unwrap();
            dev.dma_write(dma, &vec![0x66; size]).unwrap();
        }
        for (cpu, dma) in blocks {
            dma_pool_free(&pool, cpu, dma);
        }
        let (cpu, dma) = alloc(&pool);
        dma_pool_free(&pool, cpu, dma);
        dma_pool_destroy(pool);
    }
    checker.assert_clean();
    assert_eq!(POOL_REDZONE, 0xbb);
}
