//! Properties of scatter-gather mappings, on random lists and device limits, on both backends:
//! the DMA segments a map returns cover exactly the bytes of the list, in order; they respect
//! the device's maximum segment size and segment boundary (or the checker says they do not);
//! there are never more of them than entries; and unmapping with `nents` leaves nothing behind.

use crate::common;

use common::quiet;
use dmacheck::rules::{SG_SEGMENT_CROSSES_BOUNDARY, SG_SEGMENT_TOO_LONG};
use dmacheck::*;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Page-range entries lie inside blocks of this order, so they can span pages.
const BLOCK_ORDER: u32 = 2;
const BLOCK: usize = PAGE_SIZE << BLOCK_ORDER;

/// What one entry of a random list points at.
#[derive(Clone, Debug)]
enum Spec {
    /// A kmalloc buffer of this size.
    Kmalloc(usize),
    /// `len` bytes at `offset` into a fresh order-2 page block.
    Pages { offset: usize, len: usize },
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        (1..=3 * PAGE_SIZE).prop_map(Spec::Kmalloc),
        (0..BLOCK)
            .prop_flat_map(|offset| (Just(offset), 1..=BLOCK - offset))
            .prop_map(|(offset, len)| Spec::Pages { offset, len }),
        // A whole number of pages and one byte less or more, at the block's start or one byte
        // into it: segments that meet a segment size or a boundary window exactly, or miss it
        // by one byte, which random lengths almost never do.
        (1..=4usize, 0..=2usize, 0..=1usize).prop_map(|(pages, delta, offset)| Spec::Pages {
            offset,
            len: (pages * PAGE_SIZE + delta - 1).min(BLOCK - offset),
        }),
    ]
}

#[derive(Clone, Debug)]
struct Case {
    specs: Vec<Spec>,
    max_segment_size: u64,
    boundary_mask: u64,
    dir: Direction,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(spec(), 1..=16),
        // Powers of two from a page to 64 KiB.
        (12u32..=16).prop_map(|shift| 1u64 << shift),
        // 8 KiB windows are smaller than a block, so one entry can cross them (by one byte, too).
        prop_oneof![
            Just(0x1fff_u64),
            Just(0x3fff),
            Just(0xffff),
            Just(0xffff_ffff)
        ],
        prop_oneof![
            Just(Direction::ToDevice),
            Just(Direction::FromDevice),
            Just(Direction::Bidirectional)
        ],
        any::<u64>(),
    )
        .prop_map(|(specs, max_segment_size, boundary_mask, dir, seed)| Case {
            specs,
            max_segment_size,
            boundary_mask,
            dir,
            seed,
        })
}

/// splitmix64: the pseudo-random bytes the entries are filled with.
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u8 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as u8
    }
}

/// Memory behind a list, to free at the end.
enum Alloc {
    Buf(*mut u8),
    Block(Page),
}

/// The list of a case, its memory, and the bytes of its entries in order.
fn build(checker: &Checker, case: &Case) -> (SgTable, Vec<Alloc>, Vec<u8>) {
    let mut sgl = SgTable::new(case.specs.len());
    let mut allocs = Vec::new();
    let mut expected = Vec::new();
    let mut bytes = Bytes(case.seed);
    for (i, spec) in case.specs.iter().enumerate() {
        let (start, len) = match *spec {
            Spec::Kmalloc(size) => {
                let buf = kmalloc(checker, size, Gfp::KERNEL);
                assert!(!buf.is_null(), "kmalloc({size})");
                allocs.push(Alloc::Buf(buf));
                sg_set_buf(&mut sgl, i, buf, size);
                (buf, size)
            }
            Spec::Pages { offset, len } => {
                let block = alloc_pages(checker, Gfp::KERNEL, BLOCK_ORDER).expect("a block");
                allocs.push(Alloc::Block(block));
                let start = page_address(block).wrapping_add(offset);
                let page = virt_to_page(start).expect("not null");
                sg_set_page(&mut sgl, i, page, len, offset % PAGE_SIZE);
                (start, len)
            }
        };
        for k in 0..len {
            let b = bytes.next();
            // SAFETY: start..start + len lies inside the live allocation just made.
            unsafe { start.add(k).write(b) };
            expected.push(b);
        }
    }
    (sgl, allocs, expected)
}

fn free(checker: &Checker, allocs: Vec<Alloc>) {
    for alloc in allocs {
        match alloc {
            Alloc::Buf(buf) => kfree(checker, buf),
            Alloc::Block(block) => free_pages(checker, block, BLOCK_ORDER),
        }
    }
}

fn crosses(start: DmaAddr, len: usize, mask: u64) -> bool {
    start & !mask != (start + len as u64 - 1) & !mask
}

