//! The checker against a reference model (tests/model): random operation sequences, with
//! deterministic seeds, must report exactly what the model predicts and keep exactly the
//! entries it keeps.
//!
//! - Step by step, on one thread: every operation's violations equal the prediction, and the
//!   live entries equal the model's after every operation.
//! - Many threads at once: each thread works on its own device and its own buffers, and also on
//!   a device all threads share (with their own buffers) and a buffer all threads map for the
//!   device to read (each on its own device). What each operation reports then does not depend
//!   on how the threads interleave, so the model, run thread after thread, predicts the whole:
//!   the same violations (by device and rule), none extra, and no entry lost.
//! - The fuzz targets' logic on their committed seed inputs (fuzz/seeds/), so CI runs them
//!   without cargo-fuzz.

mod model;

use std::sync::Barrier;

use dmacheck::{Direction, DmaAddr, dma_map_single, dma_mapping_error, dma_unmap_single};
use model::{DIRECTIONS, Model, SIZES, Step, World};

/// The occurrences `violations` stand for: a leak group counts each of its entries.
fn counted<'a>(violations: impl IntoIterator<Item = &'a dmacheck::Violation>) -> usize {
    violations.into_iter().map(|v| v.count as usize).sum()
}

/// SplitMix64: a small, fixed generator, so every seed gives the same run everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Any step over `devices` devices and `bufs` buffers.
fn any_step(rng: &mut Rng, devices: usize, bufs: usize) -> Step {
    let b = rng.next().to_le_bytes();
    Step::decode([b[0], b[1], b[2], b[3]], devices, bufs)
}

#[test]
fn random_sequences_agree_with_the_model_step_by_step() {
    for seed in 0..12 {
        let mut rng = Rng(seed);
        let steps: Vec<Step> = (0..600).map(|_| any_step(&mut rng, 3, 4)).collect();
        model::run_sequential(3, 4, &steps);
    }
}

#[test]
fn the_model_is_not_trivially_silent() {
    // The random sequences above must exercise every rule the model knows, or agreeing with it
    // would prove little.
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..12 {
        let mut rng = Rng(seed);
        let mut m = Model::new(3);
        for _ in 0..600 {
            seen.extend(m.apply(&any_step(&mut rng, 3, 4)));
        }
    }
    let all = [
        "cacheline-overlap",
        "device-released",
        "direction-none",
        "double-unmap",
        "leak",
        "map-zero-size",
        "sync-direction-mismatch",
        "sync-out-of-range",
        "sync-unknown",
        "unmap-direction-mismatch",
        "unmap-mapping-error",
        "unmap-size-mismatch",
        "unmap-unchecked",
        "unmap-unknown",
        "wrong-device",
    ];
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), all);
}

// ---------------------------------------------------------------------------------------------
// Many threads

const THREADS: usize = 4;
/// Buffers each thread owns.
const OWN_BUFS: usize = 3;
const STEPS: usize = 400;

/// The shared device (after the threads' own devices) and the shared buffer (after theirs).
const SHARED_DEV: usize = THREADS;
const SHARED_BUF: usize = THREADS * OWN_BUFS;

