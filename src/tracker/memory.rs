//! The memory index: which live entries hold which pages of physical memory. One index serves
//! two questions: which entries' CPU bytes a free is about to free (`free-while-mapped`), and
//! which entries the device may write hold the cache lines of a new mapping (the line rule).
//!
//! An entry is filed under every page its bytes touch, 8 bytes a page: a reference to its
//! record in the table (shard and slot) and the bytes of the page it holds. Its other fields
//! stay in the record, read when a question finds the entry. An entry is filed and unfiled
//! while its shard is locked, so a filing in the index always names a record that is its
//! entry. A question reads the filings under the index's locks, lets them go, then reads the
//! records under the shards' locks; a record released (and its slot reused) in between is
//! judged as it is then, which is the answer of a moment during the question.

use smallvec::SmallVec;

use super::{LOCKS, Padded, ShardLock, page_hash, spread};
use crate::sync::{AtomicU64, Mutex, Ordering};
use crate::types::DMA_CACHE_ALIGNMENT;

/// The filing holds its entry's CPU bytes (its CPU address, as a physical one).
pub(super) const CPU_BYTES: u8 = 1;
/// The filing holds cache lines the device may write (the filed bytes, rounded out to lines).
pub(super) const DEVICE_LINES: u8 = 2;

const PAGE_SHIFT: u32 = 12;
const PAGE: u64 = 1 << PAGE_SHIFT;
const LINE: u64 = DMA_CACHE_ALIGNMENT as u64;
const _: () = assert!(PAGE % LINE == 0 && LOCKS <= 64);
/// A question about more pages than this reads every page in the index instead.
const PAGES_ASKED_ONE_BY_ONE: u64 = 1024;

/// Filings of more pages than this (64 KiB) go to a list of their own (few, large buffers),
/// which every question also reads while one is live.
const LONG_PAGES: u64 = 16;

/// A record of the table: its shard and slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RecordRef {
    pub(super) shard: usize,
    pub(super) slot: u32,
}

/// An entry's bytes in one page: its record and `start..end` of the page (8 bytes).
#[derive(Clone, Copy)]
struct Filing {
    slot: u32,
    /// The shard (6 bits), what it holds (2), the page offset of its first byte (12) and its
    /// length less one (12).
    packed: u32,
}

impl Filing {
    fn new(record: RecordRef, holds: u8, start: u64, end: u64) -> Filing {
        debug_assert!(start < end && end <= PAGE);
        Filing {
            slot: record.slot,
            packed: record.shard as u32
                | u32::from(holds) << 6
                | (start as u32) << 8
                | ((end - start - 1) as u32) << 20,
        }
    }

    fn record(self) -> RecordRef {
        RecordRef {
            shard: (self.packed & 0x3f) as usize,
            slot: self.slot,
        }
    }

    fn holds(self) -> u8 {
        (self.packed >> 6 & 0b11) as u8
    }

    /// Its bytes within the page.
    fn bytes(self) -> (u64, u64) {
        let start = u64::from(self.packed >> 8 & 0xfff);
        (start, start + u64::from(self.packed >> 20) + 1)
    }

    /// Its bytes, as physical addresses (it is filed under `page`).
    fn bytes_at(self, page: u64) -> (u64, u64) {
        let (base, (start, end)) = (page << PAGE_SHIFT, self.bytes());
        (base + start, base.saturating_add(end))
    }
}

/// The filings of one page.
struct PageFilings {
    page: u64,
    filings: SmallVec<[Filing; 1]>,
}

/// An entry filed in the long list: its bytes in full.
#[derive(Clone, Copy)]
struct LongFiling {
    start: u64,
    end: u64,
    holds: u8,
    record: RecordRef,
}

