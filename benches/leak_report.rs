//! The leak report a CI job gets, at scale: 1,000,000 live entries made at 10,000 distinct
//! (call site, stack) pairs, stacks on (`.stacks(16)`, exact: without frame pointers a call
//! site's first stack would otherwise stand for all its paths), printing off. Timed: the report of the
//! entries still live (what an exit report groups), a device release (which reports one `leak`
//! violation per site, counting its entries, and adds them to the leak summary), the grouped leak report after the release, and the JSON
//! report document (`Checker::report` + `Report::to_json`); and, as the release's baseline, a
//! bare `HashMap` of as many entries drained and sorted. `--test`: 10,000 entries from 100
//! pairs; `--callgrind`: 100,000 entries from 1,000 pairs, for counting instructions:
//!
//! ```sh
//! cargo bench --bench leak_report --no-run
//! valgrind --tool=callgrind --callgrind-out-file=cg.out target/release/deps/leak_report-<hash> --callgrind
//! callgrind_annotate --inclusive=yes cg.out | grep -E 'drain_device|report_release|leak_report'
//! ```
//!
//! The pairs: 100 call sites of `dma_map_single` (the `site!()` expansions below, each its own
//! column and function), each reached through 100 of the 128 call paths of seven levels of
//! `left`/`right` frames. The number of sites the report shows is checked, so if the compiler
//! ever merges paths this bench says so instead of measuring fewer sites.
//!
//! A plain main: each step is a single timed run, the figure being the time of one report.
//!
//! `cargo bench --bench leak_report`

use std::hint::black_box;
use std::time::{Duration, Instant};

use dmacheck::*;

const BUFFER: usize = 64;
const LEVELS: u32 = 7;
/// 4 MiB blocks, the largest `alloc_pages` order.
const BLOCK_ORDER: u32 = 10;
const BUFFERS_PER_BLOCK: usize = (PAGE_SIZE << BLOCK_ORDER) / BUFFER;

type MapFn = fn(&Device, *mut u8) -> DmaAddr;

/// A call site of its own: `dma_map_single`'s `#[track_caller]` location is this invocation,
/// and its frame is a function of its own.
macro_rules! site {
    () => {{
        #[inline(never)]
        fn site(dev: &Device, buf: *mut u8) -> DmaAddr {
            // black_box: no tail call, so this frame stays on the stack.
            black_box(dma_map_single(dev, buf, BUFFER, Direction::ToDevice))
        }
        site as MapFn
    }};
}

#[rustfmt::skip]
const SITES: [MapFn; 100] = [
    site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(),
    site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(),
    site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(),
    site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(),
    site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(),
    site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(),
    site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(),
    site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(),
    site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(),
    site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(), site!(),
];

// `left` and `right` call `site` through `LEVELS` more frames, each `left` or `right` as bit
// `level` of `path` says: each path leaves its own return addresses on the stack. Written out
// twice, not through a shared inlined helper or a macro, because reports group stacks by their
// symbolized frames (function, file, line): an inlined frame takes one of the 16 frames, and
// two calls on one line (a macro's) would look the same.
#[inline(never)]
fn left(level: u32, path: u32, site: MapFn, dev: &Device, buf: *mut u8) -> DmaAddr {
    let dma = if level == LEVELS {
        site(dev, buf)
    } else if path >> level & 1 == 0 {
        left(level + 1, path, site, dev, buf)
    } else {
        right(level + 1, path, site, dev, buf)
    };
    black_box(dma)
}

