//! Fault injection: a driver's error paths run, and the mistakes made after a failure are caught.

use dmacheck::rules::{DEVICE_ACCESS_UNMAPPED, SG_UNMAP_FAILED_MAP, UNMAP_MAPPING_ERROR};
use dmacheck::*;

fn checker_failing(specs: &[FaultSpec]) -> Checker {
    specs
        .iter()
        .cloned()
        .fold(Checker::builder().env(false).print(false), |b, s| b.fail(s))
        .build()
}

/// A small driver that handles every failure the DMA API can report. Returns how many
/// failures it saw and handled.
fn careful_driver(checker: &Checker, dev: &Device, rounds: usize) -> u64 {
    let mut handled = 0;
    for round in 0..rounds {
        // Open: a descriptor ring and four RX buffers; on any failure, undo what was done.
        let mut ring_dma = 0;
        let ring = dma_alloc_coherent(dev, 1024, &mut ring_dma, Gfp::KERNEL);
        if ring.is_null() {
            handled += 1;
            continue;
        }
        let mut rx = Vec::new();
        for _ in 0..4 {
            let buf = kmalloc(checker, 1536, Gfp::KERNEL);
            let dma = dma_map_single(dev, buf, 1536, Direction::FromDevice);
            if dma_mapping_error(dev, dma) != 0 {
                handled += 1;
                kfree(checker, buf);
                continue;
            }
            rx.push((buf, dma));
        }
        // A scatter-gather write of two pages.
        let pages = [
            alloc_pages(checker, Gfp::KERNEL, 0).unwrap(),
            alloc_pages(checker, Gfp::KERNEL, 0).unwrap(),
        ];
        let mut sgl = SgTable::new(2);
        for (i, &p) in pages.iter().enumerate() {
            sg_set_page(&mut sgl, i, p, PAGE_SIZE, 0);
        }
        let count = dma_map_sg(dev, &mut sgl, 2, Direction::ToDevice);
        if count == 0 {
            handled += 1;
        } else {
            dma_unmap_sg(dev, &mut sgl, 2, Direction::ToDevice);
        }
        for p in pages {
            free_pages(checker, p, 0);
        }
        // Close.
        for (buf, dma) in rx {
            dma_unmap_single(dev, dma, 1536, Direction::FromDevice);
            kfree(checker, buf);
        }
        dma_free_coherent(dev, 1024, ring, ring_dma);
        let _ = round;
    }
    handled
}

#[test]
fn every_nth_failure_is_handled_by_a_careful_driver() {
    let checker = checker_failing(&[
        FaultSpec::every(FaultKind::Map, 3),
        FaultSpec::every(FaultKind::MapSg, 2),
        FaultSpec::every(FaultKind::Alloc, 5),
    ]);
    let dev = checker.device("eth0").build();
    let handled = careful_driver(&checker, &dev, 20);
    assert!(
        checker.faults_injected() >= 20,
        "{} failures",
        checker.faults_injected()
    );
    assert_eq!(
        handled,
        checker.faults_injected(),
        "each failure was seen and handled"
    );
    checker.assert_clean();
}

#[test]
fn random_failures_with_a_seed_are_reproducible_and_handled() {
    let run = |seed| {
        let checker = checker_failing(&[FaultSpec::probability(FaultKind::Any, 0.2, seed)]);
        let dev = checker.device("eth0").iommu().build();
        let handled = careful_driver(&checker, &dev, 30);
        assert_eq!(handled, checker.faults_injected());
        checker.assert_clean();
        handled
    };
    assert_eq!(run(11), run(11), "the same seed fails the same calls");
    assert!(run(11) > 0);
}

#[test]
fn failures_follow_the_device_filter_and_the_budget() {
    let checker = checker_failing(&[FaultSpec::every(FaultKind::Map, 1).device("eth1").budget(2)]);
    let eth0 = checker.device("eth0").build();
    let eth1 = checker.device("eth1").build();
    assert_eq!(careful_driver(&checker, &eth0, 3), 0);
    assert_eq!(careful_driver(&checker, &eth1, 3), 2);
    assert_eq!(checker.faults_injected(), 2);
    checker.assert_clean();
}

#[test]
fn the_environment_syntax_injects_the_same_failures() {
    let checker = Checker::builder()
        .env(false)
        .print(false)
        .spec("fail=map:every=2,fail=alloc@eth0:prob=1:budget=1")
        .unwrap()
        .build();
    let dev = checker.device("eth0").build();
    let handled = careful_driver(&checker, &dev, 4);
    assert_eq!(handled, checker.faults_injected());
    // The first ring allocation fails (budget 1), so round 1 stops there; rounds 2 to 4 map
    // 4 RX buffers each, and every second of those 12 maps fails.
    assert_eq!(handled, 1 + 12 / 2);
    checker.assert_clean();
}

#[test]
fn a_driver_that_uses_or_unmaps_a_failed_mapping_is_caught() {
    let checker = checker_failing(&[FaultSpec::every(FaultKind::Map, 1)]);
    let dev = checker.device("eth0").build();
    let buf = kmalloc(&checker, 256, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, 256, Direction::ToDevice);
    assert_eq!(dma, DMA_MAPPING_ERROR);
    // The device is told the error address...
    assert!(dev.dma_read_u32(dma).is_err());
    let v = &checker.violations()[0];
    assert_eq!(v.rule.id, DEVICE_ACCESS_UNMAPPED.id);
    assert!(v.message.contains("DMA_MAPPING_ERROR"), "{}", v.message);
    // ...and the driver unmaps it.
    dma_unmap_single(&dev, dma, 256, Direction::ToDevice);
    assert_eq!(checker.violations()[1].rule.id, UNMAP_MAPPING_ERROR.id);
    kfree(&checker, buf);
}

#[test]
fn a_driver_that_goes_on_with_a_zero_sg_count_is_caught() {
    let checker = checker_failing(&[FaultSpec::every(FaultKind::MapSg, 1)]);
    let dev = checker.device("sda").build();
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).unwrap();
    let mut sgl = SgTable::new(1);
    sg_set_page(&mut sgl, 0, page, PAGE_SIZE, 0);
    assert_eq!(dma_map_sg(&dev, &mut sgl, 1, Direction::FromDevice), 0);
    dma_unmap_sg(&dev, &mut sgl, 1, Direction::FromDevice);
    let ids: Vec<_> = checker.violations().iter().map(|v| v.rule.id).collect();
    assert_eq!(ids, [SG_UNMAP_FAILED_MAP.id]);
    free_pages(&checker, page, 0);
}
