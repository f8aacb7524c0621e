//! The `driver` fuzz target's work per input (fuzz/fuzz_targets/driver.rs,
//! tests/model/ring.rs): a fresh checker with every rule at deny, one device, the sample ring
//! driver and fake NIC through a typical input, the device released and the checker asserted
//! clean. One row per backend (direct, IOMMU, bounce), and the same input with checking switched
//! off (the driver's and harness's own work) as the baseline. Target: 20,000 inputs a second
//! (50 µs each) on every backend.
//!
//! The typical input: 10% of maps failing, then 72 events: packets received into the RX ring
//! (lengths 9 to 2 KiB), polls that recycle or replace the buffers, transmits of 1 to 1 KiB, the
//! NIC sending them, completions reaped, the ring refilled.
//!
//! `cargo bench --bench fuzz_driver`
//!
//! With `--count N` it runs instead each row N times in a function of its own, for callgrind's
//! instruction counts (which a loaded machine does not blur): a row's inclusive count divided
//! by N is its cost per input. It prints each row's wall time per input too; `--count N direct`
//! runs one row.
//!
//! ```sh
//! cargo bench --bench fuzz_driver --no-run
//! valgrind --tool=callgrind --callgrind-out-file=cg.out target/release/deps/fuzz_driver-<hash> --count 200
//! callgrind_annotate --inclusive=yes cg.out | grep 'fuzz_driver::row_'
//! ```

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group};

#[path = "../tests/model/mod.rs"]
mod model;

use model::ring::{RingSetup, fuzz_driver_on};

/// The input: fault setting (10%, seed 7), then rounds of receive, poll, transmit, send, reap
/// and refill, each round with other slots and lengths.
fn typical_input() -> Vec<u8> {
    let mut input = vec![10, 7];
    for round in 0..8u8 {
        let slot = round % 8;
        input.extend([
            slot << 3,                 // receive into `slot`
            round * 31 + 1,            // of (that * 8 + 1) bytes
            (slot + 1) << 3 | 1,       // receive into the next slot
            60,                        // 481 bytes
            2 + (round & 1),           // poll, recycling or replacing
            (round * 3 % 28) << 3 | 4, // transmit
            5,                         // the NIC sends it
            6,                         // reap
            7,                         // refill
        ]);
    }
    input
}

fn fuzz_driver(c: &mut Criterion) {
    let input = typical_input();
    let mut group = c.benchmark_group("fuzz_driver");
    let setups = [
        ("direct", RingSetup::Direct),
        ("iommu", RingSetup::Iommu),
        ("bounce", RingSetup::Bounce),
        ("unchecked", RingSetup::Unchecked),
    ];
    for (name, setup) in setups {
        group.bench_function(name, |b| {
            b.iter(|| fuzz_driver_on(black_box(&input), setup))
        });
    }
    group.finish();
}

// Each row's body differs (its tag), so the compiler cannot merge the rows into one function.
#[inline(never)]
fn row_direct(n: u64, input: &[u8]) {
    black_box(1);
    (0..n).for_each(|_| fuzz_driver_on(black_box(input), RingSetup::Direct));
}

#[inline(never)]
fn row_iommu(n: u64, input: &[u8]) {
    black_box(2);
    (0..n).for_each(|_| fuzz_driver_on(black_box(input), RingSetup::Iommu));
}

#[inline(never)]
fn row_bounce(n: u64, input: &[u8]) {
    black_box(3);
    (0..n).for_each(|_| fuzz_driver_on(black_box(input), RingSetup::Bounce));
}

#[inline(never)]
fn row_unchecked(n: u64, input: &[u8]) {
    black_box(4);
    (0..n).for_each(|_| fuzz_driver_on(black_box(input), RingSetup::Unchecked));
}

criterion_group!(benches, fuzz_driver);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--count") {
        let n = args
            .get(at + 1)
            .and_then(|v| v.parse().ok())
            .expect("--count takes a number of inputs per row");
        let input = typical_input();
        println!("fuzz_driver: {n} inputs per row");
        type Row = fn(u64, &[u8]);
        let rows: [(&str, Row); 4] = [
            ("direct", row_direct),
            ("iommu", row_iommu),
            ("bounce", row_bounce),
            ("unchecked", row_unchecked),
        ];
        // `--count N ROW` runs that row only (for a profiler).
        let only = args.get(at + 2);
        for (name, row) in rows {
            if only.is_some_and(|only| only != name) {
                continue;
            }
            let start = Instant::now();
            row(n, &input);
            let per = start.elapsed().as_secs_f64() * 1e6 / n as f64;
            println!("  {name:<10} {per:>8.1} µs");
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