/// Map the case's list for a device on the direct backend or the IOMMU, check the segments,
/// unmap, and free.
fn check(case: &Case, iommu: bool) -> Result<(), TestCaseError> {
    let checker = quiet().build();
    let builder = checker
        .device("prop0")
        .driver("testdrv")
        .max_segment_size(case.max_segment_size)
        .segment_boundary_mask(case.boundary_mask);
    let dev = if iommu { builder.iommu() } else { builder }.build();
    let params = dev.params();
    let (mut sgl, allocs, expected) = build(&checker, case);
    let nents = case.specs.len();
    let lengths: Vec<usize> = sgl.entries().iter().map(|e| e.length()).collect();

    let count = dma_map_sg(&dev, &mut sgl, nents, case.dir);

    let map_findings = checker.take_violations();
    let reported = |id: &str| map_findings.iter().any(|v| v.rule.id == id);
    for v in &map_findings {
        prop_assert!(
            v.rule.id == SG_SEGMENT_TOO_LONG.id || v.rule.id == SG_SEGMENT_CROSSES_BOUNDARY.id,
            "unexpected finding of the map: {}",
            v
        );
    }
    prop_assert!(count >= 1 && count <= nents, "count {} of {}", count, nents);
    let segs: Vec<(DmaAddr, usize)> = for_each_sg(&sgl, count)
        .map(|sg| (sg_dma_address(&sg), sg_dma_len(&sg)))
        .collect();
    prop_assert!(
        checker.violations().is_empty(),
        "reading the segments was reported"
    );

    // The segments cover exactly the list's bytes, in order.
    let total: usize = segs.iter().map(|s| s.1).sum();
    prop_assert_eq!(total, lengths.iter().sum::<usize>());
    let mut seen = Vec::with_capacity(total);
    for &(dma, len) in &segs {
        for k in 0..len as u64 {
            let phys = dev.backend().dma_to_phys(&params, dma + k);
            prop_assert!(phys.is_some(), "{:#x} is not mapped", dma + k);
            let cpu = checker.memory().cpu_of(phys.unwrap_or_default(), 1);
            prop_assert!(cpu.is_some(), "{:#x} is not in memory", dma + k);
            // SAFETY: cpu names a live byte of the arena.
            seen.push(unsafe { cpu.map_or(0, |p| p.as_ptr().read()) });
        }
    }
    let first_difference = seen.iter().zip(&expected).position(|(a, b)| a != b);
    prop_assert!(
        first_difference.is_none(),
        "the device reads other bytes, from byte {:?} on",
        first_difference
    );

    // Each segment is a run of whole entries: merges join entries, never split them.
    let entry_ends: Vec<usize> = lengths
        .iter()
        .scan(0, |end, &len| {
            *end += len;
            Some(*end)
        })
        .collect();
    let mut end = 0;
    let mut entries_per_segment = Vec::with_capacity(count);
    for &(_, len) in &segs {
        let from = entry_ends.iter().filter(|&&e| e <= end).count();
        end += len;
        let to = entry_ends.iter().position(|&e| e == end);
        prop_assert!(to.is_some(), "a segment ends inside an entry");
        entries_per_segment.push(to.unwrap_or_default() + 1 - from);
    }

    // The device's limits: the checker reports exactly the segments that break them, each
    // rule at its first such segment (one finding per rule and call).
    let first_too_long = segs
        .iter()
        .find(|&&(_, len)| len as u64 > case.max_segment_size)
        .map(|s| s.0);
    let first_crossing = segs
        .iter()
        .find(|&&(dma, len)| crosses(dma, len, case.boundary_mask))
        .map(|s| s.0);
    let reported_at = |id: &str| {
        map_findings
            .iter()
            .find(|v| v.rule.id == id)
            .map(|v| v.detail_u64("dma_addr"))
    };
    prop_assert_eq!(
        reported_at(SG_SEGMENT_TOO_LONG.id),
        first_too_long.map(Some)
    );
    prop_assert_eq!(
        reported_at(SG_SEGMENT_CROSSES_BOUNDARY.id),
        first_crossing.map(Some)
    );
    if !reported(SG_SEGMENT_TOO_LONG.id) && !reported(SG_SEGMENT_CROSSES_BOUNDARY.id) {
        for &(dma, len) in &segs {
            prop_assert!(len as u64 <= case.max_segment_size);
            prop_assert!(!crosses(dma, len, case.boundary_mask));
        }
    }
    if iommu {
        for (&(dma, len), &joined) in segs.iter().zip(&entries_per_segment) {
            // An entry longer than the limit cannot be split, and is reported; merges never
            // make a segment too long. An entry whose pages fit in a boundary window is laid
            // out inside one, so only a single entry wider than a window crosses.
            prop_assert!(
                len as u64 <= case.max_segment_size || joined == 1,
                "a merge of {} entries is {} bytes long",
                joined,
                len
            );
            let page_span =
                ((dma % PAGE_SIZE as u64) + len as u64).next_multiple_of(PAGE_SIZE as u64);
            prop_assert!(
                !crosses(dma, len, case.boundary_mask)
                    || (joined == 1 && page_span > case.boundary_mask + 1),
                "segment {:#x}+{} crosses a boundary",
                dma,
                len
            );
            prop_assert!(dma + len as u64 - 1 <= params.dma_mask, "above the mask");
        }
    } else {
        // Bus address = physical address, one segment per entry.
        prop_assert_eq!(count, nents);
        for (&(dma, _), e) in segs.iter().zip(sgl.entries()) {
            prop_assert_eq!(
                Ok(dma),
                checker.memory().phys_of(e.virt(), e.length() as u64)
            );
        }
    }

    dma_unmap_sg(&dev, &mut sgl, nents, case.dir);
    free(&checker, allocs);
    prop_assert!(
        checker.violations().is_empty(),
        "{:?}",
        checker.violations()
    );
    prop_assert!(checker.live_entries().is_empty(), "entries left live");
    if map_findings.is_empty() {
        checker.assert_clean();
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        // Nothing is written next to the sources; a failure prints its minimal case.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn dma_segments_cover_the_list_exactly_within_the_device_limits(case in case()) {
        check(&case, false)?;
        check(&case, true)?;
    }
}
