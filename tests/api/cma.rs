//! The Contiguous Memory Allocator: `dma_alloc_from_contiguous` with its alignment clamp,
//! `dma_release_from_contiguous` and its return value, the release rules
//! (`cma-release-count-mismatch`, `cma-double-release`), leaks at device release, and the
//! failure path the review of the original patch found broken: a failure inside an allocation
//! must leave the area's bitmap as it was.

use crate::common;

use common::{assert_site, checker, device, quiet, rule_ids, single_violation};
use dmacheck::rules::{
    CMA_DOUBLE_RELEASE, CMA_RELEASE_COUNT_MISMATCH, LEAK, SLEEPING_ALLOC_IN_ATOMIC,
};
use dmacheck::*;

const FILE: &str = "cma.rs";

// ---------------------------------------------------------------------------------------------
// Helpers of this file (the shared ones are in tests/common)

/// The page frame number of a page.
fn pfn(checker: &Checker, page: Page) -> u64 {
    virt_to_phys(checker, page_address(page)).expect("DMA memory") >> PAGE_SHIFT
}

/// The page's offset in the area, in pages.
fn offset(checker: &Checker, area: &CmaArea, page: Page) -> u64 {
    let (base, count) = area.range();
    let pfn = pfn(checker, page);
    assert!(
        (base..base + count).contains(&pfn),
        "pfn {pfn:#x} outside the area"
    );
    pfn - base
}

