//! Live and peak entry counts, striped by thread.

use super::Padded;
use crate::sync::{AtomicI64, AtomicU64, Ordering};

/// Counter stripes: each thread counts on its own cache line (see [`Counts`]).
#[cfg(not(loom))]
const STRIPES: usize = 16;
#[cfg(loom)]
const STRIPES: usize = 2;

/// Live and peak entry counts without a counter shared by threads: each thread adds to its own
/// stripe, `live` is the sum. A thread's stripe reaching a new high triggers a look at the sum
/// for the peak, so the peak is exact for one thread and a close lower bound under concurrency.
pub(super) struct Counts {
    stripes: Box<[Padded<(AtomicI64, AtomicI64)>]>,
    peak: AtomicU64,
}

impl Counts {
    pub(super) fn new() -> Counts {
        Counts {
            stripes: (0..=STRIPES)
                .map(|_| Padded((AtomicI64::new(0), AtomicI64::new(0))))
                .collect(),
            peak: AtomicU64::new(0),
        }
    }

    pub(super) fn add(&self, n: i64) {
        let (stripe, exclusive) = thread_stripe();
        let (count, high) = &self.stripes[stripe].0;
        let now = if exclusive {
            // Only this thread writes its stripe: a plain store, no locked instruction.
            let now = count.load(Ordering::Relaxed) + n;
            count.store(now, Ordering::Relaxed);
            now
        } else {
            count.fetch_add(n, Ordering::Relaxed) + n
        };
        if n > 0 && now > high.load(Ordering::Relaxed) {
            high.store(now, Ordering::Relaxed);
            let live = self.live();
            if live > self.peak.load(Ordering::Relaxed) {
                self.peak.fetch_max(live, Ordering::Relaxed);
            }
        }
    }

    /// The most entries live at once so far.
    pub(super) fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    pub(super) fn live(&self) -> u64 {
        let sum: i64 = self
            .stripes
            .iter()
            .map(|s| s.0.0.load(Ordering::Relaxed))
            .sum();
        sum.max(0) as u64
    }
}

/// The calling thread's counter stripe, and whether the thread has it to itself. The first
/// [`STRIPES`] live threads each own one (a thread's stripe is handed back when it exits);
/// threads beyond them share the last, extra one.
#[cfg(not(loom))]
fn thread_stripe() -> (usize, bool) {
    /// Stripes handed back by exited threads, and the next never handed out.
    static FREE: crate::sync::process::Mutex<(Vec<usize>, usize)> =
        crate::sync::process::Mutex::new((Vec::new(), 0));
    struct Owned(usize);
    impl Drop for Owned {
        fn drop(&mut self) {
            if self.0 < STRIPES {
                FREE.lock().0.push(self.0);
            }
        }
    }
    std::thread_local! {
        static STRIPE: Owned = {
            let mut free = FREE.lock();
            let stripe = free.0.pop().unwrap_or_else(|| {
                free.1 += 1;
                (free.1 - 1).min(STRIPES)
            });
            Owned(stripe)
        };
    }
    // A thread being torn down (its stripe already handed back) counts on the shared stripe.
    STRIPE
        .try_with(|s| (s.0, s.0 < STRIPES))
        .unwrap_or((STRIPES, false))
}

/// Under loom, every modeled thread shares one stripe: counts are not what the models check.
#[cfg(loom)]
fn thread_stripe() -> (usize, bool) {
    (STRIPES, false)
}
