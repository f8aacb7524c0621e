//! The other hot API families, checked against checking switched off
//! (`Checker::builder().enabled(false)`), one thread:
//!
//! - `sg_map_unmap`: `dma_map_sg` + `dma_unmap_sg` of a 16-entry `SgTable` on an IOMMU device:
//!   16 fragments of 1500 bytes in separate pages (16 DMA segments), and 16 whole pages (which
//!   the IOMMU merges into one 64 KiB segment);
//! - `sync_pair`: `dma_sync_single_for_cpu` + `dma_sync_single_for_device` of a live 4 KiB
//!   `FROM_DEVICE` mapping, checked with the defaults (fingerprints on) and with `.digests(false)`;
//! - `pool_alloc_free`: `dma_pool_alloc` + `dma_pool_free` of a 64-byte block;
//! - `fresh_checker`: what a fuzz or test harness pays per input: a new checker, one device
//!   (direct, IOMMU, bounce), 8 map + `dma_mapping_error` + unmap pairs of 2 KiB, the checker
//!   and device dropped (target: 20 µs);
//! - `big_buffers`: map + unmap of 256 B, 4 KiB and 64 KiB with and without fingerprints,
//!   against a `memcpy` of as many bytes;
//! - `trap_map_unmap`: `dma_map_single` + `dma_unmap_single` of a 1536-byte `FROM_DEVICE`
//!   buffer in trap mode (each hand-off an `mprotect` of the buffer's page), against the same
//!   checked without trap mode (Linux x86_64 only).
//!
//! `cargo bench --bench api_families`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dmacheck::*;

fn checked() -> Checker {
    Checker::builder().env(false).build()
}

fn switched_off() -> Checker {
    Checker::builder().env(false).enabled(false).build()
}

