//! The cache-line index: which live entries hold which CPU cache lines.

use super::{Entry, LOCKS, Padded, spread};
use crate::site::Site;
use crate::sync::{AtomicU64, Mutex, Ordering};
use crate::types::DeviceId;
use crate::types::{DmaAddr, MapKind};
use smallvec::SmallVec;
use std::collections::HashMap;

/// A live entry that holds CPU cache lines, as the line index knows it.
#[derive(Clone, Debug)]
pub struct LineHolder {
    /// Its DMA address.
    pub dma_addr: DmaAddr,
    /// Its kind.
    pub kind: MapKind,
    /// Where it was made.
    pub site: Site,
}

/// A holder as the line index stores it (24 bytes): what finds its entry again in the table,
/// where its kind and site are, when a report needs them.
#[derive(Clone, Copy, Debug)]
pub(super) struct Held {
    pub(super) dma_addr: DmaAddr,
    pub(super) first: u64,
    lines: u32,
    pub(super) device: DeviceId,
}

impl Held {
    pub(super) fn same_key(&self, other: &Held) -> bool {
        self.device == other.device && self.dma_addr == other.dma_addr && self.first == other.first
    }

    fn end(&self) -> u64 {
        self.first + u64::from(self.lines)
    }

    fn is(&self, device: DeviceId, dma_addr: DmaAddr, (first, end): (u64, u64)) -> bool {
        let lines = u32::try_from(end - first).unwrap_or(u32::MAX);
        self.device == device
            && self.dma_addr == dma_addr
            && (self.first, self.lines) == (first, lines)
    }
}

/// Which live entries hold which CPU cache lines. Lines are grouped in regions (a page of
/// memory each), and a holder is filed under every region it touches, so a new mapping looks
/// only at its own regions: mappings of different pages by different threads share no lock
/// (regions hash onto [`LOCKS`] locks). A holder spanning more than [`LONG_SPAN_REGIONS`]
/// regions goes to a list of long holders instead, which every search also reads while any is
/// live.
pub(super) struct LineIndex {
    regions: Box<[Padded<Mutex<LineRegions>>]>,
    long: Mutex<Vec<Held>>,
    long_live: AtomicU64,
}

/// The regions one lock guards: their holders, by region.
#[derive(Default)]
struct LineRegions(HashMap<u64, SmallVec<[Held; 2]>, rustc_hash::FxBuildHasher>);

/// 64 lines (a 4 KiB page of memory) per region.
const LINE_REGION_SHIFT: u32 = 6;
/// Holders spanning more regions than this (256 KiB) are kept in the long list.
const LONG_SPAN_REGIONS: u64 = 64;

impl LineIndex {
    pub(super) fn new() -> LineIndex {
        LineIndex {
            regions: (0..LOCKS).map(|_| Padded(Mutex::default())).collect(),
            long: Mutex::default(),
            long_live: AtomicU64::new(0),
        }
    }

    fn lock_of(&self, region: u64) -> &Mutex<LineRegions> {
        &self.regions[spread(region)].0
    }

    /// The regions lines `first..end` touch, unless they are too many (a long holder).
    fn regions_of((first, end): (u64, u64)) -> Option<std::ops::RangeInclusive<u64>> {
        let (lo, hi) = (first >> LINE_REGION_SHIFT, (end - 1) >> LINE_REGION_SHIFT);
        (hi - lo < LONG_SPAN_REGIONS).then_some(lo..=hi)
    }

    /// Index `e`'s lines; return the holders of any of them already there.
    pub(super) fn insert(&self, e: &Entry, (first, end): (u64, u64)) -> Vec<Held> {
        let holder = Held {
            device: e.device,
            dma_addr: e.dma_addr,
            first,
            // Lines beyond 4G (256 GiB) are not told apart; such a mapping is long anyway.
            lines: u32::try_from(end - first).unwrap_or(u32::MAX),
        };
        let end = holder.end();
        let meets = |h: &Held| h.first < end && first < h.end();
        let mut overlapping: Vec<Held> = Vec::new();
        if self.long_live.load(Ordering::Acquire) > 0 || Self::regions_of((first, end)).is_none() {
            let mut long = self.long.lock();
            overlapping.extend(long.iter().filter(|h| meets(h)).cloned());
            if Self::regions_of((first, end)).is_none() {
                long.push(holder);
                self.long_live.fetch_add(1, Ordering::Release);
            }
        }
        match Self::regions_of((first, end)) {
            // Each region is searched and joined under its lock, so of two racing maps of the
            // same lines, the later in a region they share sees the earlier. A holder filed in
            // several regions counts in one: the region of the first line the two share.
            Some(regions) => {
                for region in regions {
                    let mut locked = self.lock_of(region).lock();
                    let holders = locked.0.entry(region).or_default();
                    overlapping.extend(
                        holders
                            .iter()
                            .filter(|h| {
                                meets(h) && h.first.max(first) >> LINE_REGION_SHIFT == region
                            })
                            .cloned(),
                    );
                    holders.push(holder);
                }
            }
            // A long holder (already in the long list, where short ones find it) looks through
            // every short one, each in its first region: bounded by the live entries, where its
            // own regions may be millions.
            None => {
                for lock in &self.regions {
                    let locked = lock.0.lock();
                    for (&region, holders) in &locked.0 {
                        overlapping.extend(
                            holders
                                .iter()
                                .filter(|h| meets(h) && h.first >> LINE_REGION_SHIFT == region)
                                .cloned(),
                        );
                    }
                }
            }
        }
        overlapping
    }

    pub(super) fn remove(&self, e: &Entry, lines: (u64, u64)) {
        let Some(regions) = Self::regions_of(lines) else {
            let mut long = self.long.lock();
            if let Some(i) = long.iter().position(|h| h.is(e.device, e.dma_addr, lines)) {
                long.swap_remove(i);
                self.long_live.fetch_sub(1, Ordering::Release);
            }
            return;
        };
        for region in regions {
            let mut locked = self.lock_of(region).lock();
            if let Some(holders) = locked.0.get_mut(&region) {
                if let Some(i) = holders
                    .iter()
                    .position(|h| h.is(e.device, e.dma_addr, lines))
                {
                    holders.swap_remove(i);
                }
                if holders.is_empty() {
                    locked.0.remove(&region);
                }
            }
        }
    }
}
