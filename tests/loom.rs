//! loom models of the checker under concurrency: every interleaving of a few threads' DMA calls
//! (up to a bound on preemptions) is run, and each must leave the table and the reports right.
//!
//! Built only with `--cfg loom`, which makes src/sync.rs hand the whole crate loom's locks and
//! atomics:
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --test loom
//! ```
//!
//! The bound defaults to 2 in these models when `LOOM_MAX_PREEMPTIONS` is not set. The models
//! drive the real shim (real memory, the direct backend) where the operation has a call; the
//! first drives the engine alone through [`Checker::record`], as a trace or a model would.
//!
//! Each model collects what every execution ended with and checks, at the end, that exactly the
//! expected set of outcomes was seen: each outcome is right, and loom really explored the race
//! (every order of a racing pair was run).
//!
//! The last part is what a user's own loom test looks like: a driver whose interrupt handler
//! races its teardown, a bug ordinary threads almost never hit, found on every run here.
#![cfg(loom)]

use std::collections::BTreeSet;
use std::panic::Location;
use std::sync::Mutex as StdMutex;

use dmacheck::*;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

/// A checker for a model: quiet, independent of the environment, with a small arena.
fn checker() -> Checker {
    Checker::builder()
        .env(false)
        .print(false)
        .memory(MemoryConfig {
            size: 4 << 20,
            phys_base: 1 << 20,
        })
        .build()
}

/// Run `f` under loom (preemptions bounded by `LOOM_MAX_PREEMPTIONS`, 2 if unset), collecting
/// the outcome of every execution. Returns the distinct outcomes and how many executions ran.
fn explore<O: Ord + Send + 'static>(
    f: impl Fn() -> O + Sync + Send + 'static,
) -> (BTreeSet<O>, usize) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    let seen = std::sync::Arc::new(StdMutex::new((BTreeSet::new(), 0)));
    let sink = seen.clone();
    builder.check(move || {
        let outcome = f();
        let mut seen = sink.lock().unwrap();
        seen.0.insert(outcome);
        seen.1 += 1;
    });
    let (outcomes, runs) = std::mem::take(&mut *seen.lock().unwrap());
    (outcomes, runs)
}

/// The ids of the violations reported so far, sorted (threads report in either order).
fn rules_fired(c: &Checker) -> Vec<&'static str> {
    let mut ids: Vec<_> = c.violations().iter().map(|v| v.rule.id).collect();
    ids.sort_unstable();
    ids
}

/// A recorded event, as a trace or a model would make it.
#[track_caller]
fn event(op: Op, call: &'static str, device: u32, dma_addr: DmaAddr, size: u64) -> Event {
    let mut ev = Event::new(
        op,
        call,
        MapKind::Single,
        DeviceId(device),
        Site::at(Location::caller()),
    );
    ev.dma_addr = dma_addr;
    ev.size = size;
    ev.dir = Direction::FromDevice;
    ev
}

/// Map (and test) an entry, then unmap it, through the engine alone.
fn map_then_unmap(c: &Checker, device: u32, dma_addr: DmaAddr, size: u64) {
    c.record(&event(Op::Map, "dma_map_single", device, dma_addr, size));
    c.record(&event(
        Op::MappingErrorCheck,
        "dma_mapping_error",
        device,
        dma_addr,
        0,
    ));
    let ended = c.record(&event(
        Op::Unmap,
        "dma_unmap_single",
        device,
        dma_addr,
        size,
    ));
    assert!(
        ended.is_some_and(|e| e.dma_addr() == dma_addr && e.device() == DeviceId(device)),
        "the unmap of {dma_addr:#x} on device {device} ended another entry or none"
    );
}

#[test]
fn concurrent_maps_and_unmaps_of_different_entries_lose_nothing() {
    let (outcomes, runs) = explore(|| {
        let c = checker();
        // Two threads in one page's bucket (two devices at one address, beside a live entry),
        // while the main thread maps and unmaps in another page.
        c.record(&event(Op::Map, "dma_map_single", 0, 0x10_0800, 64));
        let threads: Vec<_> = [1, 2]
            .into_iter()
            .map(|device| {
                let c = c.clone();
                thread::spawn(move || map_then_unmap(&c, device, 0x10_0000, 256))
            })
            .collect();
        map_then_unmap(&c, 0, 0x20_0000, 4096);
        for t in threads {
            t.join().unwrap();
        }
        let live: Vec<_> = c
            .live_entries()
            .iter()
            .map(|e| (e.device().0, e.dma_addr()))
            .collect();
        (rules_fired(&c), live, c.stats().live_entries)
    });
    assert_eq!(
        outcomes,
        BTreeSet::from([(vec![], vec![(0, 0x10_0800)], 1)]),
        "({runs} executions)"
    );
    assert!(runs > 1, "loom explored a single interleaving");
}