fn sg_map_unmap(c: &mut Criterion) {
    let mut group = c.benchmark_group("sg_map_unmap");
    let layouts = [("16_fragments", 1500), ("16_pages_merged", PAGE_SIZE)];
    for (layout, len) in layouts {
        for (mode, checker) in [("checked", checked()), ("off", switched_off())] {
            let dev = checker.device("sg").driver("bench").iommu().build();
            let pages: Vec<Page> = (0..16)
                .map(|_| alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page"))
                .collect();
            let mut sgt = SgTable::new(pages.len());
            for (i, &page) in pages.iter().enumerate() {
                sg_set_page(&mut sgt, i, page, len, 0);
            }
            let segments = dma_map_sg(&dev, &mut sgt, 16, Direction::ToDevice);
            dma_unmap_sg(&dev, &mut sgt, 16, Direction::ToDevice);
            if mode == "checked" {
                println!(
                    "sg_map_unmap/{layout}: 16 entries of {len} bytes, {segments} DMA segment(s)"
                );
            }
            group.bench_function(format!("{layout}/{mode}"), |b| {
                b.iter(|| {
                    let count = dma_map_sg(&dev, black_box(&mut sgt), 16, Direction::ToDevice);
                    black_box(count);
                    dma_unmap_sg(&dev, &mut sgt, 16, Direction::ToDevice);
                })
            });
            dev.release();
            for page in pages {
                free_pages(&checker, page, 0);
            }
            checker.assert_clean();
        }
    }
    group.finish();
}

fn sync_pair(c: &mut Criterion) {
    let mut group = c.benchmark_group("sync_pair");
    let modes = [
        ("checked_default", checked()),
        (
            "checked_digests_off",
            Checker::builder().env(false).digests(false).build(),
        ),
        ("off", switched_off()),
    ];
    const DIR: Direction = Direction::FromDevice;
    for (mode, checker) in modes {
        let dev = checker.device("rx").driver("bench").build();
        let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
        let dma = dma_map_page(&dev, page, 0, PAGE_SIZE, DIR);
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        group.bench_function(mode, |b| {
            b.iter(|| {
                dma_sync_single_for_cpu(&dev, black_box(dma), PAGE_SIZE, DIR);
                dma_sync_single_for_device(&dev, black_box(dma), PAGE_SIZE, DIR);
            })
        });
        dma_unmap_page(&dev, dma, PAGE_SIZE, DIR);
        dev.release();
        free_pages(&checker, page, 0);
        checker.assert_clean();
    }
    group.finish();
}

fn pool_alloc_free(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool_alloc_free");
    for (mode, checker) in [("checked", checked()), ("off", switched_off())] {
        let dev = checker.device("ehci").driver("bench").build();
        let pool = dma_pool_create("qh", &dev, 64, 64, 4096).expect("a pool");
        group.bench_function(mode, |b| {
            b.iter(|| {
                let mut dma = 0;
                let block = dma_pool_alloc(&pool, Gfp::KERNEL, &mut dma);
                dma_pool_free(&pool, black_box(block), dma);
            })
        });
        dma_pool_destroy(pool);
        dev.release();
        checker.assert_clean();
    }
    group.finish();
}

fn fresh_checker(c: &mut Criterion) {
    let mut group = c.benchmark_group("fresh_checker");
    for backend in ["direct", "iommu", "bounce"] {
        group.bench_function(format!("{backend}/8_map_unmap"), |b| {
            b.iter(|| {
                let checker = Checker::builder().env(false).build();
                let builder = checker.device("eth0").driver("bench");
                let dev = match backend {
                    "iommu" => builder.iommu().build(),
                    "bounce" => builder.bounce().build(),
                    _ => builder.build(),
                };
                let buf = kmalloc(&checker, 2048, Gfp::KERNEL);
                for _ in 0..8 {
                    let dma = dma_map_single(&dev, buf, 2048, Direction::ToDevice);
                    assert_eq!(dma_mapping_error(&dev, dma), 0);
                    dma_unmap_single(&dev, dma, 2048, Direction::ToDevice);
                }
                kfree(&checker, buf);
                black_box(checker.error_count())
            });
        });
    }
    group.finish();
}

/// Big buffers: `dma_map_single` + `dma_unmap_single` of 256 B, 4 KiB and 64 KiB `TO_DEVICE`
/// with the defaults (a fingerprint of the buffer at the map and at the unmap) and without
/// fingerprints, against a `memcpy` of the same bytes: the fingerprints' cost per byte is the
/// difference of the first two over twice the size.
fn big_buffers(c: &mut Criterion) {
    let mut group = c.benchmark_group("big_buffers");
    for len in [256usize, 4096, 64 << 10] {
        let modes = [
            ("default", Checker::builder().env(false).build()),
            (
                "no_digests",
                Checker::builder().env(false).digests(false).build(),
            ),
        ];
        for (mode, checker) in modes {
            let dev = checker.device("big").driver("bench").build();
            let buf = kmalloc(&checker, len, Gfp::KERNEL);
            group.bench_function(format!("{len}/{mode}"), |b| {
                b.iter(|| {
                    let dma = dma_map_single(&dev, black_box(buf), len, Direction::ToDevice);
                    black_box(dma_mapping_error(&dev, dma));
                    dma_unmap_single(&dev, dma, len, Direction::ToDevice);
                })
            });
            kfree(&checker, buf);
            checker.assert_clean();
        }
        let (src, mut dst) = (vec![0x5au8; len], vec![0u8; len]);
        group.bench_function(format!("{len}/memcpy"), |b| {
            b.iter(|| dst.copy_from_slice(black_box(&src)))
        });
        black_box(&dst);
    }
    group.finish();
}

fn trap_map_unmap(c: &mut Criterion) {
    if !dmacheck::trap::SUPPORTED {
        return;
    }
    let mut group = c.benchmark_group("trap_map_unmap");
    const LEN: usize = 1536;
    const DIR: Direction = Direction::FromDevice;
    let modes = [
        ("trap", Checker::builder().env(false).trap(true).build()),
        ("checked", checked()),
    ];
    for (mode, checker) in modes {
        let dev = checker.device("rx").driver("bench").build();
        let buf = kmalloc(&checker, LEN, Gfp::KERNEL);
        group.bench_function(mode, |b| {
            b.iter(|| {
                let dma = dma_map_single(&dev, black_box(buf), LEN, DIR);
                black_box(dma_mapping_error(&dev, dma));
                dma_unmap_single(&dev, dma, LEN, DIR);
            })
        });
        kfree(&checker, buf);
        checker.assert_clean();
    }
    group.finish();
}

criterion_group!(
    benches,
    sg_map_unmap,
    sync_pair,
    pool_alloc_free,
    fresh_checker,
    big_buffers,
    trap_map_unmap
);
criterion_main!(benches);