/// The page `pages` pages after `page` (or before, if negative).
fn page_at(page: Page, pages: isize) -> Page {
    virt_to_page(page_address(page).wrapping_offset(pages * PAGE_SIZE as isize)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Alignment and its clamp

#[test]
fn allocations_are_aligned_to_their_order_up_to_the_default_clamp() {
    let checker = checker();
    let area = checker.declare_cma(2048).unwrap();
    let dev = device(&checker, "isp0");
    let (base, _) = area.range();

    let one = dma_alloc_from_contiguous(&dev, 1, 0).unwrap();
    let at_one = offset(&checker, &area, one);
    let thirty_two = dma_alloc_from_contiguous(&dev, 3, 5).unwrap();
    let at_32 = offset(&checker, &area, thirty_two);
    assert_eq!(at_32, (at_one + 1).next_multiple_of(1 << 5));
    assert_eq!(pfn(&checker, thirty_two) % (1 << 5), 0);

    // Order 10 is above CMA_ALIGNMENT: aligned to 2^CMA_ALIGNMENT pages only.
    let clamped = dma_alloc_from_contiguous(&dev, 2, 10).unwrap();
    let at = offset(&checker, &area, clamped);
    let limit = 1u64 << CMA_ALIGNMENT;
    assert_eq!(at, (at_32 + 3).next_multiple_of(limit));
    assert_eq!(pfn(&checker, clamped) % limit, 0);
    assert_ne!(
        (base + at) % (1 << 10),
        0,
        "not aligned to the order asked for"
    );

    assert!(dma_release_from_contiguous(&dev, one, 1));
    assert!(dma_release_from_contiguous(&dev, thirty_two, 3));
    assert!(dma_release_from_contiguous(&dev, clamped, 2));
    assert_eq!(area.free_pages(), 2048);
    dev.release();
    checker.assert_clean();
}

#[test]
fn the_alignment_clamp_can_be_lowered() {
    let checker = checker();
    let max_order = 2;
    let area = checker.declare_cma_with_max_order(64, max_order).unwrap();
    let dev = checker.device("isp0").cma(&area).build();
    let limit = 1u64 << max_order;

    let first = dma_alloc_from_contiguous(&dev, 1, 0).unwrap();
    assert_eq!(offset(&checker, &area, first), 0);
    // Order 5 asks for 32 pages of alignment; the area honors 4.
    let second = dma_alloc_from_contiguous(&dev, 1, 5).unwrap();
    let at = offset(&checker, &area, second);
    assert_eq!(at, 1u64.next_multiple_of(limit));
    assert_ne!(at % 32, 0, "clamped");
    assert_eq!(pfn(&checker, second) % limit, 0);
    // The clamp itself is honored.
    let third = dma_alloc_from_contiguous(&dev, 2, max_order).unwrap();
    assert_eq!(
        offset(&checker, &area, third),
        (at + 1).next_multiple_of(limit)
    );

    for (page, count) in [(first, 1), (second, 1), (third, 2)] {
        assert!(dma_release_from_contiguous(&dev, page, count));
    }
    checker.assert_clean();
}

#[test]
fn alignment_holds_for_the_page_frame_number_in_small_areas() {
    let checker = checker();
    // Several small areas side by side: most start at no large power of two.
    let areas: Vec<CmaArea> = (0..8).map(|_| checker.declare_cma(16).unwrap()).collect();
    for (i, area) in areas.iter().enumerate() {
        let dev = checker.device(&format!("isp{i}")).cma(area).build();
        for order in 0..=CMA_ALIGNMENT {
            // Refusing is allowed (no aligned position in the area); misaligned pages are not.
            if let Some(page) = dma_alloc_from_contiguous(&dev, 1, order) {
                let pfn = pfn(&checker, page);
                assert_eq!(
                    pfn % (1 << order),
                    0,
                    "area {i} at pfn {:#x}: order {order} gave pfn {pfn:#x}",
                    area.range().0
                );
                assert!(dma_release_from_contiguous(&dev, page, 1));
            }
        }
    }
    checker.assert_clean();
}

#[test]
fn allocations_fail_when_no_aligned_run_is_free() {
    let checker = checker();
    let area = checker.declare_cma(16).unwrap();
    let dev = device(&checker, "isp0");
    let a = dma_alloc_from_contiguous(&dev, 1, 0).unwrap();
    // 16 pages cannot fit beside one; 8 aligned to 8 fit once.
    assert!(dma_alloc_from_contiguous(&dev, 16, 0).is_none());
    let b = dma_alloc_from_contiguous(&dev, 8, 3).unwrap();
    assert_eq!(offset(&checker, &area, b), 8);
    assert!(dma_alloc_from_contiguous(&dev, 8, 3).is_none());
    assert!(dma_alloc_from_contiguous(&dev, 0, 0).is_none(), "0 pages");
    assert!(
        dma_alloc_from_contiguous(&dev, 17, 0).is_none(),
        "more than the area"
    );
    assert_eq!(area.free_pages(), 16 - 1 - 8);
    assert!(checker.violations().is_empty());
    assert!(dma_release_from_contiguous(&dev, a, 1));
    assert!(dma_release_from_contiguous(&dev, b, 8));
    checker.assert_clean();
}

#[test]
fn devices_use_their_own_area_or_the_default_one() {
    let checker = checker();
    let plain = device(&checker, "plain0");
    assert!(
        dma_alloc_from_contiguous(&plain, 1, 0).is_none(),
        "no area at all"
    );
    let default = checker.declare_cma(32).unwrap();
    let own = checker.declare_cma(32).unwrap();
    let camera = checker.device("cam0").cma(&own).build();

    let p = dma_alloc_from_contiguous(&plain, 4, 0).unwrap();
    let c = dma_alloc_from_contiguous(&camera, 4, 0).unwrap();
    offset(&checker, &default, p);
    offset(&checker, &own, c);
    assert_eq!((default.free_pages(), own.free_pages()), (28, 28));
    // Each device releases into its own area only.
    assert!(!dma_release_from_contiguous(&plain, c, 4));
    assert!(!dma_release_from_contiguous(&camera, p, 4));
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    assert!(dma_release_from_contiguous(&plain, p, 4));
    assert!(dma_release_from_contiguous(&camera, c, 4));
    checker.assert_clean();
}

/// `dma_declare_contiguous` with a device gives that device an area of its own, which never
/// becomes the default of the others.
#[test]
fn a_device_declared_area_is_that_devices_own() {
    let checker = checker();
    let camera = device(&checker, "cam0");
    let plain = device(&checker, "plain0");
    let limit = checker.memory().phys_base() + (64 << 20);
    assert_eq!(
        dma_declare_contiguous(&checker, Some(&camera), 1 << 20, 0, limit),
        0
    );
    let own = camera.cma_area().expect("the camera's area");
    let (base, count) = own.range();
    assert_eq!(count, 256);
    assert!((base + count) << PAGE_SHIFT <= limit, "below the limit");
    let frame = dma_alloc_from_contiguous(&camera, 16, 4).expect("from its own area");
    assert_eq!(offset(&checker, &own, frame) % 16, 0);
    assert!(
        dma_alloc_from_contiguous(&plain, 1, 0).is_none(),
        "another device's area is no default"
    );
    // A system area is the others' default; the camera keeps its own.
    assert_eq!(dma_declare_contiguous(&checker, None, 1 << 20, 0, 0), 0);
    let p = dma_alloc_from_contiguous(&plain, 4, 0).expect("from the default area");
    assert!(camera.cma_area().is_some_and(|a| a.range() == own.range()));
    assert!(!dma_release_from_contiguous(&camera, p, 4), "not its area");
    assert!(dma_release_from_contiguous(&plain, p, 4));
    assert!(dma_release_from_contiguous(&camera, frame, 16));
    checker.assert_clean();
}

#[test]
fn declaring_a_second_area_for_a_device_or_an_empty_one_is_refused() {
    let checker = checker();
    let camera = device(&checker, "cam0");
    assert_eq!(
        dma_declare_contiguous(&checker, Some(&camera), 0, 0, 0),
        -22
    );
    assert_eq!(dma_declare_contiguous(&checker, None, 0, 0, 0), -22);
    assert_eq!(
        dma_declare_contiguous(&checker, Some(&camera), 4096, 0, 0),
        0
    );
    assert_eq!(
        dma_declare_contiguous(&checker, Some(&camera), 4096, 0, 0),
        -16
    );
    let area = checker.declare_cma(8).unwrap();
    let built = checker.device("cam1").cma(&area).build();
    assert_eq!(
        dma_declare_contiguous(&checker, Some(&built), 4096, 0, 0),
        -16
    );
    // More than memory holds.
    assert_eq!(dma_declare_contiguous(&checker, None, 1 << 40, 0, 0), -12);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// dma_release_from_contiguous: its return value

#[test]
fn release_of_pages_outside_the_area_returns_false_and_does_nothing() {
    let checker = checker();
    let area = checker.declare_cma(32).unwrap();
    let dev = device(&checker, "isp0");
    let inside = dma_alloc_from_contiguous(&dev, 32, 0).unwrap();
    let (base, count) = area.range();
    assert_eq!(pfn(&checker, inside), base);

    let ordinary = alloc_pages(&checker, Gfp::KERNEL, 0).unwrap();
    let before = page_at(inside, -1);
    let after = page_at(inside, count as isize);
    assert_eq!(pfn(&checker, before), base - 1);
    assert_eq!(pfn(&checker, after), base + count);
    for page in [ordinary, before, after] {
        assert!(!dma_release_from_contiguous(&dev, page, 1));
    }
    assert!(checker.violations().is_empty(), "{:?}", rule_ids(&checker));
    assert_eq!(area.free_pages(), 0, "nothing was released");

    assert!(dma_release_from_contiguous(&dev, inside, 32));
    assert_eq!(area.free_pages(), 32);
    free_pages(&checker, ordinary, 0);
    checker.assert_clean();
}

#[test]
fn release_inside_the_area_returns_true_and_frees_the_pages() {
    let checker = checker();
    let area = checker.declare_cma(64).unwrap();
    let dev = device(&checker, "isp0");
    let a = dma_alloc_from_contiguous(&dev, 16, 4).unwrap();
    let b = dma_alloc_from_contiguous(&dev, 16, 4).unwrap();
    assert_eq!(area.free_pages(), 32);
    assert!(dma_release_from_contiguous(&dev, a, 16));
    assert_eq!(area.free_pages(), 48);
    // The released run is allocated again.
    let c = dma_alloc_from_contiguous(&dev, 16, 4).unwrap();
    assert_eq!(c, a);
    assert!(dma_release_from_contiguous(&dev, b, 16));
    assert!(dma_release_from_contiguous(&dev, c, 16));
    assert_eq!(area.free_pages(), 64);
    // The whole area is one free run again.
    let all = dma_alloc_from_contiguous(&dev, 64, 0).unwrap();
    assert!(dma_release_from_contiguous(&dev, all, 64));
    checker.assert_clean();
}

#[test]
fn the_pages_are_real_memory_the_device_can_use() {
    let checker = checker();
    let _area = checker.declare_cma(16).unwrap();
    let dev = device(&checker, "isp0");
    let frame = dma_alloc_from_contiguous(&dev, 4, 2).unwrap();
    // Contiguous: a streaming mapping of all four pages works as one buffer.
    let dma = dma_map_page(&dev, frame, 0, 4 * PAGE_SIZE, Direction::FromDevice);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    dev.dma_write(dma + 3 * PAGE_SIZE as u64, b"last page")
        .unwrap();
    dma_unmap_page(&dev, dma, 4 * PAGE_SIZE, Direction::FromDevice);
    let mut seen = [0; 9];
    checker
        .cpu_read(page_address(frame).wrapping_add(3 * PAGE_SIZE), &mut seen)
        .unwrap();
    assert_eq!(&seen, b"last page");
    assert!(dma_release_from_contiguous(&dev, frame, 4));
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// cma-release-count-mismatch

#[test]
fn release_with_another_count_is_reported_and_releases_what_was_allocated() {
    let checker = checker();
    let area = checker.declare_cma(32).unwrap();
    let dev = device(&checker, "isp0");
    let alloc_line = line!() + 1;
    let frame = dma_alloc_from_contiguous(&dev, 8, 3).unwrap();

    let line = line!() + 1;
    let released = dma_release_from_contiguous(&dev, frame, 4);

    assert!(released);
    let v = single_violation(&checker, &CMA_RELEASE_COUNT_MISMATCH);
    assert_eq!(v.call, "dma_release_from_contiguous");
    assert_eq!(v.device, "isp0");
    assert_eq!(v.detail_u64("pfn"), Some(pfn(&checker, frame)));
    assert_eq!(v.detail_u64("count"), Some(4));
    assert_eq!(v.detail_u64("allocated"), Some(8));
    assert_eq!(v.mapped_by, Some("dma_alloc_from_contiguous"));
    assert_site(v.mapped_at.as_ref().unwrap(), FILE, alloc_line);
    assert_site(&v.site, FILE, line);
    // All eight pages went back, not four: the whole area can be allocated again.
    assert_eq!(area.free_pages(), 32);
    checker.take_violations();
    let all = dma_alloc_from_contiguous(&dev, 32, 0).unwrap();
    assert!(dma_release_from_contiguous(&dev, all, 32));
    checker.assert_clean();
}

#[test]
fn release_with_a_larger_count_does_not_free_the_neighbours() {
    let checker = checker();
    let area = checker.declare_cma(16).unwrap();
    let dev = device(&checker, "isp0");
    let a = dma_alloc_from_contiguous(&dev, 4, 0).unwrap();
    let b = dma_alloc_from_contiguous(&dev, 4, 0).unwrap();
    assert_eq!(offset(&checker, &area, b), 4);

    assert!(dma_release_from_contiguous(&dev, a, 8));

    assert_eq!(rule_ids(&checker), [CMA_RELEASE_COUNT_MISMATCH.id]);
    assert_eq!(area.free_pages(), 12, "b's pages stay allocated");
    checker.take_violations();
    // b's pages are not handed out again.
    let c = dma_alloc_from_contiguous(&dev, 8, 3).unwrap();
    assert_eq!(offset(&checker, &area, c), 8);
    assert!(dma_release_from_contiguous(&dev, b, 4));
    assert!(dma_release_from_contiguous(&dev, c, 8));
    checker.assert_clean();
}

#[test]
fn release_with_an_absurd_count_is_reported_without_a_panic() {
    let checker = checker();
    let area = checker.declare_cma(16).unwrap();
    let dev = device(&checker, "isp0");
    let frame = dma_alloc_from_contiguous(&dev, 4, 0).unwrap();
    assert!(dma_release_from_contiguous(&dev, frame, usize::MAX));
    let v = single_violation(&checker, &CMA_RELEASE_COUNT_MISMATCH);
    assert_eq!(v.detail_u64("allocated"), Some(4));
    assert_eq!(area.free_pages(), 16);
}

#[test]
fn release_with_the_count_allocated_is_silent() {
    let checker = checker();
    let area = checker.declare_cma(32).unwrap();
    let dev = device(&checker, "isp0");
    let frame = dma_alloc_from_contiguous(&dev, 8, 3).unwrap();
    let odd = dma_alloc_from_contiguous(&dev, 3, 0).unwrap();

    assert!(dma_release_from_contiguous(&dev, odd, 3));
    assert!(dma_release_from_contiguous(&dev, frame, 8));

    assert_eq!(checker.count(&CMA_RELEASE_COUNT_MISMATCH), 0);
    assert_eq!(area.free_pages(), 32);
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// cma-double-release

#[test]
fn releasing_twice_is_reported_with_the_first_release() {
    let checker = checker();
    let area = checker.declare_cma(32).unwrap();
    let dev = device(&checker, "isp0");
    let frame = dma_alloc_from_contiguous(&dev, 4, 2).unwrap();
    let keep = dma_alloc_from_contiguous(&dev, 2, 0).unwrap();
    let first = line!() + 1;
    assert!(dma_release_from_contiguous(&dev, frame, 4));
    let free_before = area.free_pages();

    let second = line!() + 1;
    let released = dma_release_from_contiguous(&dev, frame, 4);

    assert!(released, "the pages are inside the area");
    let v = single_violation(&checker, &CMA_DOUBLE_RELEASE);
    assert_eq!(v.call, "dma_release_from_contiguous");
    assert_eq!(v.detail_u64("pfn"), Some(pfn(&checker, frame)));
    assert_eq!(v.detail_u64("count"), Some(4));
    assert_site(&v.site, FILE, second);
    let related = v.related.as_ref().expect("names the first release");
    assert_eq!(related.label, "released at");
    assert_site(&related.site, FILE, first);
    assert_eq!(area.free_pages(), free_before, "nothing changes");
    checker.take_violations();
    assert!(dma_release_from_contiguous(&dev, keep, 2));
    checker.assert_clean();
}

#[test]
fn releasing_pages_never_allocated_is_reported() {
    let checker = checker();
    let area = checker.declare_cma(32).unwrap();
    let dev = device(&checker, "isp0");
    let frame = dma_alloc_from_contiguous(&dev, 8, 0).unwrap();
    // A page in the middle of the allocation, and one never allocated.
    let middle = page_at(frame, 2);
    let unused = page_at(frame, 16);
    assert!(dma_release_from_contiguous(&dev, middle, 1));
    assert!(dma_release_from_contiguous(&dev, unused, 1));
    let all = checker.violations();
    assert_eq!(
        rule_ids(&checker),
        [CMA_DOUBLE_RELEASE.id, CMA_DOUBLE_RELEASE.id]
    );
    assert_eq!(all[0].detail_u64("pfn"), Some(pfn(&checker, middle)));
    assert_eq!(all[1].detail_u64("pfn"), Some(pfn(&checker, unused)));
    assert!(all.iter().all(|v| v.related.is_none()), "never released");
    assert_eq!(area.free_pages(), 24, "the allocation is intact");
    checker.take_violations();
    assert!(dma_release_from_contiguous(&dev, frame, 8));
    checker.assert_clean();
}

#[test]
fn allocate_release_and_allocate_again_is_silent() {
    let checker = checker();
    let area = checker.declare_cma(256).unwrap();
    let dev = device(&checker, "isp0");
    for round in 0..4 {
        let frames: Vec<_> = [(3, 0), (16, 4), (1, 0), (64, 6)]
            .into_iter()
            .map(|(count, order)| {
                let page = dma_alloc_from_contiguous(&dev, count, order)
                    .unwrap_or_else(|| panic!("round {round}: {count} pages"));
                (page, count)
            })
            .collect();
        for (page, count) in frames.into_iter().rev() {
            assert!(dma_release_from_contiguous(&dev, page, count));
        }
        assert_eq!(area.free_pages(), 256);
    }
    dev.release();
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// Leaks at device release

#[test]
fn pages_still_allocated_at_device_release_are_reported_as_leaks() {
    let checker = checker();
    let _area = checker.declare_cma(64).unwrap();
    let dev = device(&checker, "isp0");
    let other = device(&checker, "isp1");
    let a_line = line!() + 1;
    let a = dma_alloc_from_contiguous(&dev, 4, 2).unwrap();
    let b_line = line!() + 1;
    let b = dma_alloc_from_contiguous(&dev, 9, 0).unwrap();
    let released = dma_alloc_from_contiguous(&dev, 2, 0).unwrap();
    assert!(dma_release_from_contiguous(&dev, released, 2));
    let others = dma_alloc_from_contiguous(&other, 1, 0).unwrap();

    let line = line!() + 1;
    dev.release();

    let mut leaks = checker.violations();
    assert_eq!(rule_ids(&checker), [LEAK.id, LEAK.id]);
    leaks.sort_by_key(|v| v.detail_u64("pfn"));
    for (v, (page, count, alloc_line)) in leaks.iter().zip([(a, 4, a_line), (b, 9, b_line)]) {
        assert_eq!(v.device, "isp0");
        assert_eq!(v.call, "device_release");
        assert_eq!(v.detail_u64("pfn"), Some(pfn(&checker, page)));
        assert_eq!(v.detail_u64("size"), Some(count * PAGE_SIZE as u64));
        assert_eq!(v.mapped_by, Some("dma_alloc_from_contiguous"));
        assert_site(v.mapped_at.as_ref().unwrap(), FILE, alloc_line);
        assert_site(&v.site, FILE, line);
    }
    // Releasing again reports nothing more; the other device's pages are not its leaks.
    checker.take_violations();
    dev.release();
    assert!(checker.violations().is_empty());
    assert!(dma_release_from_contiguous(&other, others, 1));
    other.release();
    checker.assert_clean();
}

#[test]
fn leaked_pages_stay_allocated_after_the_device_is_released() {
    let checker = checker();
    let area = checker.declare_cma(16).unwrap();
    let dev = device(&checker, "isp0");
    let _leaked = dma_alloc_from_contiguous(&dev, 8, 3).unwrap();
    dev.release();
    assert_eq!(rule_ids(&checker), [LEAK.id]);
    checker.take_violations();

    // Nobody freed them: they cannot be handed out again.
    let next = device(&checker, "isp1");
    assert!(dma_alloc_from_contiguous(&next, 16, 0).is_none());
    let rest = dma_alloc_from_contiguous(&next, 8, 0).unwrap();
    assert_ne!(offset(&checker, &area, rest), 0);
    assert!(dma_release_from_contiguous(&next, rest, 8));
    checker.assert_clean();
}

#[test]
fn free_pages_does_not_count_leaked_pages_as_free() {
    let checker = checker();
    let area = checker.declare_cma(16).unwrap();
    let dev = device(&checker, "isp0");
    let _leaked = dma_alloc_from_contiguous(&dev, 8, 3).unwrap();
    assert_eq!(area.free_pages(), 8);
    dev.release();
    checker.take_violations();
    assert_eq!(
        area.free_pages(),
        8,
        "the bitmap still holds the leaked pages"
    );
}

// ---------------------------------------------------------------------------------------------
// Context

#[test]
fn contiguous_allocation_in_a_hard_irq_handler_is_reported() {
    let checker = checker();
    let _area = checker.declare_cma(16).unwrap();
    let dev = device(&checker, "isp0");
    let frame = run_in_hardirq(|| dma_alloc_from_contiguous(&dev, 2, 0)).unwrap();
    let v = single_violation(&checker, &SLEEPING_ALLOC_IN_ATOMIC);
    assert_eq!(v.call, "dma_alloc_from_contiguous");
    assert_eq!(v.detail_u64("size"), Some(2 * PAGE_SIZE as u64));
    checker.take_violations();
    assert!(dma_release_from_contiguous(&dev, frame, 2));
    checker.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// The failure path: a failed allocation leaves the bitmap as it was

#[test]
fn a_failed_allocation_leaves_the_bitmap_as_it_was() {
    // Every migration fails, for as many tries as there are aligned positions in the area.
    let pages = 32u64;
    let (count, order) = (4usize, 2u32);
    let positions = pages / (1 << order);
    let checker = quiet()
        .fail(FaultSpec::every(FaultKind::Cma, 1).budget(positions))
        .build();
    let area = checker.declare_cma(pages).unwrap();
    let dev = device(&checker, "isp0");
    let free_before = area.free_pages();

    assert!(dma_alloc_from_contiguous(&dev, count, order).is_none());

    assert_eq!(
        checker.faults_injected(),
        positions,
        "every position was tried"
    );
    assert_eq!(area.free_pages(), free_before);
    assert!(
        checker.violations().is_empty(),
        "a failure is not a violation"
    );
    // The budget is spent: the whole area is one free run, as before the failure.
    let all = dma_alloc_from_contiguous(&dev, pages as usize, 0)
        .expect("the failed tries left pages marked in the bitmap");
    assert_eq!(offset(&checker, &area, all), 0);
    assert!(dma_release_from_contiguous(&dev, all, pages as usize));
    checker.assert_clean();
}

#[test]
fn a_failed_allocation_leaves_other_allocations_and_free_runs_alone() {
    let checker = quiet()
        .fail(FaultSpec::every(FaultKind::Cma, 1).device("isp1"))
        .build();
    let area = checker.declare_cma(16).unwrap();
    let healthy = device(&checker, "isp0");
    let failing = device(&checker, "isp1");
    let held = dma_alloc_from_contiguous(&healthy, 2, 0).unwrap();
    let free_before = area.free_pages();

    for (count, order) in [(4, 2), (1, 0), (14, 0)] {
        assert!(dma_alloc_from_contiguous(&failing, count, order).is_none());
        assert_eq!(
            area.free_pages(),
            free_before,
            "{count} pages, order {order}"
        );
    }
    assert!(checker.faults_injected() > 0);
    // Every page the failing device tried is free again: the rest of the area in one run.
    let rest = dma_alloc_from_contiguous(&healthy, 14, 0).expect("the bitmap was restored");
    assert_eq!(offset(&checker, &area, rest), 2);
    assert!(dma_release_from_contiguous(&healthy, held, 2));
    assert!(dma_release_from_contiguous(&healthy, rest, 14));
    checker.assert_clean();
}

#[test]
fn after_one_failure_the_next_aligned_position_is_used() {
    let checker = quiet()
        .fail(FaultSpec::every(FaultKind::Cma, 1).budget(1))
        .build();
    let area = checker.declare_cma(32).unwrap();
    let dev = device(&checker, "isp0");
    let (count, order) = (4usize, 2u32);

    let frame = dma_alloc_from_contiguous(&dev, count, order).expect("the second try succeeds");

    assert_eq!(checker.faults_injected(), 1);
    assert_eq!(
        offset(&checker, &area, frame),
        1 << order,
        "the next aligned position"
    );
    assert_eq!(area.free_pages(), 32 - count as u64);
    // The position that failed is free: the next allocation gets it.
    let next = dma_alloc_from_contiguous(&dev, count, order).unwrap();
    assert_eq!(offset(&checker, &area, next), 0);
    assert!(dma_release_from_contiguous(&dev, frame, count));
    assert!(dma_release_from_contiguous(&dev, next, count));
    assert_eq!(area.free_pages(), 32);
    checker.assert_clean();
}
