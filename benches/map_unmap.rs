//! map + dma_mapping_error + unmap of one 4 KiB page (`dma_map_page`) on the direct backend, one
//! thread, with every baseline in the same run:
//!
//! - `backend_unchecked`: the direct backend alone (phys lookup, map, unmap), no bookkeeping;
//! - `checking_switched_off`: the shim with `Checker::builder().enabled(false)`;
//! - `checked_call_site`: checked, call site only (no stacks), buffer fingerprints off;
//! - `checked_call_site_16_frame_stacks`: the same with `.stacks(16)`: the cost of stacks alone;
//! - `checked_default`: the default settings (fingerprints on, no stacks);
//! - `checked_16_frame_stacks`: the default plus `.stacks(16)` (walked along frame pointers
//!   where the build keeps them, `RUSTFLAGS="-C force-frame-pointers=yes"`; otherwise unwound
//!   at a call site's first call and reused);
//! - `checked_16_frame_exact_stacks`: `.stacks(16).exact_stacks(true)`, every call unwound;
//! - `naive_global_mutex_checker`: the same bookkeeping under one global `Mutex<HashMap>`
//!   (benches/common/naive.rs), over the same unchecked backend;
//! - `bare_hashmap_insert_remove`: a HashMap insert + remove, the floor for any bookkeeping.
//!
//! `cargo bench --bench map_unmap`

use std::collections::HashMap;
use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use dmacheck::*;

#[path = "common/backend.rs"]
mod baseline;
#[path = "common/naive.rs"]
mod naive;

const SIZE: usize = PAGE_SIZE;
const DIR: Direction = Direction::ToDevice;

/// One row through the real shim, on a checker made by `builder`.
fn shim_row(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, builder: CheckerBuilder) {
    let checker = builder.env(false).build();
    let dev = checker.device(name).driver("bench").build();
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
    group.bench_function(name, |b| {
        b.iter(|| {
            let dma = dma_map_page(&dev, black_box(page), 0, SIZE, DIR);
            black_box(dma_mapping_error(&dev, dma));
            dma_unmap_page(&dev, dma, SIZE, DIR);
        })
    });
    dev.release();
    free_pages(&checker, page, 0);
    checker.assert_clean();
}

fn map_unmap(c: &mut Criterion) {
    let mut group = c.benchmark_group("map_unmap");

    let checker = Checker::builder().env(false).enabled(false).build();
    let dev = checker.device("unchecked").driver("bench").build();
    let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
    let (backend, params) = (dev.backend(), dev.params());
    group.bench_function("backend_unchecked", |b| {
        let cpu = page_address(page);
        b.iter(|| {
            baseline::map_test_unmap(checker.memory(), backend, &params, cpu, SIZE as u64, DIR)
        })
    });

    shim_row(
        &mut group,
        "checking_switched_off",
        Checker::builder().enabled(false),
    );
    shim_row(
        &mut group,
        "checked_call_site",
        Checker::builder().stacks(0).digests(false),
    );
    shim_row(
        &mut group,
        "checked_call_site_16_frame_stacks",
        Checker::builder().stacks(16).digests(false),
    );
    shim_row(&mut group, "checked_default", Checker::builder());
    shim_row(
        &mut group,
        "checked_16_frame_stacks",
        Checker::builder().stacks(16),
    );
    shim_row(
        &mut group,
        "checked_16_frame_exact_stacks",
        Checker::builder().stacks(16).exact_stacks(true),
    );

    let naive = naive::NaiveChecker::new();
    group.bench_function("naive_global_mutex_checker", |b| {
        b.iter(|| {
            let cpu = black_box(page_address(page));
            let dma = naive.map(&dev, cpu, SIZE, DIR, MapKind::Page);
            black_box(naive.mapping_error(&dev, dma));
            naive.unmap(&dev, dma, SIZE, DIR, MapKind::Page);
        })
    });
    assert!(naive.violations().is_empty() && naive.live() == 0);

    let mut table: HashMap<u64, [u64; 4]> = HashMap::new();
    let mut key = 0x1000_0000u64;
    group.bench_function("bare_hashmap_insert_remove", |b| {
        b.iter(|| {
            key = key.wrapping_add(64);
            table.insert(black_box(key), [key, SIZE as u64, 1, 0]);
            black_box(table.remove(&key));
        })
    });
    group.finish();
    dev.release();
    free_pages(&checker, page, 0);
}

criterion_group!(benches, map_unmap);
criterion_main!(benches);