/// A device with one mapped and tested buffer of `size` bytes.
fn mapped(c: &Checker, size: usize, dir: Direction) -> (Device, *mut u8, DmaAddr) {
    let dev = c.device("eth0").driver("model").build();
    let buf = kmalloc(c, size, Gfp::KERNEL);
    let dma = dma_map_single(&dev, buf, size, dir);
    assert_eq!(dma_mapping_error(&dev, dma), 0);
    (dev, buf, dma)
}

#[test]
fn unmap_racing_a_sync_of_the_same_entry_is_reported_only_when_the_sync_comes_second() {
    let (outcomes, runs) = explore(|| {
        let c = checker();
        let (dev, _buf, dma) = mapped(&c, 256, Direction::FromDevice);
        let unmapper = {
            let dev = dev.clone();
            thread::spawn(move || dma_unmap_single(&dev, dma, 256, Direction::FromDevice))
        };
        dma_sync_single_for_cpu(&dev, dma, 256, Direction::FromDevice);
        unmapper.join().unwrap();
        // A late sync is reported naming the unmap it came after.
        let names_the_unmap = c.violations().iter().all(|v| {
            v.related
                .as_ref()
                .is_some_and(|r| r.label == "released at" && r.site.location().line() > 0)
        });
        (rules_fired(&c), names_the_unmap, c.stats().live_entries)
    });
    assert_eq!(
        outcomes,
        BTreeSet::from([(vec![], true, 0), (vec!["sync-unknown"], true, 0)]),
        "({runs} executions)"
    );
}

#[test]
fn two_threads_unmapping_one_entry_one_succeeds_the_other_is_a_double_unmap() {
    let (outcomes, runs) = explore(|| {
        let c = checker();
        let (dev, _buf, dma) = mapped(&c, 512, Direction::ToDevice);
        let threads = [dev.clone(), dev.clone()].map(|dev| {
            thread::spawn(move || dma_unmap_single(&dev, dma, 512, Direction::ToDevice))
        });
        for t in threads {
            t.join().unwrap();
        }
        let related: Vec<_> = c
            .violations()
            .iter()
            .map(|v| v.related.as_ref().map(|r| r.label))
            .collect();
        (rules_fired(&c), related, c.stats().live_entries)
    });
    // Every execution: exactly one double unmap, naming the first release; no entry left.
    assert_eq!(
        outcomes,
        BTreeSet::from([(vec!["double-unmap"], vec![Some("first released at")], 0)]),
        "({runs} executions)"
    );
    assert!(runs > 1, "loom explored a single interleaving");
}

#[test]
fn of_two_racing_unmaps_either_can_be_the_one_reported() {
    let (outcomes, runs) = explore(|| {
        let c = checker();
        let (dev, _buf, dma) = mapped(&c, 512, Direction::ToDevice);
        // Two threads calling from two lines, so the report tells which one lost.
        let a = {
            let dev = dev.clone();
            thread::spawn(move || dma_unmap_single(&dev, dma, 512, Direction::ToDevice))
        };
        let b = {
            let dev = dev.clone();
            thread::spawn(move || dma_unmap_single(&dev, dma, 512, Direction::ToDevice))
        };
        a.join().unwrap();
        b.join().unwrap();
        let vs = c.violations();
        assert_eq!(vs.len(), 1, "one double unmap: {vs:?}");
        let loser = vs[0].site.location().line();
        let winner = vs[0].related.as_ref().map(|r| r.site.location().line());
        (loser, winner)
    });
    // Each thread lost in some execution, and the report named the other one as the first.
    assert_eq!(outcomes.len(), 2, "{outcomes:?} ({runs} executions)");
    for &(loser, winner) in &outcomes {
        let winner = winner.expect("the first release is named");
        assert_ne!(loser, winner);
        assert!(outcomes.contains(&(winner, Some(loser))), "{outcomes:?}");
    }
}

