//! Many threads doing DMA at once through one checker: no entry lost, nothing spurious.

use std::sync::Barrier;
use std::thread;

use common::checker;
use dmacheck::*;

use crate::common;

const THREADS: usize = 8;
const ROUNDS: usize = 400;

#[test]
fn threads_mapping_syncing_and_unmapping_lose_nothing_and_report_nothing() {
    let checker = checker();
    let dev = checker.device("nic0").driver("stress").build();
    let barrier = Barrier::new(THREADS);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (checker, dev, barrier) = (&checker, &dev, &barrier);
            s.spawn(move || {
                barrier.wait();
                let mut held = Vec::new();
                for round in 0..ROUNDS {
                    // Sizes vary so several mappings share pages and buckets across threads.
                    let size = 64 + ((t * 131 + round * 17) % 3000);
                    let buf = kmalloc(checker, size, Gfp::KERNEL);
                    let dir = [
                        Direction::ToDevice,
                        Direction::FromDevice,
                        Direction::Bidirectional,
                    ][round % 3];
                    let dma = dma_map_single(dev, buf, size, dir);
                    assert_eq!(dma_mapping_error(dev, dma), 0);
                    dma_sync_single_for_cpu(dev, dma, size, dir);
                    // A partial sync from a cache-line boundary to the end.
                    let half = size / 2 / 64 * 64;
                    dma_sync_single_range_for_device(dev, dma, half, size - half, dir);
                    held.push((buf, dma, size, dir));
                    // Keep a few live so unmaps interleave with other threads' maps.
                    if held.len() > 4 {
                        let (buf, dma, size, dir) = held.remove(0);
                        dma_unmap_single(dev, dma, size, dir);
                        kfree(checker, buf);
                    }
                }
                for (buf, dma, size, dir) in held {
                    dma_unmap_single(dev, dma, size, dir);
                    kfree(checker, buf);
                }
            });
        }
    });
    let stats = checker.stats();
    assert_eq!(stats.live_entries, 0);
    assert!(
        stats.peak_entries >= 5,
        "peak {} too low to have overlapped",
        stats.peak_entries
    );
    checker.assert_clean();
}

#[test]
fn every_entry_made_concurrently_is_found_afterwards() {
    let checker = checker();
    let devs: Vec<Device> = (0..2)
        .map(|i| checker.device(&format!("dev{i}")).build())
        .collect();
    let mapped: Vec<Vec<(usize, DmaAddr)>> = thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (checker, dev) = (&checker, &devs[t % 2]);
                s.spawn(move || {
                    (0..ROUNDS)
                        .map(|_| {
                            let page = alloc_pages(checker, Gfp::KERNEL, 0).expect("memory");
                            let dma = dma_map_page(dev, page, 0, PAGE_SIZE, Direction::FromDevice);
                            assert_eq!(dma_mapping_error(dev, dma), 0);
                            (t, dma)
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(checker.stats().live_entries, (THREADS * ROUNDS) as u64);
    assert_eq!(checker.live_entries().len(), THREADS * ROUNDS);
    thread::scope(|s| {
        for list in &mapped {
            let devs = &devs;
            s.spawn(move || {
                for &(t, dma) in list {
                    dma_unmap_page(&devs[t % 2], dma, PAGE_SIZE, Direction::FromDevice);
                }
            });
        }
    });
    checker.assert_clean();
}

#[test]
fn racing_unmaps_of_one_mapping_release_it_exactly_once() {
    for _ in 0..50 {
        let checker = checker();
        let dev = checker.device("dev").build();
        let buf = kmalloc(&checker, 512, Gfp::KERNEL);
        let dma = dma_map_single(&dev, buf, 512, Direction::ToDevice);
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        let barrier = Barrier::new(2);
        thread::scope(|s| {
            for _ in 0..2 {
                let (dev, barrier) = (&dev, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    dma_unmap_single(dev, dma, 512, Direction::ToDevice);
                });
            }
        });
        let ids: Vec<_> = checker.violations().iter().map(|v| v.rule.id).collect();
        assert_eq!(
            ids,
            ["double-unmap"],
            "exactly one of the two unmaps is the second"
        );
        assert_eq!(checker.stats().live_entries, 0);
        kfree(&checker, buf);
    }
}