/// A step of thread `t` whose outcome the other threads cannot change: on its own device or
/// the shared one, with its own buffers; or on its own device with the shared buffer, mapped
/// only for the device to read (so no thread's mapping shares a cache line the device may
/// write), and unmapped or synced only where this device's own history decides the outcome.
fn thread_step(rng: &mut Rng, t: usize, model: &Model) -> Step {
    let own_dev = t;
    let own_buf = t * OWN_BUFS + rng.below(OWN_BUFS);
    let size = rng.pick(&SIZES);
    let dir = rng.pick(&DIRECTIONS);
    let for_cpu = rng.below(2) == 0;
    let shared_buf_decided = model.released(own_dev)
        || model.live(own_dev).iter().any(|m| m.buf == SHARED_BUF)
        || model.unmapped(own_dev, SHARED_BUF);
    match rng.below(100) {
        0..=49 => {
            let dev = if rng.below(3) == 0 {
                SHARED_DEV
            } else {
                own_dev
            };
            let buf = own_buf;
            match rng.below(10) {
                0..=2 => Step::Map {
                    dev,
                    buf,
                    size,
                    dir,
                },
                3..=4 => Step::Check { dev, buf },
                5..=6 => Step::Unmap {
                    dev,
                    buf,
                    size,
                    dir,
                },
                7..=8 => Step::Sync {
                    dev,
                    buf,
                    size,
                    dir,
                    for_cpu,
                },
                _ => Step::UnmapFailed { dev },
            }
        }
        // A healthy share of well-formed cycles, so mistakes are judged against live entries.
        50..=79 => {
            let buf = own_buf;
            let live = model.live(own_dev).iter().find(|m| m.buf == buf).copied();
            match live {
                Some(m) if !m.checked => Step::Check { dev: own_dev, buf },
                Some(m) if rng.below(2) == 0 => Step::Sync {
                    dev: own_dev,
                    buf,
                    size: m.size,
                    dir: m.dir,
                    for_cpu,
                },
                Some(m) => Step::Unmap {
                    dev: own_dev,
                    buf,
                    size: m.size,
                    dir: m.dir,
                },
                None => Step::Map {
                    dev: own_dev,
                    buf,
                    size: SIZES[1 + rng.below(SIZES.len() - 1)],
                    dir: DIRECTIONS[rng.below(3)],
                },
            }
        }
        80..=98 => {
            let (dev, buf) = (own_dev, SHARED_BUF);
            match rng.below(4) {
                0 => Step::Map {
                    dev,
                    buf,
                    size,
                    dir: if rng.below(4) == 0 {
                        model::DIRECTIONS[3]
                    } else {
                        dmacheck::Direction::ToDevice
                    },
                },
                1 => Step::Check { dev, buf },
                2 if shared_buf_decided => Step::Unmap {
                    dev,
                    buf,
                    size,
                    dir,
                },
                3 if shared_buf_decided => Step::Sync {
                    dev,
                    buf,
                    size,
                    dir,
                    for_cpu,
                },
                _ => Step::Check { dev, buf },
            }
        }
        // Rarely, the driver unbinds its own device; what follows on it is reported.
        _ => Step::Release { dev: own_dev },
    }
}

/// One thread's plan: its steps, and what the model predicts each reports (as device, rule).
type Plan = Vec<(Step, Vec<&'static str>)>;

fn plan(seed: u64, model: &mut Model) -> Vec<Plan> {
    (0..THREADS)
        .map(|t| {
            let mut rng = Rng(seed * 1000 + t as u64);
            (0..STEPS)
                .map(|_| {
                    let step = thread_step(&mut rng, t, model);
                    let predicted = model.apply(&step);
                    (step, predicted)
                })
                .collect()
        })
        .collect()
}

fn sorted_live(model: &Model, devices: usize) -> Vec<Vec<model::Mapping>> {
    (0..devices)
        .map(|d| {
            let mut l = model.live(d).to_vec();
            l.sort();
            l
        })
        .collect()
}

fn stress(seed: u64) {
    let devices = THREADS + 1;
    let world = World::new(World::quiet_checker(), devices, THREADS * OWN_BUFS + 1);
    let mut model = Model::new(devices);
    let plans = plan(seed, &mut model);
    let mut expected: Vec<(String, &str)> = plans
        .iter()
        .flatten()
        .flat_map(|(step, rules)| rules.iter().map(|&r| (format!("dev{}", step.dev()), r)))
        .collect();
    expected.sort_unstable();

    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for plan in &plans {
            let (world, barrier) = (&world, &barrier);
            s.spawn(move || {
                barrier.wait();
                for (step, predicted) in plan {
                    world.run(step, predicted);
                }
            });
        }
    });

    let reported = world.take_reported();
    if reported != expected {
        let missing: Vec<_> = expected.iter().filter(|e| !reported.contains(e)).collect();
        let extra: Vec<_> = reported.iter().filter(|r| !expected.contains(r)).collect();
        panic!(
            "seed {seed}: {} reported, {} predicted; missing (first kinds) {missing:?}, extra {extra:?}",
            reported.len(),
            expected.len()
        );
    }
    assert_eq!(
        world.live(),
        sorted_live(&model, devices),
        "seed {seed}: live entries"
    );
    assert_eq!(
        world.checker.stats().live_entries as usize,
        model.live_count(),
        "seed {seed}: the live count"
    );

    // Unbind everything: each device's live entries, and nothing else, are its leaks.
    let mut leaks = Vec::new();
    for d in 0..devices {
        let predicted = model.apply(&Step::Release { dev: d });
        world.run(&Step::Release { dev: d }, &predicted);
        leaks.extend(predicted.into_iter().map(|r| (format!("dev{d}"), r)));
    }
    leaks.sort_unstable();
    assert_eq!(world.take_reported(), leaks, "seed {seed}: leaks at unbind");
    assert!(world.checker.live_entries().is_empty());
    assert_eq!(
        world.checker.error_count() as usize,
        expected.len() + leaks.len()
    );
}

