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

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

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

criterion_group!(benches, fuzz_driver);
criterion_main!(benches);
