//! Heap bytes per live entry at 1,000,000 live mappings (10,000 with `--test`, which is what
//! `cargo bench -- --test` passes): dmacheck with the default settings, without buffer
//! fingerprints, with 16-frame stacks, and with a FROM_DEVICE direction (cache lines indexed);
//! then the naive global-mutex checker (benches/common/naive.rs) and a bare
//! `HashMap<u64, [u64; 4]>` as baselines.
//!
//! A counting global allocator measures the live heap bytes (as requested, without malloc's own
//! per-allocation overhead) before and after mapping. The buffers are 64-byte slices of 4 MiB
//! `alloc_pages` blocks, which live in the checker's mmap'd arena, allocated before the first
//! count: only the bookkeeping of the mappings is measured. A plain main, not criterion: one
//! measurement is the figure.
//!
//! `cargo bench --bench memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use dmacheck::*;

#[path = "common/naive.rs"]
mod naive;

struct CountingAllocator;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = LIVE_BYTES.fetch_add(bytes, Relaxed) + bytes;
    PEAK_BYTES.fetch_max(now, Relaxed);
}

// SAFETY: every call is passed to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
            LIVE_ALLOCATIONS.fetch_add(1, Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
            LIVE_ALLOCATIONS.fetch_add(1, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Relaxed);
        LIVE_ALLOCATIONS.fetch_sub(1, Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_sub(layout.size(), Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The heap as the counters see it at one moment.
#[derive(Clone, Copy)]
struct Heap {
    bytes: usize,
    allocations: usize,
}

impl Heap {
    /// The counters now; the peak starts over from here.
    fn now() -> Heap {
        let bytes = LIVE_BYTES.load(Relaxed);
        PEAK_BYTES.store(bytes, Relaxed);
        Heap {
            bytes,
            allocations: LIVE_ALLOCATIONS.load(Relaxed),
        }
    }
}

struct Row {
    name: &'static str,
    bytes_per_entry: f64,
    allocations_per_entry: f64,
    peak_bytes_per_entry: f64,
    distinct_stacks: Option<usize>,
    insert_time: Duration,
}

impl Row {
    /// The growth of the heap since `before`, over `entries` entries.
    fn since(name: &'static str, before: Heap, entries: usize, insert_time: Duration) -> Row {
        let after = Heap {
            bytes: LIVE_BYTES.load(Relaxed),
            allocations: LIVE_ALLOCATIONS.load(Relaxed),
        };
        let per = |x: usize, y: usize| (x as f64 - y as f64) / entries as f64;
        Row {
            name,
            bytes_per_entry: per(after.bytes, before.bytes),
            allocations_per_entry: per(after.allocations, before.allocations),
            peak_bytes_per_entry: per(PEAK_BYTES.load(Relaxed), before.bytes),
            distinct_stacks: None,
            insert_time: insert_time / entries as u32,
        }
    }
}

const BUFFER: usize = 64;
/// 4 MiB blocks, the largest `alloc_pages` order.
const BLOCK_ORDER: u32 = 10;
const BLOCK: usize = PAGE_SIZE << BLOCK_ORDER;

/// `count` distinct 64-byte buffers, `stride` bytes apart, in the checker's arena.
struct Buffers {
    blocks: Vec<Page>,
    stride: usize,
}

impl Buffers {
    fn new(checker: &Checker, count: usize, stride: usize) -> Buffers {
        let blocks = (count * stride).div_ceil(BLOCK);
        Buffers {
            blocks: (0..blocks)
                .map(|_| alloc_pages(checker, Gfp::KERNEL, BLOCK_ORDER).expect("arena too small"))
                .collect(),
            stride,
        }
    }

    fn get(&self, i: usize) -> *mut u8 {
        let per_block = BLOCK / self.stride;
        let block = page_address(self.blocks[i / per_block]);
        block.wrapping_add(i % per_block * self.stride)
    }

    fn free(self, checker: &Checker) {
        for page in self.blocks {
            free_pages(checker, page, BLOCK_ORDER);
        }
    }
}

/// An arena with room for the buffers besides the 16 MiB DMA zone, which ordinary
/// allocations avoid. Its pages are committed only where touched.
fn arena_for(count: usize, stride: usize) -> MemoryConfig {
    let needed = (count * stride).next_multiple_of(BLOCK) + (64 << 20);
    MemoryConfig {
        size: needed.max(MemoryConfig::default().size),
        ..MemoryConfig::default()
    }
}

struct BufferLayout {
    dir: Direction,
    /// Bytes from one buffer to the next: the table keeps one bucket per 4 KiB page.
    stride: usize,
}

const PACKED: BufferLayout = BufferLayout {
    dir: Direction::ToDevice,
    stride: BUFFER,
};

fn dmacheck_row(
    name: &'static str,
    count: usize,
    builder: CheckerBuilder,
    layout: BufferLayout,
) -> Row {
    let BufferLayout { dir, stride } = layout;
    let checker = builder
        .env(false)
        .print(false)
        .memory(arena_for(count, stride))
        .build();
    // 64-bit masks: with one buffer per page, 1M buffers lie above 4 GiB.
    let dev = checker
        .device("mem0")
        .driver("bench")
        .dma_mask(u64::MAX)
        .build();
    let buffers = Buffers::new(&checker, count, stride);
    let mut dmas: Vec<DmaAddr> = Vec::with_capacity(count);

    let before = Heap::now();
    let start = Instant::now();
    for i in 0..count {
        let dma = dma_map_single(&dev, buffers.get(i), BUFFER, dir);
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        dmas.push(dma);
    }
    let mut row = Row::since(name, before, count, start.elapsed());

    assert_eq!(checker.stats().live_entries, count as u64);
    if checker.config().stack_depth > 0 {
        // Leaks are grouped by call site and stack: with one call site, groups are stacks.
        let leaks = checker.leak_report();
        assert_eq!(leaks.entries, count as u64);
        row.distinct_stacks = Some(leaks.sites.len());
    }
    for &dma in &dmas {
        dma_unmap_single(&dev, dma, BUFFER, dir);
    }
    dev.release();
    buffers.free(&checker);
    checker.assert_clean();
    row
}

fn naive_row(count: usize) -> Row {
    let checker = Checker::builder()
        .env(false)
        .enabled(false)
        .memory(arena_for(count, BUFFER))
        .build();
    let dev = checker.device("mem0").driver("bench").build();
    let buffers = Buffers::new(&checker, count, BUFFER);
    let mut dmas: Vec<DmaAddr> = Vec::with_capacity(count);
    let naive = naive::NaiveChecker::new();

    let before = Heap::now();
    let start = Instant::now();
    for i in 0..count {
        let dma = naive.map(
            &dev,
            buffers.get(i),
            BUFFER,
            Direction::ToDevice,
            MapKind::Single,
        );
        assert_eq!(naive.mapping_error(&dev, dma), 0);
        dmas.push(dma);
    }
    let row = Row::since("naive global-mutex checker", before, count, start.elapsed());

    assert_eq!(naive.live(), count);
    for &dma in &dmas {
        naive.unmap(&dev, dma, BUFFER, Direction::ToDevice, MapKind::Single);
    }
    assert!(naive.violations().is_empty());
    dev.release();
    buffers.free(&checker);
    row
}

fn bare_hashmap_row(count: usize) -> Row {
    let before = Heap::now();
    let start = Instant::now();
    let mut table: HashMap<u64, [u64; 4]> = HashMap::new();
    for i in 0..count as u64 {
        table.insert(0x1000_0000 + i * 64, [i, 64, 1, 0]);
    }
    let row = Row::since(
        "bare HashMap<u64, [u64; 4]>",
        before,
        count,
        start.elapsed(),
    );
    black_box(table);
    row
}

/// A line of `/proc/self/status` (`VmHWM`, `VmRSS`), if there is one.
fn proc_status(field: &str) -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    Some(line[field.len() + 1..].trim().to_string())
}

fn main() {
    let test_mode = std::env::args().any(|a| a == "--test");
    let count = if test_mode { 10_000 } else { 1_000_000 };
    let rows = [
        dmacheck_row("dmacheck default", count, Checker::builder(), PACKED),
        dmacheck_row(
            "dmacheck digests off",
            count,
            Checker::builder().digests(false),
            PACKED,
        ),
        dmacheck_row(
            "dmacheck stacks(16)",
            count,
            Checker::builder().stacks(16),
            PACKED,
        ),
        dmacheck_row(
            "dmacheck default, FROM_DEVICE",
            count,
            Checker::builder(),
            BufferLayout {
                dir: Direction::FromDevice,
                ..PACKED
            },
        ),
        // Digests off: they would read, and so commit, a page of the arena per entry (4 GB).
        dmacheck_row(
            "dmacheck digests off, 1 per page",
            count,
            Checker::builder().digests(false),
            BufferLayout {
                stride: PAGE_SIZE,
                ..PACKED
            },
        ),
        naive_row(count),
        bare_hashmap_row(count),
    ];

    println!(
        "memory: heap bytes per live entry at {count} live mappings of 64-byte buffers, 64 per \
         4 KiB page unless said (TO_DEVICE unless said; direct backend; bytes as requested from \
         the allocator)"
    );
    println!(
        "  {:<32} {:>11} {:>12} {:>16} {:>15} {:>13}",
        "variant",
        "bytes/entry",
        "allocs/entry",
        "peak bytes/entry",
        "distinct stacks",
        "insert ns/op"
    );
    for r in &rows {
        println!(
            "  {:<32} {:>11.1} {:>12.2} {:>16.1} {:>15} {:>13.0}",
            r.name,
            r.bytes_per_entry,
            r.allocations_per_entry,
            r.peak_bytes_per_entry,
            r.distinct_stacks.map_or("-".into(), |n| n.to_string()),
            r.insert_time.as_nanos()
        );
    }
    println!(
        "  (peak: the most the heap grew while mapping, e.g. while a table resized; \
         insert ns/op: map + dma_mapping_error, or one insert)"
    );
    println!(
        "  heap still allocated after every variant was torn down: {} bytes (mostly the \
         symbolizer's debug info, loaded for the stacks variant's leak report and kept)",
        LIVE_BYTES.load(Relaxed)
    );
    if let (Some(hwm), Some(rss)) = (proc_status("VmHWM"), proc_status("VmRSS")) {
        println!("  process peak RSS (VmHWM, all variants and arenas): {hwm}; RSS now: {rss}");
    }
}