#[test]
fn threads_on_their_own_and_shared_devices_report_exactly_what_the_model_predicts() {
    for seed in 0..8 {
        stress(seed);
    }
}

#[test]
fn the_threads_plans_are_not_trivially_silent() {
    let mut model = Model::new(THREADS + 1);
    let plans = plan(0, &mut model);
    let fired: std::collections::BTreeSet<_> = plans
        .iter()
        .flatten()
        .flat_map(|(_, rules)| rules.iter().copied())
        .collect();
    for rule in [
        "cacheline-overlap",
        "device-released",
        "double-unmap",
        "sync-out-of-range",
        "unmap-size-mismatch",
        "unmap-unchecked",
        "wrong-device",
    ] {
        assert!(fired.contains(rule), "{rule} never predicted: {fired:?}");
    }
    // And the shared device and buffer are really used by every thread.
    assert_eq!(plans.len(), THREADS);
    for steps in &plans {
        assert!(steps.iter().any(|(s, _)| s.dev() == SHARED_DEV));
        assert!(
            steps
                .iter()
                .any(|(s, _)| matches!(s, Step::Map { buf, .. } if *buf == SHARED_BUF))
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A device released under load

/// What the mapping threads did, summed: every successful map must end in a successful unmap or
/// a leak; every refused call (map or unmap) must be one `device-released` report.
#[derive(Default)]
struct Calls {
    maps_ok: usize,
    maps_refused: usize,
    unmaps: usize,
}

/// `threads` threads map and unmap their own buffers on one device, round after round, while
/// another thread releases the device; each thread keeps going until some of its maps were
/// refused. Then every entry is accounted for exactly: leaks + successful unmaps = successful
/// maps, and every other call is one `device-released` report; no entry stays live, and no
/// unmap is reported as an unknown address.
fn release_under_load(seed: u64, threads: usize) {
    const BUFS: usize = 4;
    const SIZE: usize = 256;
    let world = World::new(World::quiet_checker(), 1, threads * BUFS);
    let dev = &world.devices[0];
    let barrier = Barrier::new(threads + 1);
    let per_thread: Vec<Calls> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (world, barrier) = (&world, &barrier);
                s.spawn(move || {
                    let mut rng = Rng(seed * 100 + t as u64);
                    let mut calls = Calls::default();
                    let mut held: [Option<DmaAddr>; BUFS] = [None; BUFS];
                    barrier.wait();
                    let mut round = 0;
                    while calls.maps_refused < 8 {
                        let i = round % BUFS;
                        round += 1;
                        let buf = t * BUFS + i;
                        // A mapping is kept for a round or more at random, so some are live
                        // when the release comes.
                        if let Some(dma) = held[i].filter(|_| rng.below(2) == 0) {
                            dma_unmap_single(dev, dma, SIZE, Direction::ToDevice);
                            calls.unmaps += 1;
                            held[i] = None;
                        }
                        if held[i].is_some() {
                            continue;
                        }
                        let ptr = world.bufs[buf] as *const u8;
                        let dma = dma_map_single(dev, ptr, SIZE, Direction::ToDevice);
                        if dma_mapping_error(dev, dma) == 0 {
                            calls.maps_ok += 1;
                            held[i] = Some(dma);
                        } else {
                            calls.maps_refused += 1;
                        }
                    }
                    // What is still held: its unmap is refused, it was reported as a leak.
                    for dma in held.into_iter().flatten() {
                        dma_unmap_single(dev, dma, SIZE, Direction::ToDevice);
                        calls.unmaps += 1;
                    }
                    calls
                })
            })
            .collect();
        barrier.wait();
        // Let the mappers get going, then unbind under them.
        std::thread::sleep(std::time::Duration::from_micros(200 + seed * 50));
        dev.release();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let calls = per_thread.iter().fold(Calls::default(), |sum, c| Calls {
        maps_ok: sum.maps_ok + c.maps_ok,
        maps_refused: sum.maps_refused + c.maps_refused,
        unmaps: sum.unmaps + c.unmaps,
    });
    let reported = world.take_reported();
    let count = |rule: &str| reported.iter().filter(|(_, r)| *r == rule).count();
    let (leaks, refused) = (count("leak"), count("device-released"));
    let others: Vec<_> = reported
        .iter()
        .filter(|(_, r)| !matches!(*r, "leak" | "device-released"))
        .collect();
    assert!(
        others.is_empty(),
        "seed {seed}: unexpected reports {others:?}"
    );
    assert!(
        world.checker.live_entries().is_empty(),
        "seed {seed}: entries left live on the released device"
    );
    assert!(
        leaks <= calls.maps_ok,
        "seed {seed}: {leaks} leaks of {} maps",
        calls.maps_ok
    );
    let unmapped = calls.maps_ok - leaks;
    assert!(
        unmapped <= calls.unmaps,
        "seed {seed}: more entries ended than unmaps made"
    );
    assert_eq!(
        refused,
        calls.maps_refused + (calls.unmaps - unmapped),
        "seed {seed}: {} maps ({} refused), {} unmaps, {leaks} leaks: each refused call is one report",
        calls.maps_ok,
        calls.maps_refused,
        calls.unmaps
    );
    assert_eq!(
        world.checker.stats().live_entries,
        0,
        "seed {seed}: the live count"
    );
}

#[test]
fn a_device_released_under_load_accounts_for_every_entry_exactly() {
    for seed in 0..10 {
        release_under_load(seed, 8);
    }
}

// ---------------------------------------------------------------------------------------------
// Soak: every API family, device releases and fault injection, for a set time

/// What a soak thread holds on a device: each live mapping or allocation, with what ends it.
enum Held {
    Single(*mut u8, DmaAddr, Direction),
    Page(dmacheck::Page, DmaAddr),
    Sg(Vec<*mut u8>, dmacheck::SgTable, usize),
    Coherent(*mut u8, DmaAddr),
    Noncoherent(*mut u8, DmaAddr),
    PoolBlock(*mut u8, DmaAddr),
}

const SOAK_SIZE: usize = 512;

impl Held {
    /// The entries it is in the table (a pool block lives inside the pool's pages).
    fn entries(&self) -> usize {
        match self {
            Held::Sg(_, _, count) => *count,
            Held::PoolBlock(..) => 0,
            _ => 1,
        }
    }
}

/// One device's driver in the soak: a well-formed driver (every map tested, every hand-over
/// synced, every release with the map's values) whose maps and allocations may fail (faults
/// are injected on its own device). It must report nothing but the leaks it leaves at release.
struct SoakDriver<'a> {
    checker: &'a dmacheck::Checker,
    dev: dmacheck::Device,
    pool: Option<dmacheck::DmaPool>,
    held: Vec<Held>,
}

