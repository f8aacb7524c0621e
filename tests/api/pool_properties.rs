//! Properties of DMA pools under random allocation and free sequences, for random block sizes,
//! alignments (up to two pages) and boundaries, on every backend: live blocks never overlap,
//! every block honors the alignment and never crosses the boundary, the CPU and DMA addresses of
//! a block name the same bytes, and once everything is freed and the pool destroyed the checker
//! is clean.

use dmacheck::*;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

/// What a random driver does next.
#[derive(Clone, Debug)]
enum Step {
    /// `dma_pool_alloc`.
    Alloc,
    /// `dma_pool_zalloc`.
    Zalloc,
    /// `dma_pool_free` of one of the live blocks (nothing if there is none).
    Free(Index),
    /// A coherent allocation of this many pages for the same device, outside the pool (the
    /// driver's rings); freed at the end.
    Coherent(usize),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Backend {
    Direct,
    Iommu,
    Bounce,
}

#[derive(Clone, Debug)]
struct Case {
    size: usize,
    align: usize,
    boundary: usize,
    backend: Backend,
    steps: Vec<Step>,
}

fn pool_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Alloc),
        1 => Just(Step::Zalloc),
        3 => any::<Index>().prop_map(Step::Free),
    ]
}

fn mixed_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => pool_step(),
        1 => (1usize..=3).prop_map(Step::Coherent),
    ]
}

fn case(
    backends: &'static [Backend],
    step: impl Strategy<Value = Step>,
) -> impl Strategy<Value = Case> {
    (
        1usize..=3000,
        // Alignments above a page are a regime of their own: give them a fair share.
        prop_oneof![3 => 0u32..=11, 1 => 12u32..=13],
        // No boundary, or a power of two at least the size (up to 8 times the smallest one).
        prop::option::of(0u32..=3),
        prop::sample::select(backends),
        prop::collection::vec(step, 1..=120),
    )
        .prop_map(|(size, align_shift, boundary_shift, backend, steps)| Case {
            size,
            align: 1 << align_shift,
            boundary: boundary_shift.map_or(0, |s| size.next_power_of_two() << s),
            backend,
            steps,
        })
}