/// Whether `a` and `b` (byte ranges) meet, for a question about `holds` ([`CPU_BYTES`] or
/// [`DEVICE_LINES`]): bytes for CPU bytes, cache lines for lines.
fn meet(a: (u64, u64), b: (u64, u64), holds: u8) -> bool {
    if holds == DEVICE_LINES {
        a.0 / LINE < b.1.div_ceil(LINE) && b.0 / LINE < a.1.div_ceil(LINE)
    } else {
        a.0 < b.1 && b.0 < a.1
    }
}

pub(super) struct MemoryIndex {
    pages: Box<[Padded<ShardLock<hashbrown::HashTable<PageFilings>>>]>,
    long: Mutex<Vec<LongFiling>>,
    long_live: AtomicU64,
}

impl MemoryIndex {
    pub(super) fn new() -> MemoryIndex {
        MemoryIndex {
            pages: (0..LOCKS).map(|_| Padded(ShardLock::default())).collect(),
            long: Mutex::new(Vec::new()),
            long_live: AtomicU64::new(0),
        }
    }

    fn pages_of(start: u64, end: u64) -> std::ops::RangeInclusive<u64> {
        start >> PAGE_SHIFT..=(end - 1) >> PAGE_SHIFT
    }

    fn is_long(start: u64, end: u64) -> bool {
        ((end - 1) >> PAGE_SHIFT) - (start >> PAGE_SHIFT) >= LONG_PAGES
    }

    /// Every short filing that holds `holds` and meets `start..end`, read from every filed
    /// page: for questions about more pages than are filed (a long mapping, a huge free).
    /// Rare, and kept out of the map's line.
    #[cold]
    #[inline(never)]
    fn each_filed_meeting(
        &self,
        (start, end): (u64, u64),
        holds: u8,
        mut found: impl FnMut(RecordRef),
    ) {
        for lock in self.pages.iter() {
            for list in lock.0.lock().iter() {
                list.filings
                    .iter()
                    .filter(|f| f.holds() & holds != 0)
                    .filter(|f| meet(f.bytes_at(list.page), (start, end), holds))
                    .for_each(|f| found(f.record()));
            }
        }
    }

    /// `start..end` of `page`, within the page.
    fn within(page: u64, start: u64, end: u64) -> (u64, u64) {
        let base = page << PAGE_SHIFT;
        (
            start.max(base) - base,
            end.min(base.saturating_add(PAGE)) - base,
        )
    }

    /// File `record` (its entry's bytes `start..end`, holding `holds`). An entry that holds
    /// device lines is searched for the other holders of its lines as it is filed (under the
    /// same locks, so of two racing maps of one line the later sees the earlier): their
    /// records are added to `met`, once each.
    #[inline]
    pub(super) fn file(
        &self,
        record: RecordRef,
        (start, end): (u64, u64),
        holds: u8,
        met: &mut SmallVec<[RecordRef; 2]>,
    ) {
        let lines = holds & DEVICE_LINES != 0;
        let mut meet_holder = |other: RecordRef| {
            if !met.contains(&other) {
                met.push(other);
            }
        };
        let long = Self::is_long(start, end);
        if long || (lines && self.long_live.load(Ordering::Acquire) > 0) {
            let mut list = self.long.lock();
            if lines {
                list.iter()
                    .filter(|f| f.holds & DEVICE_LINES != 0)
                    .filter(|f| meet((f.start, f.end), (start, end), DEVICE_LINES))
                    .for_each(|f| meet_holder(f.record));
            }
            if long {
                list.push(LongFiling {
                    start,
                    end,
                    holds,
                    record,
                });
                self.long_live.fetch_add(1, Ordering::Release);
            }
        }
        if long {
            // Every short holder of its lines, wherever it is: bounded by the live entries,
            // where its own pages may be millions. (`each_filed_meeting`'s walk, written out:
            // calling it here took the map's filing out of line, 57 more instructions a map
            // and unmap under callgrind.)
            if lines {
                for lock in self.pages.iter() {
                    for list in lock.0.lock().iter() {
                        for f in list.filings.iter() {
                            if f.holds() & DEVICE_LINES != 0
                                && meet(f.bytes_at(list.page), (start, end), DEVICE_LINES)
                            {
                                meet_holder(f.record());
                            }
                        }
                    }
                }
            }
            return;
        }
        for page in Self::pages_of(start, end) {
            let bytes = Self::within(page, start, end);
            let mut locked = self.pages[spread(page)].0.lock();
            let hash = page_hash(page);
            match locked.entry(hash, |l| l.page == page, |l| page_hash(l.page)) {
                hashbrown::hash_table::Entry::Occupied(mut list) => {
                    let filings = &mut list.get_mut().filings;
                    if lines {
                        filings
                            .iter()
                            .filter(|f| f.holds() & DEVICE_LINES != 0)
                            .filter(|f| meet(f.bytes(), bytes, DEVICE_LINES))
                            .for_each(|f| meet_holder(f.record()));
                    }
                    filings.push(Filing::new(record, holds, bytes.0, bytes.1));
                }
                hashbrown::hash_table::Entry::Vacant(vacant) => {
                    vacant.insert(PageFilings {
                        page,
                        filings: smallvec::smallvec![Filing::new(record, holds, bytes.0, bytes.1)],
                    });
                }
            }
        }
    }

