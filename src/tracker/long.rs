//! The entries that span many pages, kept apart so a lookup of an address inside a mapping
//! looks back only a few pages, however long the longest mapping ever made.
//!
//! Every entry is filed in the table under the page of its start. A lookup of an address inside
//! one looks back from the address's page: over at most [`SHORT_SPAN_PAGES`] pages for the
//! short entries, then at the start pages this list names for the long ones that reach the
//! address. Before this list, the look-back spanned the longest mapping ever made, so one large
//! mapping made every later miss (an unknown address) probe thousands of pages.

use crate::sync::{AtomicU64, Mutex, Ordering};

/// Entries spanning more pages than this (64 KiB past their first page) are long.
pub(super) const SHORT_SPAN_PAGES: u64 = 16;

/// Released long entries remembered, so a sync after an unmap of one still finds its tombstone
/// from any address inside it.
#[cfg(not(loom))]
const RELEASED_REMEMBERED: usize = 64;
#[cfg(loom)]
const RELEASED_REMEMBERED: usize = 2;

/// The page ranges (`first..=last`) of the live long entries, and of the recently released.
#[derive(Default)]
pub(super) struct LongSpans {
    /// How many long entries are live: lookups skip the lock while there are none.
    pub(super) live_count: AtomicU64,
    /// How many were ever released: tombstone lookups skip the lock while there are none.
    released_count: AtomicU64,
    spans: Mutex<Spans>,
}

#[derive(Default)]
struct Spans {
    live: Vec<(u64, u64)>,
    released: Vec<(u64, u64)>,
    next_released: usize,
}

impl LongSpans {
    /// Whether an entry over pages `first..=last` is long.
    pub(super) fn is_long(first: u64, last: u64) -> bool {
        last - first > SHORT_SPAN_PAGES
    }

    pub(super) fn insert(&self, first: u64, last: u64) {
        self.spans.lock().live.push((first, last));
        self.live_count.fetch_add(1, Ordering::Release);
    }

    /// Forget one live entry over `first..=last` and remember it as released.
    pub(super) fn remove(&self, first: u64, last: u64) {
        let mut spans = self.spans.lock();
        if let Some(i) = spans.live.iter().position(|&s| s == (first, last)) {
            spans.live.swap_remove(i);
            self.live_count.fetch_sub(1, Ordering::Release);
        }
        let at = spans.next_released;
        if spans.released.len() < RELEASED_REMEMBERED {
            spans.released.push((first, last));
        } else {
            spans.released[at] = (first, last);
        }
        spans.next_released = (at + 1) % RELEASED_REMEMBERED;
        self.released_count.fetch_add(1, Ordering::Release);
    }

    /// The start pages before `below` of the live long entries that reach `page`, nearest
    /// first, each once.
    pub(super) fn live_starts(&self, page: u64, below: u64) -> Vec<u64> {
        if self.live_count.load(Ordering::Acquire) == 0 {
            return Vec::new();
        }
        Self::starts(&self.spans.lock().live, page, below)
    }

    /// As [`LongSpans::live_starts`], for the remembered released long entries.
    pub(super) fn released_starts(&self, page: u64, below: u64) -> Vec<u64> {
        if self.released_count.load(Ordering::Acquire) == 0 {
            return Vec::new();
        }
        Self::starts(&self.spans.lock().released, page, below)
    }

    fn starts(spans: &[(u64, u64)], page: u64, below: u64) -> Vec<u64> {
        let mut starts: Vec<u64> = spans
            .iter()
            .filter(|&&(first, last)| first < below && first <= page && page <= last)
            .map(|&(first, _)| first)
            .collect();
        starts.sort_unstable_by(|a, b| b.cmp(a));
        starts.dedup();
        starts
    }
}
