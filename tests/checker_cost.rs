//! What a fresh checker costs: a harness makes one per test or fuzz input, so pools and arenas
//! are committed as they are used, and the arena of a dropped checker is reused clean.

use dmacheck::*;

/// Resident memory of this process, in bytes (Linux: `/proc/self/statm`, in pages).
#[cfg(target_os = "linux")]
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * PAGE_SIZE as u64
}

/// A bounce device used to commit its whole 4 MiB slot pool (zeroed at creation): 20 live
/// checkers with one bounce mapping each held 80 MiB.
#[cfg(target_os = "linux")]
#[test]
fn a_bounce_pool_commits_only_the_slots_used() {
    let before = resident_bytes();
    let checkers: Vec<(Checker, Device)> = (0..20)
        .map(|_| {
            let checker = Checker::builder().env(false).print(false).build();
            let dev = checker.device("eth0").bounce().build();
            let buf = kmalloc(&checker, 2048, Gfp::KERNEL);
            let dma = dma_map_single(&dev, buf, 2048, Direction::ToDevice);
            assert_eq!(dma_mapping_error(&dev, dma), 0);
            dma_unmap_single(&dev, dma, 2048, Direction::ToDevice);
            kfree(&checker, buf);
            (checker, dev)
        })
        .collect();
    let grown = resident_bytes().saturating_sub(before);
    assert!(
        grown < 16 << 20,
        "20 checkers with a bounce device made {} MiB resident",
        grown >> 20
    );
    for (checker, _) in &checkers {
        checker.assert_clean();
    }
}

/// A checker's memory is as a fresh machine's whatever the checker before it wrote: the
/// arena of a dropped checker is reused only after every page written is zero again.
#[test]
fn memory_of_a_new_checker_is_zero_after_another_wrote_and_dropped() {
    for round in 0..8u8 {
        let checker = Checker::builder().env(false).print(false).build();
        let dev = checker.device("eth0").bounce().build();
        let buf = kmalloc(&checker, 4096, Gfp::KERNEL);
        // SAFETY: `buf` is 4096 bytes of this checker's memory.
        let bytes = unsafe { std::slice::from_raw_parts_mut(buf, 4096) };
        assert!(
            bytes.iter().all(|&b| b == 0),
            "round {round}: memory left dirty"
        );
        bytes.fill(0xa5 ^ round);
        let dma = dma_map_single(&dev, buf, 4096, Direction::Bidirectional);
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        let mut seen = [0u8; 4];
        dev.dma_read(dma, &mut seen).unwrap();
        assert_eq!(seen, [0xa5 ^ round; 4], "the slot holds the buffer's copy");
        dma_unmap_single(&dev, dma, 4096, Direction::Bidirectional);
        kfree(&checker, buf);
        checker.assert_clean();
    }
}
