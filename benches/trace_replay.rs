//! Replay speed of kernel `dma:*` traces: events per second, parsing and checking, on one core.
//!
//! The trace is generated here: a NIC's receive ring of 256 buffers recycled (sync for the CPU,
//! unmap, map a new one, sync for the device) and transmit buffers mapped and unmapped, in the
//! Linux 6.18 format with a flags column, interleaved on two CPUs — 1M events (about 150 MB).
//! Target: at least 1M events/s. `cargo bench --bench trace_replay`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dmacheck::trace::{self, TraceOptions};

const EVENTS: usize = 1_000_000;
const DEV: &str = "0000:00:05.0";

/// A correct trace of at least `events` dma events; returns it and its event count.
fn generate(events: usize) -> (String, usize) {
    let mut out = String::with_capacity(events * 150);
    out.push_str("# tracer: nop\n#\n# entries-in-buffer/entries-written: 0/0   #P:2\n#\n");
    let mut n = 0;
    let mut ts = 30.0f64;
    let mut line =
        |out: &mut String, cpu: u32, flags: &str, event: &str, body: std::fmt::Arguments| {
            ts += 0.000_003;
            let _ = writeln!(
                out,
                "              ip-450     [{cpu:03}] {flags} {ts:12.6}: {event}: {DEV} {body}"
            );
        };
    let ring = 256u64;
    let rx = |slot: u64, round: u64| 0x3ac0_0000 + ((round % 4) * ring + slot) * 0x1000;
    let phys = |slot: u64, round: u64| 0x0700_0000 + ((round * 7 + slot * 13) % 4096) * 0x1000;
    for slot in 0..ring {
        let (d, p) = (rx(slot, 0), phys(slot, 0));
        line(
            &mut out,
            0,
            ".....",
            "dma_map_phys",
            format_args!(
                "dir=FROM_DEVICE dma_addr={d:x} size=4096 phys_addr={p:x} attrs=WEAK_ORDERING|SKIP_CPU_SYNC"
            ),
        );
        n += 1;
    }
    let mut round = 0u64;
    while n < events {
        for slot in 0..ring {
            let (d, next) = (rx(slot, round), rx(slot, round + 1));
            let p = phys(slot, round + 1);
            line(
                &mut out,
                0,
                "..s1.",
                "dma_sync_single_for_cpu",
                format_args!("dir=FROM_DEVICE dma_addr={d:x} size=1514"),
            );
            line(
                &mut out,
                0,
                "..s1.",
                "dma_unmap_phys",
                format_args!(
                    "dir=FROM_DEVICE dma_addr={d:x} size=4096 attrs=WEAK_ORDERING|SKIP_CPU_SYNC"
                ),
            );
            line(
                &mut out,
                0,
                "..s1.",
                "dma_map_phys",
                format_args!(
                    "dir=FROM_DEVICE dma_addr={next:x} size=4096 phys_addr={p:x} attrs=WEAK_ORDERING|SKIP_CPU_SYNC"
                ),
            );
            line(
                &mut out,
                0,
                "..s1.",
                "dma_sync_single_for_device",
                format_args!("dir=FROM_DEVICE dma_addr={next:x} size=4096"),
            );
            let tx = 0x3e60_0000 + (slot % 64) * 0x800 + 0x42;
            line(
                &mut out,
                1,
                "b..1.",
                "dma_map_phys",
                format_args!(
                    "dir=TO_DEVICE dma_addr={tx:x} size=98 phys_addr={:x} attrs=",
                    tx + 0x0100_0000
                ),
            );
            line(
                &mut out,
                1,
                "..s2.",
                "dma_unmap_phys",
                format_args!("dir=TO_DEVICE dma_addr={tx:x} size=98 attrs="),
            );
            n += 6;
        }
        round += 1;
    }
    for slot in 0..ring {
        let d = rx(slot, round);
        line(
            &mut out,
            0,
            ".....",
            "dma_unmap_phys",
            format_args!(
                "dir=FROM_DEVICE dma_addr={d:x} size=4096 attrs=WEAK_ORDERING|SKIP_CPU_SYNC"
            ),
        );
        n += 1;
    }
    (out, n)
}

fn replay(c: &mut Criterion) {
    let (text, events) = generate(EVENTS);
    // Check once that the generated trace is what it claims: correct, and all of it replayed.
    let r = trace::replay_bytes(text.as_bytes(), TraceOptions::default()).unwrap();
    assert!(r.violations().is_empty(), "{}", r.text(false));
    assert_eq!(r.summary.dma_events, events as u64);
    assert!(r.summary.leaks.is_empty());

    let mut group = c.benchmark_group("trace_replay");
    group.throughput(Throughput::Elements(events as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("replay_1M_events", |b| {
        b.iter(|| trace::replay_bytes(black_box(text.as_bytes()), TraceOptions::default()).unwrap())
    });
    group.bench_function("parse_only_1M_events", |b| {
        b.iter(|| {
            let mut dma = 0u64;
            let text = black_box(text.as_bytes());
            let mut start = 0;
            for end in memchr::memchr_iter(b'\n', text) {
                let l = &text[start..end];
                start = end + 1;
                if let Ok(trace::Line::Event(e)) = trace::parse_line(l) {
                    dma += u64::from(matches!(
                        trace::parse_event(e.name, e.body),
                        Ok(trace::Parsed::Dma(_))
                    ));
                }
            }
            dma
        })
    });
    group.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