impl SoakDriver<'_> {
    /// Make something live, of a family the generator picks; failures are just failures.
    fn make(&mut self, rng: &mut Rng) {
        use dmacheck::*;
        let (c, dev) = (self.checker, &self.dev);
        let held = match rng.below(6) {
            0 => {
                let buf = kmalloc(c, SOAK_SIZE, Gfp::KERNEL);
                let dir = rng.pick(&[Direction::ToDevice, Direction::FromDevice]);
                let dma = dma_map_single(dev, buf, SOAK_SIZE, dir);
                if dma_mapping_error(dev, dma) != 0 {
                    kfree(c, buf);
                    return;
                }
                Held::Single(buf, dma, dir)
            }
            1 => {
                let page = alloc_pages(c, Gfp::KERNEL, 0).expect("a page");
                let dma = dma_map_page(dev, page, 0, 4096, Direction::Bidirectional);
                if dma_mapping_error(dev, dma) != 0 {
                    free_pages(c, page, 0);
                    return;
                }
                Held::Page(page, dma)
            }
            2 => {
                let bufs: Vec<*mut u8> =
                    (0..3).map(|_| kmalloc(c, SOAK_SIZE, Gfp::KERNEL)).collect();
                let mut table = SgTable::new(3);
                for (i, &b) in bufs.iter().enumerate() {
                    sg_set_buf(&mut table, i, b, SOAK_SIZE);
                }
                let count = dma_map_sg(dev, &mut table, 3, Direction::ToDevice);
                if count == 0 {
                    bufs.iter().for_each(|&b| kfree(c, b));
                    return;
                }
                Held::Sg(bufs, table, count)
            }
            3 => {
                let mut dma = 0;
                let cpu = dma_alloc_coherent(dev, SOAK_SIZE, &mut dma, Gfp::KERNEL);
                if cpu.is_null() {
                    return;
                }
                Held::Coherent(cpu, dma)
            }
            4 => {
                let mut dma = 0;
                let cpu = dma_alloc_noncoherent(dev, SOAK_SIZE, &mut dma, Gfp::KERNEL);
                if cpu.is_null() {
                    return;
                }
                Held::Noncoherent(cpu, dma)
            }
            _ => {
                let Some(pool) = &self.pool else { return };
                let mut dma = 0;
                let cpu = dma_pool_alloc(pool, Gfp::KERNEL, &mut dma);
                if cpu.is_null() {
                    return;
                }
                Held::PoolBlock(cpu, dma)
            }
        };
        self.held.push(held);
    }

    /// Hand a held mapping to the CPU and back, as a driver does around reading it.
    fn sync(&self, rng: &mut Rng) {
        use dmacheck::*;
        let dev = &self.dev;
        match self.held.get(rng.below(self.held.len().max(1))) {
            Some(Held::Single(_, dma, dir)) => {
                dma_sync_single_for_cpu(dev, *dma, SOAK_SIZE, *dir);
                dma_sync_single_for_device(dev, *dma, SOAK_SIZE, *dir);
            }
            Some(Held::Sg(_, table, _)) => {
                dma_sync_sg_for_cpu(dev, table, 3, Direction::ToDevice);
                dma_sync_sg_for_device(dev, table, 3, Direction::ToDevice);
            }
            Some(Held::Noncoherent(cpu, _)) => {
                dma_cache_sync(dev, *cpu, SOAK_SIZE, Direction::FromDevice);
                dma_cache_sync(dev, *cpu, SOAK_SIZE, Direction::ToDevice);
            }
            _ => {}
        }
    }

    /// End what `held` made, with its own values, and free its memory.
    fn end(&self, held: Held) {
        use dmacheck::*;
        let (c, dev) = (self.checker, &self.dev);
        match held {
            Held::Single(buf, dma, dir) => {
                dma_unmap_single(dev, dma, SOAK_SIZE, dir);
                kfree(c, buf);
            }
            Held::Page(page, dma) => {
                dma_unmap_page(dev, dma, 4096, Direction::Bidirectional);
                free_pages(c, page, 0);
            }
            Held::Sg(bufs, mut table, _) => {
                dma_unmap_sg(dev, &mut table, 3, Direction::ToDevice);
                bufs.iter().for_each(|&b| kfree(c, b));
            }
            Held::Coherent(cpu, dma) => dma_free_coherent(dev, SOAK_SIZE, cpu, dma),
            Held::Noncoherent(cpu, dma) => dma_free_noncoherent(dev, SOAK_SIZE, cpu, dma),
            Held::PoolBlock(cpu, dma) => {
                dma_pool_free(self.pool.as_ref().expect("a pool"), cpu, dma);
            }
        }
    }

    /// Free the memory of what the release reported as leaked.
    fn forget(&self, held: Held) {
        use dmacheck::*;
        let c = self.checker;
        match held {
            Held::Single(buf, ..) => kfree(c, buf),
            Held::Page(page, _) => free_pages(c, page, 0),
            Held::Sg(bufs, ..) => bufs.iter().for_each(|&b| kfree(c, b)),
            _ => {}
        }
    }
}

