//! The rows of `map_unmap` as fixed loops, for counting instructions, which a loaded machine
//! does not blur the way it blurs wall time: each row runs `ITERATIONS` times in a function of
//! its own, so under callgrind a row's inclusive count divided by `ITERATIONS` is its cost per
//! map + `dma_mapping_error` + unmap:
//!
//! ```sh
//! cargo bench --bench hot_path_counts --no-run
//! valgrind --tool=callgrind --callgrind-out-file=cg.out target/release/deps/hot_path_counts-<hash>
//! callgrind_annotate --inclusive=yes cg.out | grep 'hot_path_counts::row_'
//! ```
//!
//! Run plainly it prints each row's wall time per iteration (one short run; `--test`: 1,000
//! iterations).

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use dmacheck::*;

#[path = "common/backend.rs"]
mod baseline;
#[path = "common/naive.rs"]
mod naive;

const SIZE: usize = PAGE_SIZE;
const DIR: Direction = Direction::ToDevice;

#[inline(never)]
fn row_backend_unchecked(n: u64, checker: &Checker, dev: &Device, page: Page) {
    let (backend, params) = (dev.backend(), dev.params());
    let cpu = page_address(page);
    for _ in 0..n {
        baseline::map_test_unmap(checker.memory(), backend, &params, cpu, SIZE as u64, DIR);
    }
}

/// The shim loop, inlined into each row's own function (so callgrind counts rows apart).
#[inline(always)]
fn shim_loop(n: u64, dev: &Device, page: Page) {
    for _ in 0..n {
        let dma = dma_map_page(dev, black_box(page), 0, SIZE, DIR);
        black_box(dma_mapping_error(dev, dma));
        dma_unmap_page(dev, dma, SIZE, DIR);
    }
}

// Each row's body differs (its tag), so the compiler cannot merge the rows into one function.
#[inline(never)]
fn row_switched_off(n: u64, dev: &Device, page: Page) {
    black_box(1);
    shim_loop(n, dev, page)
}

#[inline(never)]
fn row_checked_call_site(n: u64, dev: &Device, page: Page) {
    black_box(2);
    shim_loop(n, dev, page)
}

#[inline(never)]
fn row_checked_default(n: u64, dev: &Device, page: Page) {
    black_box(3);
    shim_loop(n, dev, page)
}

#[inline(never)]
fn row_naive_global_mutex(n: u64, naive: &naive::NaiveChecker, dev: &Device, page: Page) {
    for _ in 0..n {
        let cpu = black_box(page_address(page));
        let dma = naive.map(dev, cpu, SIZE, DIR, MapKind::Page);
        black_box(naive.mapping_error(dev, dma));
        naive.unmap(dev, dma, SIZE, DIR, MapKind::Page);
    }
}

#[inline(never)]
fn row_bare_hashmap(n: u64, table: &mut HashMap<u64, [u64; 4]>) {
    let mut key = 0x1000_0000u64;
    for _ in 0..n {
        key = key.wrapping_add(64);
        table.insert(black_box(key), [key, SIZE as u64, 1, 0]);
        black_box(table.remove(&key));
    }
}

fn timed(name: &str, n: u64, f: impl FnOnce()) {
    let start = Instant::now();
    f();
    let per = start.elapsed().as_nanos() as f64 / n as f64;
    println!("  {name:<28} {per:>8.1} ns");
}

fn main() {
    let n: u64 = if std::env::args().any(|a| a == "--test") {
        1_000
    } else {
        200_000
    };
    let make = |builder: CheckerBuilder| {
        let checker = builder.env(false).build();
        let dev = checker.device("hot").driver("bench").build();
        let page = alloc_pages(&checker, Gfp::KERNEL, 0).expect("a page");
        (checker, dev, page)
    };
    println!("hot_path_counts: {n} iterations per row");
    let (off, off_dev, off_page) = make(Checker::builder().enabled(false));
    timed("backend_unchecked", n, || {
        row_backend_unchecked(n, &off, &off_dev, off_page)
    });
    timed("checking_switched_off", n, || {
        row_switched_off(n, &off_dev, off_page)
    });
    let (site, site_dev, site_page) = make(Checker::builder().stacks(0).digests(false));
    timed("checked_call_site", n, || {
        row_checked_call_site(n, &site_dev, site_page)
    });
    let (default, default_dev, default_page) = make(Checker::builder());
    timed("checked_default", n, || {
        row_checked_default(n, &default_dev, default_page)
    });
    let naive = naive::NaiveChecker::new();
    timed("naive_global_mutex_checker", n, || {
        row_naive_global_mutex(n, &naive, &off_dev, off_page)
    });
    assert!(naive.violations().is_empty() && naive.live() == 0);
    let mut table = HashMap::new();
    timed("bare_hashmap_insert_remove", n, || {
        row_bare_hashmap(n, &mut table)
    });
    for (checker, dev, page) in [
        (off, off_dev, off_page),
        (site, site_dev, site_page),
        (default, default_dev, default_page),
    ] {
        dev.release();
        free_pages(&checker, page, 0);
        checker.assert_clean();
    }
}