    /// Take `record`'s filing of `start..end` out (its entry is leaving the table).
    #[inline]
    pub(super) fn unfile(&self, record: RecordRef, (start, end): (u64, u64)) {
        if Self::is_long(start, end) {
            let mut list = self.long.lock();
            if let Some(i) = list
                .iter()
                .position(|f| f.record == record && (f.start, f.end) == (start, end))
            {
                list.swap_remove(i);
                self.long_live.fetch_sub(1, Ordering::Release);
            }
            return;
        }
        for page in Self::pages_of(start, end) {
            let mut locked = self.pages[spread(page)].0.lock();
            if let Ok(mut list) = locked.find_entry(page_hash(page), |l| l.page == page) {
                let filings = &mut list.get_mut().filings;
                if let Some(i) = filings.iter().position(|f| f.record() == record) {
                    filings.swap_remove(i);
                }
                if filings.is_empty() {
                    list.remove();
                }
            }
        }
    }

    /// The records of the entries whose CPU bytes meet `start..end` (physical), once each.
    pub(super) fn cpu_bytes(&self, start: u64, end: u64) -> SmallVec<[RecordRef; 2]> {
        let mut found: SmallVec<[RecordRef; 2]> = SmallVec::new();
        let mut add = |r: RecordRef| {
            if !found.contains(&r) {
                found.push(r);
            }
        };
        if self.long_live.load(Ordering::Acquire) > 0 {
            self.long
                .lock()
                .iter()
                .filter(|f| f.holds & CPU_BYTES != 0)
                .filter(|f| meet((f.start, f.end), (start, end), CPU_BYTES))
                .for_each(|f| add(f.record));
        }
        let pages = Self::pages_of(start, end);
        if pages.end() - pages.start() >= PAGES_ASKED_ONE_BY_ONE {
            // A free of more memory than is mapped (a huge order): every filed page, not
            // every page asked.
            self.each_filed_meeting((start, end), CPU_BYTES, &mut add);
            return found;
        }
        for page in pages {
            let bytes = Self::within(page, start, end);
            let locked = self.pages[spread(page)].0.lock();
            if let Some(list) = locked.find(page_hash(page), |l| l.page == page) {
                list.filings
                    .iter()
                    .filter(|f| f.holds() & CPU_BYTES != 0 && meet(f.bytes(), bytes, CPU_BYTES))
                    .for_each(|f| add(f.record()));
            }
        }
        found
    }

    /// Pages with filings, and long filings (tests: the index follows the table).
    #[cfg(test)]
    pub(super) fn filed(&self) -> (usize, usize) {
        let pages = self.pages.iter().map(|l| l.0.lock().len()).sum();
        (pages, self.long.lock().len())
    }
}