/// What a soak thread did on the shared device, which another thread releases under it.
#[derive(Default)]
struct SharedCalls {
    maps_ok: usize,
    maps_refused: usize,
    unmaps: usize,
    allocs_ok: usize,
    allocs_refused: usize,
    frees: usize,
    syncs: usize,
}

/// One soak round: `threads` threads each drive their own device through every family (faults
/// injected, some entries left for its release to report) and map, sync and allocate on a
/// shared device that another thread releases under them. Exact accounting at the end: on each
/// own device nothing but one leak per entry left; on the shared device every refused map or
/// allocation is one `device-released`, every successful one was ended or is one leak, and
/// every end call that did not end it is one `device-released`; nothing is left live.
fn soak_round(seed: u64, threads: usize) {
    use dmacheck::*;
    let mut builder = Checker::builder().env(false).print(false).keep(usize::MAX);
    for t in 0..threads {
        let own = format!("own{t}");
        for kind in [
            FaultKind::Map,
            FaultKind::MapSg,
            FaultKind::Alloc,
            FaultKind::Pool,
        ] {
            builder =
                builder.fail(FaultSpec::probability(kind, 0.15, seed ^ t as u64).device(&own));
        }
    }
    let checker = builder.build();
    let shared = checker.device("shared").driver("soak").build();
    let barrier = Barrier::new(threads + 1);
    let (left_per_thread, calls): (Vec<usize>, Vec<SharedCalls>) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (checker, shared, barrier) = (&checker, &shared, &barrier);
                s.spawn(move || {
                    let mut rng = Rng(seed.wrapping_mul(31).wrapping_add(t as u64));
                    let own = checker.device(&format!("own{t}")).driver("soak");
                    let own = match t % 3 {
                        0 => own.build(),
                        1 => own.iommu().build(),
                        _ => own.bounce().build(),
                    };
                    let pool = dma_pool_create("soak", &own, 64, 64, 0);
                    let mut driver = SoakDriver {
                        checker,
                        dev: own,
                        pool,
                        held: Vec::new(),
                    };
                    let mut calls = SharedCalls::default();
                    let mut on_shared: Vec<Held> = Vec::new();
                    barrier.wait();
                    for _ in 0..200 {
                        match rng.below(10) {
                            0..=3 => driver.make(&mut rng),
                            4 => driver.sync(&mut rng),
                            5 | 6 if !driver.held.is_empty() => {
                                let i = rng.below(driver.held.len());
                                let held = driver.held.swap_remove(i);
                                driver.end(held);
                            }
                            7 => {
                                let buf = kmalloc(checker, SOAK_SIZE, Gfp::KERNEL);
                                let dma =
                                    dma_map_single(shared, buf, SOAK_SIZE, Direction::ToDevice);
                                if dma_mapping_error(shared, dma) == 0 {
                                    calls.maps_ok += 1;
                                    on_shared.push(Held::Single(buf, dma, Direction::ToDevice));
                                } else {
                                    calls.maps_refused += 1;
                                    kfree(checker, buf);
                                }
                            }
                            8 => {
                                let mut dma = 0;
                                let cpu =
                                    dma_alloc_coherent(shared, SOAK_SIZE, &mut dma, Gfp::KERNEL);
                                if cpu.is_null() {
                                    calls.allocs_refused += 1;
                                } else {
                                    calls.allocs_ok += 1;
                                    on_shared.push(Held::Coherent(cpu, dma));
                                }
                            }
                            _ => match on_shared.last() {
                                Some(Held::Single(_, dma, dir)) if rng.below(2) == 0 => {
                                    calls.syncs += 1;
                                    dma_sync_single_for_cpu(shared, *dma, SOAK_SIZE, *dir);
                                }
                                Some(_) => {
                                    let held = on_shared.pop().expect("a held entry");
                                    match held {
                                        Held::Single(buf, dma, dir) => {
                                            calls.unmaps += 1;
                                            dma_unmap_single(shared, dma, SOAK_SIZE, dir);
                                            kfree(checker, buf);
                                        }
                                        Held::Coherent(cpu, dma) => {
                                            calls.frees += 1;
                                            dma_free_coherent(shared, SOAK_SIZE, cpu, dma);
                                        }
                                        _ => unreachable!("only singles and coherent buffers"),
                                    }
                                }
                                None => {}
                            },
                        }
                    }
                    // Pool blocks are freed (a pool is not destroyed with blocks out); of the
                    // rest, a part is ended and the others are left for the release to report.
                    let (blocks, mut rest): (Vec<Held>, Vec<Held>) =
                        std::mem::take(&mut driver.held)
                            .into_iter()
                            .partition(|h| matches!(h, Held::PoolBlock(..)));
                    blocks.into_iter().for_each(|b| driver.end(b));
                    let leaked_part = rest.split_off(rng.below(rest.len() + 1));
                    rest.into_iter().for_each(|h| driver.end(h));
                    let leaked_entries: usize = leaked_part.iter().map(Held::entries).sum();
                    if let Some(pool) = driver.pool.take() {
                        dma_pool_destroy(pool);
                    }
                    driver.dev.release();
                    for held in leaked_part {
                        driver.forget(held);
                    }
                    // Whatever is still held on the shared device is ended now (refused if the
                    // device is gone by then).
                    for held in on_shared {
                        match held {
                            Held::Single(buf, dma, dir) => {
                                calls.unmaps += 1;
                                dma_unmap_single(shared, dma, SOAK_SIZE, dir);
                                kfree(checker, buf);
                            }
                            Held::Coherent(cpu, dma) => {
                                calls.frees += 1;
                                dma_free_coherent(shared, SOAK_SIZE, cpu, dma);
                            }
                            _ => unreachable!("only singles and coherent buffers"),
                        }
                    }
                    (leaked_entries, calls)
                })
            })
            .collect();
        barrier.wait();
        std::thread::sleep(std::time::Duration::from_micros(100 + seed % 7 * 150));
        shared.release();
        workers.into_iter().map(|w| w.join().unwrap()).unzip()
    });

    let violations = checker.take_violations();
    let of = |device: &str, rule: &str, call: Option<&str>, mapped_by: Option<&str>| {
        violations
            .iter()
            .filter(|v| v.device == device && v.rule.id == rule)
            .filter(|v| call.is_none_or(|c| v.call == c))
            .filter(|v| mapped_by.is_none_or(|m| v.mapped_by == Some(m)))
            .map(|v| v.count as usize)
            .sum::<usize>()
    };
    // Own devices: a leak (grouped by site, counting its entries) per entry left at release,
    // nothing else.
    for (t, &left) in left_per_thread.iter().enumerate() {
        let own = format!("own{t}");
        let on_own: Vec<_> = violations.iter().filter(|v| v.device == own).collect();
        assert!(
            on_own.iter().all(|v| v.rule.id == "leak"),
            "seed {seed}: a well-formed driver under faults was reported: {on_own:#?}"
        );
        let leaked: u64 = on_own.iter().map(|v| v.count).sum();
        assert_eq!(leaked as usize, left, "seed {seed}: leaks on {own}");
    }
    // The shared device: exact accounting of every call.
    let sum = |f: fn(&SharedCalls) -> usize| calls.iter().map(f).sum::<usize>();
    let (maps_ok, maps_refused, unmaps) = (
        sum(|c| c.maps_ok),
        sum(|c| c.maps_refused),
        sum(|c| c.unmaps),
    );
    let (allocs_ok, allocs_refused, frees) = (
        sum(|c| c.allocs_ok),
        sum(|c| c.allocs_refused),
        sum(|c| c.frees),
    );
    let released = |call| of("shared", "device-released", Some(call), None);
    let leaked_maps = of("shared", "leak", None, Some("dma_map_single"));
    let leaked_allocs = of("shared", "leak", None, Some("dma_alloc_coherent"));
    assert_eq!(
        released("dma_map_single"),
        maps_refused,
        "seed {seed}: refused maps"
    );
    assert_eq!(
        released("dma_alloc_coherent"),
        allocs_refused,
        "seed {seed}: refused allocations"
    );
    assert!(
        leaked_maps <= maps_ok && leaked_allocs <= allocs_ok,
        "seed {seed}: more leaks than entries"
    );
    assert_eq!(
        released("dma_unmap_single"),
        unmaps - (maps_ok - leaked_maps),
        "seed {seed}: every unmap ends its entry or is refused"
    );
    assert_eq!(
        released("dma_free_coherent"),
        frees - (allocs_ok - leaked_allocs),
        "seed {seed}: every free ends its buffer or is refused"
    );
    assert!(released("dma_sync_single_for_cpu") <= sum(|c| c.syncs));
    let accounted = released("dma_map_single")
        + released("dma_alloc_coherent")
        + released("dma_unmap_single")
        + released("dma_free_coherent")
        + released("dma_sync_single_for_cpu")
        + leaked_maps
        + leaked_allocs;
    let on_shared: Vec<_> = violations.iter().filter(|v| v.device == "shared").collect();
    assert_eq!(
        counted(on_shared.iter().copied()),
        accounted,
        "seed {seed}: unexpected reports {on_shared:#?}"
    );
    assert_eq!(
        counted(&violations),
        accounted + left_per_thread.iter().sum::<usize>()
    );
    assert!(
        checker.live_entries().is_empty(),
        "seed {seed}: entries left live"
    );
    assert_eq!(
        checker.stats().live_entries,
        0,
        "seed {seed}: the live count"
    );
}