/// Of two racing maps that share a cache line the device may write, exactly one is
/// reported: the later one, whichever it is, finds the earlier in the memory index.
#[test]
fn of_two_racing_maps_sharing_a_line_exactly_one_is_reported() {
    let (outcomes, runs) = explore(|| {
        let c = checker();
        let dev = c.device("eth0").driver("model").build();
        let buf = kmalloc(&c, 128, Gfp::KERNEL) as usize;
        let other = {
            let dev = dev.clone();
            thread::spawn(move || {
                let dma = dma_map_single(&dev, (buf + 64) as *const u8, 64, Direction::FromDevice);
                dma_mapping_error(&dev, dma);
                dma
            })
        };
        let dma = dma_map_single(&dev, buf as *const u8, 96, Direction::FromDevice);
        dma_mapping_error(&dev, dma);
        let other_dma = other.join().unwrap();
        dma_unmap_single(&dev, dma, 96, Direction::FromDevice);
        dma_unmap_single(&dev, other_dma, 64, Direction::FromDevice);
        (rules_fired(&c), c.stats().live_entries)
    });
    assert_eq!(
        outcomes,
        BTreeSet::from([(vec!["cacheline-overlap"], 0)]),
        "({runs} executions)"
    );
    assert!(runs > 1, "loom explored a single interleaving");
}

/// A free racing the unmap of its memory is reported exactly when it comes first; either way
/// nothing of the mapping is left behind.
#[test]
fn a_free_racing_the_unmap_of_its_memory_is_reported_only_when_it_comes_first() {
    let (outcomes, runs) = explore(|| {
        let c = checker();
        let (dev, buf, dma) = mapped(&c, 256, Direction::ToDevice);
        let unmapper = {
            let dev = dev.clone();
            thread::spawn(move || dma_unmap_single(&dev, dma, 256, Direction::ToDevice))
        };
        kfree(&c, buf);
        unmapper.join().unwrap();
        (rules_fired(&c), c.stats().live_entries)
    });
    assert_eq!(
        outcomes,
        BTreeSet::from([(vec![], 0), (vec!["free-while-mapped"], 0)]),
        "({runs} executions)"
    );
}

#[test]
fn device_release_racing_an_unmap_accounts_for_the_entry_exactly_once() {
    let (outcomes, runs) = explore(|| {
        let c = checker();
        let (dev, _buf, dma) = mapped(&c, 128, Direction::Bidirectional);
        let unmapper = {
            let dev = dev.clone();
            thread::spawn(move || dma_unmap_single(&dev, dma, 128, Direction::Bidirectional))
        };
        dev.release();
        unmapper.join().unwrap();
        (rules_fired(&c), c.stats().live_entries)
    });
    // The unmap first: clean. The release first: the entry is one leak, and the late unmap is
    // refused as a call on a released device, never reported as an unmap of an unknown address
    // (the unmap holds the device's release gate from its check to its removal).
    assert_eq!(
        outcomes,
        BTreeSet::from([(vec![], 0), (vec!["device-released", "leak"], 0)]),
        "({runs} executions)"
    );
}

#[test]
fn device_release_racing_a_map_accounts_for_the_entry_exactly_once() {
    let (outcomes, runs) = explore(|| {
        let c = checker();
        let dev = c.device("eth0").driver("model").build();
        let buf = kmalloc(&c, 256, Gfp::KERNEL) as usize;
        let mapper = {
            let dev = dev.clone();
            // FROM_DEVICE: the device may write the buffer, so the map also files the entry in
            // the cache-line index; those locks give loom the point between the map's check of
            // the device and its record at which the release can run (without the gate, loom
            // finds the entry left live on the released device, unreported).
            thread::spawn(move || {
                let dma = dma_map_single(&dev, buf as *const u8, 256, Direction::FromDevice);
                dma_mapping_error(&dev, dma) == 0
            })
        };
        dev.release();
        let mapped = mapper.join().unwrap();
        let leaked = c.leak_report().entries;
        (mapped, rules_fired(&c), leaked, c.stats().live_entries)
    });
    // The map first: its entry is the release's one leak. The release first: the map is refused
    // as a call on a released device and makes no entry. Never an entry left live on the
    // released device without a leak report, never a refused map that leaked.
    assert_eq!(
        outcomes,
        BTreeSet::from([
            (false, vec!["device-released"], 0, 0),
            (true, vec!["leak"], 1, 0),
        ]),
        "({runs} executions)"
    );
}

