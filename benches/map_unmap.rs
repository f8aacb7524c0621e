//! map+unmap of one 2 KiB buffer: checked (the default; without buffer fingerprints; with
//! stacks), the same backend unchecked, and a bare HashMap insert+remove (the floor for any
//! bookkeeping), in one run.
//!
//! `cargo bench --bench map_unmap`

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dmacheck::*;

fn map_unmap(c: &mut Criterion) {
    let checker = Checker::builder().env(false).build();
    let dev = checker.device("bench0").driver("bench").build();
    let buf = kmalloc(&checker, 2048, Gfp::KERNEL);
    let mut group = c.benchmark_group("map_unmap");

    group.bench_function("checked", |b| {
        b.iter(|| {
            let dma = dma_map_single(&dev, black_box(buf), 2048, Direction::ToDevice);
            black_box(dma_mapping_error(&dev, dma));
            dma_unmap_single(&dev, dma, 2048, Direction::ToDevice);
        })
    });

    let plain = Checker::builder().env(false).digests(false).build();
    let plain_dev = plain.device("bench2").driver("bench").build();
    let plain_buf = kmalloc(&plain, 2048, Gfp::KERNEL);
    group.bench_function("checked_without_fingerprints", |b| {
        b.iter(|| {
            let dma = dma_map_single(&plain_dev, black_box(plain_buf), 2048, Direction::ToDevice);
            black_box(dma_mapping_error(&plain_dev, dma));
            dma_unmap_single(&plain_dev, dma, 2048, Direction::ToDevice);
        })
    });

    let off = Checker::builder().env(false).enabled(false).build();
    let off_dev = off.device("bench3").driver("bench").build();
    let off_buf = kmalloc(&off, 2048, Gfp::KERNEL);
    group.bench_function("checking_switched_off", |b| {
        b.iter(|| {
            let dma = dma_map_single(&off_dev, black_box(off_buf), 2048, Direction::ToDevice);
            black_box(dma_mapping_error(&off_dev, dma));
            dma_unmap_single(&off_dev, dma, 2048, Direction::ToDevice);
        })
    });

    let stacked = Checker::builder().env(false).stacks(16).build();
    let stacked_dev = stacked.device("bench1").driver("bench").build();
    let stacked_buf = kmalloc(&stacked, 2048, Gfp::KERNEL);
    group.bench_function("checked_with_16_frame_stacks", |b| {
        b.iter(|| {
            let dma = dma_map_single(
                &stacked_dev,
                black_box(stacked_buf),
                2048,
                Direction::ToDevice,
            );
            black_box(dma_mapping_error(&stacked_dev, dma));
            dma_unmap_single(&stacked_dev, dma, 2048, Direction::ToDevice);
        })
    });

    let backend = checker.backend();
    let params = dev.params();
    group.bench_function("backend_unchecked", |b| {
        b.iter(|| {
            let phys = checker.memory().phys_of(black_box(buf), 2048).unwrap();
            let dma = backend
                .map(&params, phys, 2048, Direction::ToDevice, DmaAttrs::empty())
                .unwrap();
            backend
                .unmap(
                    &params,
                    black_box(dma),
                    2048,
                    Direction::ToDevice,
                    DmaAttrs::empty(),
                )
                .unwrap();
        })
    });

    let mut table: HashMap<u64, [u64; 4]> = HashMap::new();
    let mut key = 0x1000_0000u64;
    group.bench_function("bare_hashmap_insert_remove", |b| {
        b.iter(|| {
            key = key.wrapping_add(64);
            table.insert(black_box(key), [key, 2048, 1, 0]);
            black_box(table.remove(&key));
        })
    });
    group.finish();
    dev.release();
    checker.assert_clean();
}

criterion_group!(benches, map_unmap);
criterion_main!(benches);
