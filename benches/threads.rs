//! Total throughput of map + dma_mapping_error + unmap of one 4 KiB `TO_DEVICE` page with 1, 2
//! (and, on bigger machines, all) threads sharing one checker, each thread with its own device
//! and page: how the checker scales next to the naive global-mutex checker and the unchecked
//! backend. One more dmacheck row maps `FROM_DEVICE`, whose mappings the cache-line index
//! tracks.
//!
//! Threads are spawned once per sample and timed from a barrier, first start to last end, so
//! spawning and joining are not measured. Figures are TOTAL operations per second over all
//! threads (criterion's `thrpt`); a summary of the N-thread/1-thread ratios is printed at the
//! end.
//!
//! `cargo bench --bench threads`

use std::hint::black_box;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use dmacheck::*;

#[path = "common/backend.rs"]
mod baseline;
#[path = "common/naive.rs"]
mod naive;

const SIZE: usize = PAGE_SIZE;
const DIR: Direction = Direction::ToDevice;

/// A thread's own device and page.
struct Worker {
    dev: Device,
    page: Page,
}

fn workers(checker: &Checker, row: &str, count: usize) -> Vec<Worker> {
    (0..count)
        .map(|i| Worker {
            dev: checker.device(&format!("{row}{i}")).driver("bench").build(),
            page: alloc_pages(checker, Gfp::KERNEL, 0).expect("a page"),
        })
        .collect()
}

fn release(checker: &Checker, workers: Vec<Worker>) {
    for w in workers {
        w.dev.release();
        free_pages(checker, w.page, 0);
    }
}

/// Run `iters` operations on each worker, each on its own thread; the time from the first
/// thread's start to the last one's end.
fn run_threads(iters: u64, workers: &[Worker], op: &(dyn Fn(&Worker) + Sync)) -> Duration {
    let barrier = Barrier::new(workers.len());
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = workers
            .iter()
            .map(|w| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        op(w);
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first_start = spans.iter().map(|s| s.0).min().unwrap();
    let last_end = spans.iter().map(|s| s.1).max().unwrap();
    last_end - first_start
}

/// Operations and time of every run of each (row, threads), for the ratio summary.
static TOTALS: Mutex<Vec<(&'static str, usize, u64, Duration)>> = Mutex::new(Vec::new());

fn record(row: &'static str, threads: usize, ops: u64, time: Duration) {
    let mut totals = TOTALS.lock().unwrap();
    match totals.iter_mut().find(|t| t.0 == row && t.1 == threads) {
        Some(t) => (t.2, t.3) = (t.2 + ops, t.3 + time),
        None => totals.push((row, threads, ops, time)),
    }
}

fn thread_counts() -> Vec<usize> {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut counts = vec![1, 2];
    if all > 2 {
        counts.push(all);
    }
    counts
}

fn bench_row(
    c: &mut Criterion,
    row: &'static str,
    workers: &[Worker],
    op: &(dyn Fn(&Worker) + Sync),
) {
    let mut group = c.benchmark_group("threads");
    for threads in thread_counts() {
        group.throughput(Throughput::Elements(threads as u64));
        group.bench_function(BenchmarkId::new(row, format!("{threads}_threads")), |b| {
            b.iter_custom(|iters| {
                let time = run_threads(iters, &workers[..threads], op);
                record(row, threads, iters * threads as u64, time);
                time
            })
        });
    }
    group.finish();
}

fn shim_row(c: &mut Criterion, row: &'static str, builder: CheckerBuilder, dir: Direction) {
    let checker = builder.env(false).build();
    let workers = workers(&checker, row, *thread_counts().last().unwrap());
    bench_row(c, row, &workers, &|w: &Worker| {
        let dma = dma_map_page(&w.dev, black_box(w.page), 0, SIZE, dir);
        black_box(dma_mapping_error(&w.dev, dma));
        dma_unmap_page(&w.dev, dma, SIZE, dir);
    });
    release(&checker, workers);
    checker.assert_clean();
}

fn print_ratios() {
    let totals = TOTALS.lock().unwrap();
    let rate = |row: &str, threads: usize| {
        totals
            .iter()
            .find(|t| t.0 == row && t.1 == threads)
            .map(|t| t.2 as f64 / t.3.as_secs_f64())
    };
    println!(
        "\nthreads: total throughput, N threads / 1 thread (all runs of each row, warm-up included)"
    );
    let mut rows: Vec<&str> = totals.iter().map(|t| t.0).collect();
    rows.dedup();
    for row in rows {
        let one = rate(row, 1).unwrap_or(f64::NAN);
        let mut line = format!("  {row:<20} 1 thread {:>6.2} Mops/s", one / 1e6);
        for threads in thread_counts().into_iter().skip(1) {
            let n = rate(row, threads).unwrap_or(f64::NAN);
            line += &format!(
                ", {threads} threads {:>6.2} Mops/s ({:.2}x)",
                n / 1e6,
                n / one
            );
        }
        println!("{line}");
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();

    shim_row(
        &mut c,
        "dmacheck_call_site",
        Checker::builder().stacks(0).digests(false),
        DIR,
    );
    shim_row(&mut c, "dmacheck_default", Checker::builder(), DIR);
    // Device-writable mappings also enter the cache-line index, which every device shares.
    shim_row(
        &mut c,
        "dmacheck_default_from_device",
        Checker::builder(),
        Direction::FromDevice,
    );

    let off = Checker::builder().env(false).enabled(false).build();
    let plain = workers(&off, "plain", *thread_counts().last().unwrap());
    let naive = naive::NaiveChecker::new();
    bench_row(&mut c, "naive_global_mutex", &plain, &|w: &Worker| {
        let cpu = black_box(page_address(w.page));
        let dma = naive.map(&w.dev, cpu, SIZE, DIR, MapKind::Page);
        black_box(naive.mapping_error(&w.dev, dma));
        naive.unmap(&w.dev, dma, SIZE, DIR, MapKind::Page);
    });
    assert!(naive.violations().is_empty() && naive.live() == 0);

    bench_row(&mut c, "backend_unchecked", &plain, &|w: &Worker| {
        let (backend, params) = (w.dev.backend(), w.dev.params());
        let cpu = page_address(w.page);
        baseline::map_test_unmap(off.memory(), backend, &params, cpu, SIZE as u64, DIR);
    });
    release(&off, plain);

    c.final_summary();
    if !std::env::args().any(|a| a == "--test") {
        print_ratios();
    }
}