/// The bytes written to the block at `dma`: different for every block and every byte.
fn pattern(dma: DmaAddr, len: usize) -> Vec<u8> {
    let mut x = dma ^ 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A live block: its addresses and the bytes last written to it.
struct Block {
    cpu: *mut u8,
    dma: DmaAddr,
    bytes: Vec<u8>,
}

fn run(case: &Case) -> Result<(), TestCaseError> {
    let Case {
        size,
        align,
        boundary,
        backend,
        ref steps,
    } = *case;
    let checker = Checker::builder().env(false).print(false).build();
    let builder = checker.device("pooldev").driver("propdrv");
    let dev = match backend {
        Backend::Direct => builder.build(),
        Backend::Iommu => builder.iommu().build(),
        Backend::Bounce => builder.bounce().build(),
    };
    let pool = dma_pool_create("prop", &dev, size, align, boundary);
    prop_assert!(pool.is_some(), "valid parameters were refused");
    let pool = pool.unwrap();
    prop_assert!(checker.violations().is_empty());

    let mut live: Vec<Block> = Vec::new();
    let mut rings: Vec<(*mut u8, DmaAddr, usize)> = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        match step {
            Step::Alloc | Step::Zalloc => {
                let zero = matches!(step, Step::Zalloc);
                let mut dma = 0;
                let cpu = if zero {
                    dma_pool_zalloc(&pool, Gfp::KERNEL, &mut dma)
                } else {
                    dma_pool_alloc(&pool, Gfp::KERNEL, &mut dma)
                };
                prop_assert!(!cpu.is_null(), "step {}: the pool ran dry", n);
                let end = dma + size as u64;
                prop_assert_eq!(dma % align as u64, 0, "step {}: {:#x} misaligned", n, dma);
                if boundary != 0 {
                    let b = boundary as u64;
                    prop_assert_eq!(
                        dma / b,
                        (end - 1) / b,
                        "step {}: {:#x}+{} crosses a boundary",
                        n,
                        dma,
                        size
                    );
                }
                for other in &live {
                    prop_assert!(
                        end <= other.dma || other.dma + size as u64 <= dma,
                        "step {}: {:#x} overlaps live block {:#x}",
                        n,
                        dma,
                        other.dma
                    );
                }
                // The device sees what the allocation put there...
                let mut seen = vec![0x55; size];
                prop_assert!(dev.dma_read(dma, &mut seen).is_ok());
                let fill = if zero { 0 } else { POOL_POISON_ALLOCATED };
                prop_assert!(seen.iter().all(|&b| b == fill), "step {}: not filled", n);
                // ...and what the CPU writes through the CPU address.
                let bytes = pattern(dma, size);
                prop_assert!(checker.cpu_write(cpu, &bytes).is_some());
                prop_assert!(dev.dma_read(dma, &mut seen).is_ok());
                prop_assert_eq!(&seen, &bytes, "step {}: the device reads other bytes", n);
                live.push(Block { cpu, dma, bytes });
            }
            Step::Free(index) => {
                if live.is_empty() {
                    continue;
                }
                let block = live.swap_remove(index.index(live.len()));
                // The device's last write is what the CPU reads at the CPU address.
                let last = pattern(!block.dma, size);
                prop_assert!(dev.dma_write(block.dma, &last).is_ok());
                let mut seen = vec![0; size];
                prop_assert!(checker.cpu_read(block.cpu, &mut seen).is_some());
                prop_assert_eq!(&seen, &last, "step {}: the CPU reads other bytes", n);
                dma_pool_free(&pool, block.cpu, block.dma);
            }
            Step::Coherent(pages) => {
                let mut dma = 0;
                let cpu = dma_alloc_coherent(&dev, pages * PAGE_SIZE, &mut dma, Gfp::KERNEL);
                prop_assert!(!cpu.is_null());
                rings.push((cpu, dma, pages * PAGE_SIZE));
            }
        }
        prop_assert_eq!(pool.busy(), live.len());
        prop_assert!(
            checker.violations().is_empty(),
            "step {}: {:?}",
            n,
            checker.violations()
        );
    }

    // No block's bytes were changed by the others' writes.
    for block in &live {
        let mut seen = vec![0; size];
        prop_assert!(dev.dma_read(block.dma, &mut seen).is_ok());
        prop_assert_eq!(
            &seen,
            &block.bytes,
            "block {:#x} was overwritten",
            block.dma
        );
    }
    for block in live.drain(..) {
        dma_pool_free(&pool, block.cpu, block.dma);
    }
    dma_pool_destroy(pool);
    for (cpu, dma, len) in rings {
        dma_free_coherent(&dev, len, cpu, dma);
    }
    prop_assert!(
        checker.violations().is_empty(),
        "{:?}",
        checker.violations()
    );
    prop_assert!(
        checker.live_entries().is_empty(),
        "the pool's pages were freed"
    );
    checker.assert_clean();
    Ok(())
}

const ALL: &[Backend] = &[Backend::Direct, Backend::Iommu, Backend::Bounce];
const NO_IOMMU: &[Backend] = &[Backend::Direct, Backend::Bounce];

proptest! {
    // Modest, so it runs in a few seconds in debug builds; no regression files in the tree.
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn pool_blocks_never_overlap_and_honor_align_and_boundary(case in case(ALL, pool_step())) {
        run(&case)?;
    }

    #[test]
    fn pool_blocks_honor_align_beside_other_coherent_allocations(
        case in case(NO_IOMMU, mixed_step())
    ) {
        run(&case)?;
    }

    #[test]
    fn pool_blocks_behind_an_iommu_honor_align_beside_other_coherent_allocations(
        case in case(&[Backend::Iommu], mixed_step())
    ) {
        run(&case)?;
    }
}
