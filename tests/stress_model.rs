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

#[test]
fn the_capi_fuzz_target_runs_its_seeds_without_a_crash() {
    for (name, data) in seeds("capi") {
        eprintln!("{name}");
        model::capi::fuzz_capi(&data);
    }
}