#[inline(never)]
fn right(level: u32, path: u32, site: MapFn, dev: &Device, buf: *mut u8) -> DmaAddr {
    let dma = if level == LEVELS {
        site(dev, buf)
    } else if path >> level & 1 == 0 {
        left(level + 1, path, site, dev, buf)
    } else {
        right(level + 1, path, site, dev, buf)
    };
    black_box(dma)
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

fn main() {
    let arg = |name: &str| std::env::args().any(|a| a == name);
    let (sites, paths, per_pair): (usize, usize, usize) = if arg("--test") {
        (10, 10, 100)
    } else if arg("--callgrind") {
        (100, 10, 100)
    } else {
        (100, 100, 100)
    };
    let entries = sites * paths * per_pair;

    let blocks = entries.div_ceil(BUFFERS_PER_BLOCK);
    let arena = MemoryConfig {
        size: MemoryConfig::default()
            .size
            .max((blocks + 16) * (PAGE_SIZE << BLOCK_ORDER)),
        ..MemoryConfig::default()
    };
    let checker = Checker::builder()
        .env(false)
        .print(false)
        .stacks(16)
        .exact_stacks(true)
        .memory(arena)
        .build();
    let dev = checker.device("0000:00:03.0").driver("leaky").build();
    let blocks: Vec<Page> = (0..blocks)
        .map(|_| alloc_pages(&checker, Gfp::KERNEL, BLOCK_ORDER).expect("arena too small"))
        .collect();

    let ((), map_time) = timed(|| {
        let mut i = 0;
        for &site in &SITES[..sites] {
            for path in 0..paths as u32 {
                for _ in 0..per_pair {
                    let block = page_address(blocks[i / BUFFERS_PER_BLOCK]);
                    let buf = block.wrapping_add(i % BUFFERS_PER_BLOCK * BUFFER);
                    let dma = left(0, path, site, &dev, buf);
                    assert_eq!(dma_mapping_error(&dev, dma), 0);
                    i += 1;
                }
            }
        }
    });

    let (live_cold, live_cold_time) = timed(|| checker.leak_report());
    let (live_warm, live_warm_time) = timed(|| checker.leak_report());
    assert_eq!(live_cold, live_warm);
    assert_eq!(live_cold.entries, entries as u64);
    assert_eq!(
        live_cold.sites.len(),
        sites * paths,
        "every (call site, stack) pair is a site of its own"
    );
    drop((live_cold, live_warm));

    let ((), release_time) = timed(|| dev.release());
    let (released, released_time) = timed(|| checker.leak_report());
    assert_eq!(released.live_entries, 0);
    assert_eq!(released.sites.len(), sites * paths);
    let leaked = checker.stats().errors;
    assert_eq!(leaked, entries as u64, "each leaked entry counted");
    let leak_violations = checker.violations().len();
    assert_eq!(
        leak_violations,
        sites * paths,
        "one leak violation per site"
    );

    // The floor of a release, in the same run: a bare map of as many entries drained into a
    // Vec in address order (what any release visiting and ordering every entry does).
    let mut floor: std::collections::HashMap<u64, [u64; 4]> = (0..entries as u64)
        .map(|i| (i * 64, [i, 64, 1, 0]))
        .collect();
    let (drained, floor_time) = timed(|| {
        let mut all: Vec<(u64, [u64; 4])> = floor.drain().collect();
        all.sort_unstable_by_key(|&(addr, _)| addr);
        all
    });
    assert_eq!(drained.len(), entries);
    drop((drained, floor));

    let (report, report_time) = timed(|| checker.report());
    let (json, json_time) = timed(|| report.to_json());

    let line =
        |label: String, d: Duration| println!("  {label:<68} {:>9.1} ms", d.as_secs_f64() * 1e3);
    println!(
        "leak_report: {entries} live entries from {} distinct (call site, 16-frame stack) pairs \
         ({sites} call sites x {paths} paths), printing off",
        sites * paths
    );
    line(
        format!(
            "making the entries: map + dma_mapping_error, exact stacks ({:.0} ns/entry)",
            map_time.as_nanos() as f64 / entries as f64
        ),
        map_time,
    );
    line(
        "leak_report() of the live entries, first (symbolizes stacks)".into(),
        live_cold_time,
    );
    line(
        "leak_report() of the live entries, again (symbols cached)".into(),
        live_warm_time,
    );
    line(
        format!("dev.release(): {leaked} leaked entries, {leak_violations} leak violations"),
        release_time,
    );
    line(
        format!(
            "baseline: a HashMap of {entries} entries drained and sorted (release = {:.1}x)",
            release_time.as_secs_f64() / floor_time.as_secs_f64()
        ),
        floor_time,
    );
    line("leak_report() after the release".into(), released_time);
    line(
        format!(
            "checker.report(): {} violations kept, {} leak sites",
            report.violations.len(),
            report.leaks.sites.len()
        ),
        report_time,
    );
    line(
        format!("report.to_json(): {:.1} MB", json.len() as f64 / 1e6),
        json_time,
    );

    for block in blocks {
        free_pages(&checker, block, BLOCK_ORDER);
    }
}