#[test]
fn a_leak_report_while_mapping_sees_the_entry_whole_or_not_at_all() {
    let (outcomes, runs) = explore(|| {
        let c = checker();
        let dev = c.device("eth0").driver("model").build();
        let buf = kmalloc(&c, 1024, Gfp::KERNEL) as usize;
        let mapper = {
            let dev = dev.clone();
            thread::spawn(move || {
                let dma = dma_map_single(&dev, buf as *const u8, 1024, Direction::ToDevice);
                assert_eq!(dma_mapping_error(&dev, dma), 0);
                dma
            })
        };
        let during = c.leak_report();
        let dma = mapper.join().unwrap();
        // The mapping stays live and is found afterwards, whatever the report saw.
        let after = c.leak_report();
        dma_unmap_single(&dev, dma, 1024, Direction::ToDevice);
        (
            (during.entries, during.bytes, during.sites.len()),
            (after.entries, after.bytes),
            rules_fired(&c),
            c.stats().live_entries,
        )
    });
    assert_eq!(
        outcomes,
        BTreeSet::from([
            ((0, 0, 0), (1, 1024), vec![], 0),
            ((1, 1024, 1), (1, 1024), vec![], 0),
        ]),
        "({runs} executions)"
    );
}

#[test]
fn a_leak_report_while_a_device_is_released_still_counts_its_entries() {
    let (outcomes, runs) = explore(|| {
        let c = checker();
        let (dev, _buf, _dma) = mapped(&c, 256, Direction::ToDevice);
        let releaser = {
            let dev = dev.clone();
            thread::spawn(move || dev.release())
        };
        let report = c.leak_report();
        releaser.join().unwrap();
        (report.entries, report.bytes)
    });
    // Live, or leaked at the release: either way the entry is in the summary.
    assert_eq!(outcomes, BTreeSet::from([(1, 256)]), "({runs} executions)");
}

// ---------------------------------------------------------------------------------------------
// A user's loom test: a driver race only loom finds.
//
// A toy receive path. The interrupt handler hands the buffer to the CPU if the device is still
// running; teardown marks it stopped and unmaps. The buggy version checks the flag and syncs
// without holding anything, so teardown can unmap between the check and the sync: a sync after
// unmap, which on real hardware reads a buffer the IOMMU no longer maps. Ordinary threads hit
// that window rarely; loom runs it on the first try. The fixed version holds the driver's
// spinlock (dmacheck's `SpinLock`, a loom lock in a loom build) across the check and the sync.

struct Rx {
    dev: Device,
    dma: DmaAddr,
    running: AtomicBool,
    lock: SpinLock<()>,
}

const RX_LEN: usize = 1536;

impl Rx {
    fn start(c: &Checker) -> std::sync::Arc<Rx> {
        let (dev, _buf, dma) = mapped(c, RX_LEN, Direction::FromDevice);
        std::sync::Arc::new(Rx {
            dev,
            dma,
            running: AtomicBool::new(true),
            lock: SpinLock::new(()),
        })
    }

    fn irq_handler_buggy(&self) {
        if self.running.load(Ordering::Acquire) {
            dma_sync_single_for_cpu(&self.dev, self.dma, RX_LEN, Direction::FromDevice);
        }
    }

    fn stop_buggy(&self) {
        self.running.store(false, Ordering::Release);
        dma_unmap_single(&self.dev, self.dma, RX_LEN, Direction::FromDevice);
    }

    fn irq_handler(&self) {
        let _guard = self.lock.lock_irqsave();
        if self.running.load(Ordering::Acquire) {
            dma_sync_single_for_cpu(&self.dev, self.dma, RX_LEN, Direction::FromDevice);
        }
    }

    fn stop(&self) {
        let guard = self.lock.lock_irqsave();
        self.running.store(false, Ordering::Release);
        drop(guard);
        dma_unmap_single(&self.dev, self.dma, RX_LEN, Direction::FromDevice);
    }
}

/// The user's checker: every rule at deny, so the first violation fails the model.
fn strict() -> Checker {
    Checker::builder()
        .env(false)
        .print(false)
        .all_levels(Level::Deny)
        .build()
}

#[test]
#[should_panic(expected = "sync-unknown")]
fn users_loom_test_finds_the_handler_racing_teardown() {
    loom::model(|| {
        let c = strict();
        let rx = Rx::start(&c);
        let irq = {
            let rx = rx.clone();
            thread::spawn(move || rx.irq_handler_buggy())
        };
        rx.stop_buggy();
        irq.join().unwrap();
        c.assert_clean();
    });
}

#[test]
fn users_loom_test_passes_once_the_handler_holds_the_lock() {
    loom::model(|| {
        let c = strict();
        let rx = Rx::start(&c);
        let irq = {
            let rx = rx.clone();
            thread::spawn(move || rx.irq_handler())
        };
        rx.stop();
        irq.join().unwrap();
        c.assert_clean();
    });
}