/// Run the soak for `duration`: rounds of the differential stress (checked against the model)
/// and of [`soak_round`], with new seeds, at least one of each. Returns the rounds run.
fn soak_for(duration: std::time::Duration) -> u64 {
    let start = std::time::Instant::now();
    let mut seed = 1000;
    loop {
        stress(seed);
        soak_round(seed, 8);
        seed += 1;
        if start.elapsed() >= duration {
            return seed - 1000;
        }
    }
}

#[test]
fn a_short_soak_accounts_for_every_entry_exactly() {
    let rounds = soak_for(std::time::Duration::from_millis(1500));
    eprintln!("{rounds} soak rounds");
}

/// The long soak: `DMACHECK_SOAK_SECS` seconds (default 600) of [`soak_for`], e.g.
/// `DMACHECK_SOAK_SECS=3600 cargo test --release --test stress_model -- --ignored soak`.
#[test]
#[ignore = "long: run with --ignored, DMACHECK_SOAK_SECS sets its length"]
fn long_soak() {
    let secs = std::env::var("DMACHECK_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let rounds = soak_for(std::time::Duration::from_secs(secs));
    eprintln!("{rounds} soak rounds in {secs} s");
}

// ---------------------------------------------------------------------------------------------
// The fuzz targets' logic on their committed seed inputs (CI's smoke run of the targets).

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|f| f.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
        .into_iter()
        .map(|f| {
            let data = std::fs::read(&f).expect("a seed file");
            (f.display().to_string(), data)
        })
        .collect()
}

#[test]
fn the_ops_fuzz_target_agrees_with_the_model_on_its_seeds() {
    for (name, data) in seeds("ops") {
        eprintln!("{name}");
        model::fuzz_ops(&data);
    }
}

#[test]
fn the_driver_fuzz_target_runs_clean_on_its_seeds() {
    for (name, data) in seeds("driver") {
        eprintln!("{name}");
        model::ring::fuzz_driver(&data);
    }
}

#[cfg(not(loom))]
#[test]
fn the_capi_fuzz_target_runs_its_seeds_without_a_crash() {
    for (name, data) in seeds("capi") {
        eprintln!("{name}");
        model::capi::fuzz_capi(&data);
    }
}
