//! The concurrent table of live entries: one per mapping or allocation, with where it was made.
//!
//! The tracker knows no rules. It inserts, finds, updates and removes entries, remembers the
//! last release of recently released addresses (so a double unmap can name the first one), and
//! counts. Its layout is private, so measurements can change it behind this interface.
//!
//! Layout: entries are hashed by the page of their DMA address (as the kernel's dma-debug
//! buckets them), so both exact lookups (unmap) and lookups of an address inside a mapping (a
//! sync of part of it) are a few probes. Several entries may share a page, and even an address:
//! the same buffer may legitimately be mapped twice, or for two devices. The pages are spread
//! over `LOCKS` shards, each on its own cache lines under its own lock (`lock.rs`), each
//! storing its entries compactly (`shard.rs`). Which entries hold which pages of memory (their
//! CPU bytes, and cache lines the device may write) is an index of references to the shards'
//! records (`memory.rs`); the byte ranges each owner holds are `ranges.rs`; the live and
//! peak counts are striped by thread (`counts.rs`). The numbers behind these choices are in the
//! README's performance section (`cargo bench --bench map_unmap`, `threads`, `memory`).

mod counts;
mod lock;
mod long;
mod memory;
mod ranges;
mod shard;
use counts::Counts;
/// The spin-then-yield lock of the table's shards, also for other short-held per-page state.
pub(crate) use lock::ShardLock;
use long::LongSpans;
use memory::{CPU_BYTES, DEVICE_LINES, MemoryIndex, RecordRef};
pub use ranges::Ranges;
use shard::Shard;

use crate::site::Site;
use crate::sync::{AtomicU64, Ordering};
use crate::types::DeviceId;
use crate::types::{Direction, DmaAddr, DmaAttrs, MapKind};

const BUCKET_SHIFT: u32 = 12;

/// Who may touch a streaming mapping's memory now. The device owns it after the map and after
/// a sync for the device; the CPU after a sync for the CPU (and for good after the unmap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    /// The device may access it; the CPU must not write it (nor read what the device writes).
    Device,
    /// The CPU may access it; the device must not.
    Cpu,
}

/// One live mapping or allocation, as users see it: a read-only view through the methods
/// below (the checker alone changes entries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The device it was made for.
    pub(crate) device: DeviceId,
    /// The family of the call that made it.
    pub(crate) kind: MapKind,
    /// Which call of the family made it ([`MapKind::call_index`]).
    pub(crate) call: u8,
    /// The direction it was made with (`BIDIRECTIONAL` for coherent memory).
    pub(crate) dir: Direction,
    /// Whether `dma_mapping_error` was called on its address.
    pub(crate) error_checked: bool,
    /// The attrs it was made with.
    pub(crate) attrs: DmaAttrs,
    /// Its DMA address.
    pub(crate) dma_addr: DmaAddr,
    /// Its size in bytes, as the caller gave it.
    pub(crate) size: u64,
    /// The CPU address it was made from (or, for coherent memory, returned).
    pub(crate) cpu_addr: u64,
    /// For a scatter-gather segment, the `nents` its `dma_map_sg` was passed; otherwise 0.
    pub(crate) sg_nents: u32,
    /// For a scatter-gather segment, the count its `dma_map_sg` returned; otherwise 0.
    pub(crate) sg_mapped_ents: u32,
    /// Who owns the memory now (streaming mappings; coherent memory is always shared):
    /// [`Owner::Cpu`] when the CPU owns all of it, [`Owner::Device`] when the device owns any
    /// part (see `cpu_ranges` for which).
    pub(crate) owner: Owner,
    /// The parts the CPU owns, as byte ranges from the mapping's start (a range sync moves
    /// only the range it names).
    pub(crate) cpu_ranges: Ranges,
    /// A fingerprint of the CPU's bytes of the parts the device owns, taken at the last change
    /// of ownership (or legitimate write), where the checker can read them. 32 bits: the
    /// table stores no more.
    pub(crate) digest: Option<u64>,
    /// The CPU was found to have written a device-owned part since the last change of
    /// ownership (noticed before a legitimate write re-fingerprinted the buffer).
    pub(crate) cpu_wrote: bool,
    /// Where the memory was last handed to the device (the map, or a sync for the device).
    pub(crate) handed_at: Site,
    /// The CPU cache lines the mapping covers, `first..end` (physical line numbers), if the
    /// device may write it and the checker can tell where its memory is.
    pub(crate) cache_lines: Option<(u64, u64)>,
    /// Where it was made.
    pub(crate) site: Site,
}

impl Entry {
    /// The device it was made for.
    #[inline]
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// The family of the call that made it.
    #[inline]
    pub fn kind(&self) -> MapKind {
        self.kind
    }

    /// The call that made it (`dma_map_single`, `dma_map_resource`, ...).
    #[inline]
    pub fn mapped_by(&self) -> &'static str {
        self.kind.call_name(self.call)
    }

    /// The direction it was made with (`BIDIRECTIONAL` for coherent memory).
    #[inline]
    pub fn dir(&self) -> Direction {
        self.dir
    }

    /// Whether `dma_mapping_error` was called on its address.
    #[inline]
    pub fn error_checked(&self) -> bool {
        self.error_checked
    }

    /// The attrs it was made with.
    #[inline]
    pub fn attrs(&self) -> DmaAttrs {
        self.attrs
    }

    /// Its DMA address.
    #[inline]
    pub fn dma_addr(&self) -> DmaAddr {
        self.dma_addr
    }

    /// Its size in bytes, as the caller gave it.
    #[inline]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The CPU address it was made from (or, for coherent memory, returned).
    #[inline]
    pub fn cpu_addr(&self) -> u64 {
        self.cpu_addr
    }

    /// For a scatter-gather segment, the `nents` its `dma_map_sg` was passed; otherwise 0.
    #[inline]
    pub fn sg_nents(&self) -> u32 {
        self.sg_nents
    }

    /// For a scatter-gather segment, the count its `dma_map_sg` returned; otherwise 0.
    #[inline]
    pub fn sg_mapped_ents(&self) -> u32 {
        self.sg_mapped_ents
    }

    /// Who owns the memory now (streaming mappings; coherent memory is always shared):
    /// [`Owner::Cpu`] when the CPU owns all of it, [`Owner::Device`] when the device owns any
    /// part (see `cpu_ranges` for which).
    #[inline]
    pub fn owner(&self) -> Owner {
        self.owner
    }

    /// The parts the CPU owns, as byte ranges from the mapping's start (a range sync moves
    /// only the range it names).
    #[inline]
    pub fn cpu_ranges(&self) -> &Ranges {
        &self.cpu_ranges
    }

    /// A fingerprint of the CPU's bytes of the parts the device owns, taken at the last change
    /// of ownership (or legitimate write), where the checker can read them. 32 bits: the
    /// table stores no more.
    #[inline]
    pub fn digest(&self) -> Option<u64> {
        self.digest
    }

    /// The CPU was found to have written a device-owned part since the last change of
    /// ownership (noticed before a legitimate write re-fingerprinted the buffer).
    #[inline]
    pub fn cpu_wrote(&self) -> bool {
        self.cpu_wrote
    }

    /// Where the memory was last handed to the device (the map, or a sync for the device).
    #[inline]
    pub fn handed_at(&self) -> Site {
        self.handed_at
    }

    /// Where it was made.
    #[inline]
    pub fn site(&self) -> Site {
        self.site
    }

    /// The CPU cache lines the mapping covers, `first..end` (physical line numbers), if the
    /// device may write it and the checker can tell where its memory is.
    #[inline]
    pub fn cache_lines(&self) -> Option<(u64, u64)> {
        self.cache_lines
    }

    /// Whether `addr` lies inside the entry (a zero-sized entry contains only its start).
    pub fn contains(&self, addr: DmaAddr) -> bool {
        addr == self.dma_addr || (addr > self.dma_addr && addr - self.dma_addr < self.size)
    }
}

/// A live entry that holds CPU cache lines a new mapping's device may also write.
#[derive(Clone, Debug)]
pub struct LineHolder {
    /// Its DMA address.
    pub dma_addr: DmaAddr,
    /// The call that made it.
    pub mapped_by: &'static str,
    /// Where it was made.
    pub site: Site,
}

/// What a scan sees of an entry before it decides to look at the whole of it.
#[derive(Clone, Copy, Debug)]
pub struct Glance {
    /// The CPU address it was made from (0 if none).
    pub cpu_addr: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Whether it has a fingerprint ([`Entry::digest`] is `Some`).
    pub digested: bool,
}

impl Glance {
    /// Whether its CPU bytes meet `start..end`.
    pub fn meets_cpu(&self, start: u64, end: u64) -> bool {
        self.cpu_addr != 0 && self.cpu_addr < end && start < self.cpu_addr.saturating_add(self.size)
    }
}

/// What is known of an entry after it was released.
#[derive(Clone, Debug)]
pub(crate) struct Tombstone {
    /// The device it belonged to.
    pub device: DeviceId,
    /// Its DMA address.
    pub dma_addr: DmaAddr,
    /// Its size.
    pub size: u64,
    /// The call that made it.
    pub mapped_by: &'static str,
    /// Where it was made.
    pub mapped_at: Site,
    /// Where it was released.
    pub released_at: Site,
    /// The call that released it.
    pub released_by: &'static str,
}

/// The result of a lookup for one device and address.
#[derive(Debug)]
pub enum Lookup<T> {
    /// The device has a matching entry.
    Found(T),
    /// The device has none, but another device has one at that address.
    OtherDevice(Box<Entry>),
    /// No device has one.
    Missing,
}

/// How many locks the table (and the line index) is split over: enough that threads working on
/// different buffers rarely meet on one.
#[cfg(not(loom))]
const LOCKS: usize = 64;
/// Under loom, few: every lock is a modeled object, and sharing is what the models look at.
#[cfg(loom)]
const LOCKS: usize = 2;
// A bit per shard in `Tracker::occupied`.
const _: () = assert!(LOCKS <= 64);

/// Released entries remembered per shard, the most recent first found.
#[cfg(not(loom))]
const GRAVES_PER_SHARD: usize = 64;
#[cfg(loom)]
const GRAVES_PER_SHARD: usize = 4;

/// A value alone on its cache lines (128 bytes: adjacent-line prefetching pairs lines), so
/// threads using neighbouring shards do not slow each other down.
#[derive(Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// The hash of a page within its lock's table (the lock was chosen by the high bits of a
/// similar product, `spread`; these are other bits): the table's pages and the memory index's.
fn page_hash(page: u64) -> u64 {
    page.wrapping_mul(0xA076_1D64_78BD_642F).rotate_left(29)
}

/// The lock of a page (or line region): a multiplicative hash, so neighbouring pages land on
/// different locks.
fn spread(key: u64) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize % LOCKS
}

/// Run `f` on the physical bytes the memory index files an entry under, with what they hold:
/// its CPU bytes (as physical addresses: `line_offset` on), and the cache lines the device may
/// write (one filing for both when the lines are those of the CPU bytes, as they mostly are).
#[inline(always)]
fn for_each_filing(entry: &Entry, line_offset: u64, mut f: impl FnMut((u64, u64), u8)) {
    let line = crate::DMA_CACHE_ALIGNMENT as u64;
    let cpu = (entry.cpu_addr != 0).then(|| {
        let start = entry.cpu_addr.wrapping_add(line_offset);
        (start, start.saturating_add(entry.size.max(1)))
    });
    let Some((first, end)) = entry.cache_lines.filter(|&(first, end)| first < end) else {
        if let Some(cpu) = cpu {
            f(cpu, CPU_BYTES);
        }
        return;
    };
    match cpu {
        Some(c) if shard::lines_of_cpu(entry.cpu_addr, entry.size, line_offset) == (first, end) => {
            f(c, CPU_BYTES | DEVICE_LINES);
        }
        _ => {
            if let Some(cpu) = cpu {
                f(cpu, CPU_BYTES);
            }
            f(
                (first.saturating_mul(line), end.saturating_mul(line)),
                DEVICE_LINES,
            );
        }
    }
}

/// The first and last pages of an entry's DMA addresses.
fn pages_of(entry: &Entry) -> (u64, u64) {
    let first = entry.dma_addr >> BUCKET_SHIFT;
    let last = entry.dma_addr.saturating_add(entry.size.saturating_sub(1)) >> BUCKET_SHIFT;
    (first, last)
}

/// The concurrent entry table.
pub struct Tracker {
    /// A fixed array (not a slice): the index `spread` makes needs no bounds check.
    shards: Box<[Padded<ShardLock<Shard>>; LOCKS]>,
    /// The most pages any short entry has spanned (at most [`long::SHORT_SPAN_PAGES`]): how
    /// far back a containing lookup looks before it asks `long`.
    max_span_pages: AtomicU64,
    /// The entries spanning more pages, which a containing lookup finds through this list.
    long: LongSpans,
    counts: Counts,
    memory: MemoryIndex,
    /// One bit per shard that may hold live entries: set by an insert, cleared by a scan that
    /// finds the shard empty (both under that shard's lock), so a scan by CPU address
    /// ([`Tracker::update_where`]) locks only the shards in use, not all `LOCKS` of them.
    occupied: AtomicU64,
    /// What to add to a CPU address of the checker's memory to get its physical address:
    /// entries whose cache lines follow from their CPU address need not store them.
    line_offset: u64,
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new(0)
    }
}

impl Tracker {
    /// An empty table, for memory whose physical addresses are its CPU addresses plus
    /// `line_offset` (wrapping).
    pub fn new(line_offset: u64) -> Tracker {
        Tracker {
            shards: (0..LOCKS)
                .map(|_| Padded(ShardLock::default()))
                .collect::<Box<[_]>>()
                .try_into()
                .unwrap_or_else(|_| unreachable!("LOCKS shards")),
            max_span_pages: AtomicU64::new(0),
            long: LongSpans::default(),
            counts: Counts::new(),
            memory: MemoryIndex::new(),
            occupied: AtomicU64::new(0),
            line_offset,
        }
    }

    #[inline]
    fn shard(&self, page: u64) -> &ShardLock<Shard> {
        &self.shards[spread(page)].0
    }

    /// Add a live entry. Returns the live entries that already hold any of its cache lines.
    #[inline]
    pub fn insert(&self, entry: &Entry) -> Vec<LineHolder> {
        let (first, last) = pages_of(entry);
        if LongSpans::is_long(first, last) {
            self.long.insert(first, last);
        } else if last - first > self.max_span_pages.load(Ordering::Relaxed) {
            self.max_span_pages
                .fetch_max(last - first, Ordering::Relaxed);
        }
        let index = spread(first);
        let mut shard = self.shards[index].0.lock();
        let slot = shard.insert(entry, self.line_offset);
        // Filed while the shard is locked: no release can free the slot before its filings
        // are in, or leave them behind after (see `memory.rs`).
        let record = RecordRef { shard: index, slot };
        let mut met = smallvec::SmallVec::new();
        for_each_filing(entry, self.line_offset, |bytes, holds| {
            self.memory.file(record, bytes, holds, &mut met);
        });
        // Under the shard's lock, as a scan clears the bit under it. Usually set already: a
        // load, no locked instruction.
        let bit = 1 << index;
        if self.occupied.load(Ordering::Relaxed) & bit == 0 {
            self.occupied.fetch_or(bit, Ordering::Relaxed);
        }
        drop(shard);
        self.counts.add(1);
        match (met.is_empty(), entry.cache_lines) {
            (false, Some(lines)) => self.line_holders(&met, lines),
            // Most entries (those the device only reads, or alone on their lines): nothing.
            _ => Vec::new(),
        }
    }

    /// The kind and site of each of `met`, those still live and still holding any of `lines`.
    #[cold]
    fn line_holders(&self, met: &[RecordRef], lines: (u64, u64)) -> Vec<LineHolder> {
        met.iter()
            .filter_map(|r| {
                let e = self.shards[r.shard]
                    .0
                    .lock()
                    .live_entry(r.slot, self.line_offset)?;
                let (first, end) = e.cache_lines?;
                (first < lines.1 && lines.0 < end).then_some(LineHolder {
                    dma_addr: e.dma_addr,
                    mapped_by: e.mapped_by(),
                    site: e.site,
                })
            })
            .collect()
    }

    /// The live entries whose CPU bytes meet `start..end` (CPU addresses; a zero-sized entry
    /// holds its first byte), as a free asks before it frees them.
    pub fn cpu_mapped(&self, start: u64, end: u64) -> Vec<Entry> {
        if start >= end {
            return Vec::new();
        }
        let phys = start.wrapping_add(self.line_offset);
        let records = self
            .memory
            .cpu_bytes(phys, phys.saturating_add(end - start));
        records
            .iter()
            .filter_map(|r| {
                self.shards[r.shard]
                    .0
                    .lock()
                    .live_entry(r.slot, self.line_offset)
            })
            .filter(|e| {
                e.cpu_addr != 0
                    && e.cpu_addr < end
                    && start < e.cpu_addr.saturating_add(e.size.max(1))
            })
            .collect()
    }

    /// Take `record` (holding `entry`) out of the memory index. Called with its shard locked.
    #[inline]
    fn unfile(&self, record: RecordRef, entry: &Entry) {
        for_each_filing(entry, self.line_offset, |bytes, _| {
            self.memory.unfile(record, bytes);
        });
    }

    /// Remove the entry of `device` that starts at `addr`, choosing among several such entries
    /// the one `rank` scores highest (the one that best matches the release), and remember the
    /// release. The release is remembered before the entry's shard is unlocked, so a racing
    /// second release always finds either the entry or its tombstone.
    #[inline]
    pub fn remove(
        &self,
        device: DeviceId,
        addr: DmaAddr,
        rank: impl Fn(&Entry) -> u32,
        released_at: &Site,
        released_by: &'static str,
    ) -> Lookup<Entry> {
        self.remove_with(device, addr, rank, released_at, released_by, Entry::clone)
    }

    /// [`remove`](Self::remove), showing the removed entry to `with` (after the shard is
    /// unlocked). Always inlined, with `with`: the entry is large, and each call (or closure)
    /// it went through by value was a copy on the hot path.
    #[inline(always)]
    pub fn remove_with<R>(
        &self,
        device: DeviceId,
        addr: DmaAddr,
        rank: impl Fn(&Entry) -> u32,
        released_at: &Site,
        released_by: &'static str,
        with: impl FnOnce(&Entry) -> R,
    ) -> Lookup<R> {
        let index = spread(addr >> BUCKET_SHIFT);
        let mut shard = self.shards[index].0.lock();
        let (slot, entry) = match shard.remove(device, addr, rank, self.line_offset) {
            Ok(removed) => removed,
            Err(Some(other)) => return Lookup::OtherDevice(other),
            Err(None) => return Lookup::Missing,
        };
        self.unfile(RecordRef { shard: index, slot }, &entry);
        // Buried while the shard is still locked (see above).
        shard.bury(Tombstone {
            device: entry.device,
            dma_addr: entry.dma_addr,
            size: entry.size,
            mapped_by: entry.mapped_by(),
            mapped_at: entry.site,
            released_at: *released_at,
            released_by,
        });
        drop(shard);
        self.forget_span(&entry);
        self.counts.add(-1);
        Lookup::Found(with(&entry))
    }

    /// A removed entry's span leaves the long list (if it was long).
    fn forget_span(&self, entry: &Entry) {
        let (first, last) = pages_of(entry);
        if LongSpans::is_long(first, last) {
            self.long.remove(first, last);
        }
    }

    /// The pages where an entry containing `addr` may start, nearest first: the few before it
    /// any short entry can span, then the starts of the long entries (live, or with `released`
    /// the recently released) that reach it.
    fn start_pages(&self, addr: DmaAddr, released: bool) -> impl Iterator<Item = u64> {
        let key = addr >> BUCKET_SHIFT;
        let near = key.saturating_sub(self.max_span_pages.load(Ordering::Relaxed));
        let far = if released {
            self.long.released_starts(key, near)
        } else {
            self.long.live_starts(key, near)
        };
        (near..=key).rev().chain(far)
    }

    /// Run `f` on the entry of `device` that contains `addr`. Candidates are looked for from
    /// the page of `addr` backwards; in the nearest page that has any, the one `rank` scores
    /// highest is chosen (several mappings may contain one address).
    pub fn update_containing<R>(
        &self,
        device: DeviceId,
        addr: DmaAddr,
        rank: impl Fn(&Entry) -> u32,
        f: impl FnOnce(&mut Entry) -> R,
    ) -> Lookup<R> {
        let mut other = None;
        let mut f = f;
        for k in self.start_pages(addr, false) {
            let found = self.shard(k).lock().update_best(
                k,
                |e| e.device == device && e.contains(addr),
                &rank,
                |e| e.contains(addr),
                f,
                self.line_offset,
            );
            match found {
                Ok(result) => return Lookup::Found(result),
                Err((back, first_other)) => {
                    f = back;
                    other = other.or(first_other);
                }
            }
        }
        other.map_or(Lookup::Missing, Lookup::OtherDevice)
    }

    /// Mark the oldest entry of `device` at `addr` not yet tested with `dma_mapping_error` as
    /// tested; whether there was one. (A fast path of [`Tracker::update_first`] for the call
    /// made after every map.)
    #[inline]
    pub fn mark_error_checked(&self, device: DeviceId, addr: DmaAddr) -> bool {
        self.shard(addr >> BUCKET_SHIFT)
            .lock()
            .mark_error_checked(device, addr)
    }

    /// Run `f` on the first entry of `device` that starts at `addr` and satisfies `pick`;
    /// returns whether there was one.
    pub fn update_first(
        &self,
        device: DeviceId,
        addr: DmaAddr,
        pick: impl Fn(&Entry) -> bool,
        f: impl FnOnce(&mut Entry),
    ) -> bool {
        self.shard(addr >> BUCKET_SHIFT).lock().update_first(
            device,
            addr,
            pick,
            f,
            self.line_offset,
        )
    }

    /// The remembered release of `device`'s entry that started at `addr`.
    pub fn tombstone(&self, device: DeviceId, addr: DmaAddr) -> Option<Tombstone> {
        self.shard(addr >> BUCKET_SHIFT)
            .lock()
            .grave(|t| t.device == device && t.dma_addr == addr)
    }

    /// The remembered release of `device`'s entry that contained `addr` (looking back as
    /// [`Tracker::update_containing`] does, with the recently released long entries).
    pub fn tombstone_containing(&self, device: DeviceId, addr: DmaAddr) -> Option<Tombstone> {
        self.start_pages(addr, true).find_map(|p| {
            self.shard(p).lock().grave(|t| {
                t.device == device
                    && t.dma_addr >> BUCKET_SHIFT == p
                    && (t.dma_addr == addr || (addr > t.dma_addr && addr - t.dma_addr < t.size))
            })
        })
    }

    /// Run `f` on every live entry. Slow (it visits the whole table): for the rare checks that
    /// look entries up by something other than their DMA address.
    pub fn for_each_mut(&self, mut f: impl FnMut(&mut Entry)) {
        for shard in self.shards.iter() {
            shard.0.lock().for_each_mut(&mut f, self.line_offset);
        }
    }

    /// Run `f` on every live entry whose [`Glance`] `pick` accepts, without decoding the
    /// others: a scan by CPU address (a CPU access, a write into shared memory) costs a few
    /// loads per entry it skips, and only shards in use are locked.
    pub fn update_where(&self, pick: impl Fn(Glance) -> bool, mut f: impl FnMut(&mut Entry)) {
        self.for_each_occupied(|shard| shard.update_where(&pick, &mut f, self.line_offset));
    }

    /// Run `f` on each shard that holds entries, locked; the others are not locked at all. A
    /// shard found empty is unmarked until an insert marks it again (under this same lock), so
    /// a shard with entries is never skipped.
    fn for_each_occupied(&self, mut f: impl FnMut(&mut Shard)) {
        let mut left = self.occupied.load(Ordering::Acquire);
        while left != 0 {
            let index = left.trailing_zeros() as usize;
            left &= left - 1;
            let mut shard = self.shards[index].0.lock();
            if shard.is_empty() {
                self.occupied.fetch_and(!(1 << index), Ordering::Relaxed);
            } else {
                f(&mut shard);
            }
        }
    }

    /// Remove and return every live entry of `device`, in table order (not by address: the
    /// caller orders what it needs, and sorting a million large entries cost a release most of
    /// its time).
    pub fn drain_device(&self, device: DeviceId) -> Vec<Entry> {
        let mut drained = Vec::new();
        let mut slots = Vec::new();
        for (index, shard) in self.shards.iter().enumerate() {
            let mut shard = shard.0.lock();
            let before = drained.len();
            shard.drain_device(device, &mut drained, &mut slots, self.line_offset);
            // Unfiled before the shard is unlocked, as a release does.
            for (e, &slot) in drained[before..].iter().zip(&slots) {
                self.unfile(RecordRef { shard: index, slot }, e);
            }
            slots.clear();
        }
        self.counts.add(-(drained.len() as i64));
        for e in &drained {
            self.forget_span(e);
        }
        drained
    }

    /// A copy of every live entry, of one device or of all (sorted by device and address).
    pub fn snapshot(&self, device: Option<DeviceId>) -> Vec<Entry> {
        let mut all = Vec::new();
        self.for_each_occupied(|shard| {
            shard.copy_into(
                &mut all,
                |d| device.is_none_or(|want| want.0 == d),
                self.line_offset,
            );
        });
        all.sort_by_key(|e| (e.device, e.dma_addr));
        all
    }

    /// How many entries are live.
    pub fn live(&self) -> u64 {
        self.counts.live()
    }

    /// The most entries ever live at once (exact for one thread; under concurrency, a lower
    /// bound that misses only peaks no thread's own count reached a new high in).
    pub fn peak(&self) -> u64 {
        self.counts.peak()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A xorshift generator: each call, a number below its argument.
    fn below(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        }
    }

    fn here() -> Site {
        Site::at(std::panic::Location::caller())
    }

    fn entry(device: u32, dma_addr: u64, size: u64) -> Entry {
        Entry {
            device: DeviceId(device),
            kind: MapKind::Single,
            call: 0,
            dir: Direction::ToDevice,
            error_checked: false,
            attrs: DmaAttrs::empty(),
            dma_addr,
            size,
            cpu_addr: 0,
            sg_nents: 0,
            sg_mapped_ents: 0,
            owner: Owner::Device,
            cpu_ranges: Ranges::default(),
            digest: None,
            cpu_wrote: false,
            handed_at: Site::at(std::panic::Location::caller()),
            cache_lines: None,
            site: Site::at(std::panic::Location::caller()),
        }
    }

    /// Scans lock only the shards in use; a shard a scan found empty (and forgot) is scanned
    /// again once an entry lands in it.
    #[test]
    fn scans_by_cpu_address_find_entries_in_shards_emptied_and_used_again() {
        let t = Tracker::new(0);
        let with_cpu = |dma_addr, cpu_addr| Entry {
            cpu_addr,
            ..entry(1, dma_addr, 64)
        };
        let seen = |t: &Tracker| {
            let mut seen = Vec::new();
            t.update_where(|g| g.meets_cpu(0x7000, 0x8000), |e| seen.push(e.dma_addr));
            seen
        };
        assert_ne!(
            spread(1),
            spread(5),
            "the two entries' pages in shards of their own"
        );
        t.insert(&with_cpu(0x1000, 0x7000));
        t.insert(&with_cpu(0x5000, 0x9000));
        assert_eq!(seen(&t), [0x1000]);
        assert!(matches!(
            t.remove(DeviceId(1), 0x1000, |_| 0, &here(), "unmap"),
            Lookup::Found(_)
        ));
        assert!(seen(&t).is_empty());
        assert_eq!(t.occupied.load(Ordering::Relaxed), 1 << spread(5));
        t.insert(&with_cpu(0x1040, 0x7040));
        assert_eq!(seen(&t), [0x1040]);
    }

    /// What a free asks: the entries whose CPU bytes it meets, however the question is put,
    /// and none once they are gone (a reused slot is not taken for its old entry).
    #[test]
    fn frees_find_the_entries_over_their_bytes_and_nothing_after_them() {
        let t = Tracker::new(0x1234_5000);
        let with_cpu = |dma_addr, cpu_addr, size| Entry {
            cpu_addr,
            ..entry(1, dma_addr, size)
        };
        let found = |t: &Tracker, start, end| {
            let mut found: Vec<u64> = t
                .cpu_mapped(start, end)
                .iter()
                .map(|e| e.dma_addr)
                .collect();
            found.sort_unstable();
            found
        };
        t.insert(&with_cpu(0x1000, 0x7_0040, 64));
        t.insert(&with_cpu(0x2000, 0x7_0080, 0)); // zero-sized: holds its first byte
        t.insert(&with_cpu(0x3000, 0x8_0ff0, 0x20)); // across two pages
        t.insert(&with_cpu(0x10_0000, 0x20_0000, 0x10_0000)); // 256 pages: the long list
        t.insert(&entry(1, 0x4000, 64)); // no CPU bytes
        assert_eq!(found(&t, 0x7_0000, 0x7_1000), [0x1000, 0x2000]);
        assert_eq!(found(&t, 0x7_0080, 0x7_0081), [0x2000]);
        assert_eq!(found(&t, 0x7_0000, 0x7_0040), [0u64; 0]);
        assert_eq!(found(&t, 0x8_1000, 0x8_1001), [0x3000]);
        assert_eq!(found(&t, 0x2f_ffff, 0x30_0000), [0x10_0000]);
        // More pages than are asked one by one (a free of a huge order): every filing read.
        assert_eq!(found(&t, 0, 1 << 40), [0x1000, 0x2000, 0x3000, 0x10_0000]);
        assert_eq!(found(&t, 0x7_0040, 0x7_0040), [0u64; 0]);
        t.remove(DeviceId(1), 0x1000, |_| 0, &here(), "unmap");
        // The freed slot is taken by an entry elsewhere: the old bytes find nothing.
        t.insert(&with_cpu(0x1000, 0x9_0000, 64));
        assert_eq!(found(&t, 0x7_0000, 0x7_0080), [0u64; 0]);
        assert_eq!(found(&t, 0x9_0000, 0x9_0001), [0x1000]);
        t.drain_device(DeviceId(1));
        assert_eq!(found(&t, 0, u64::MAX), [0u64; 0]);
        assert_eq!(t.memory.filed(), (0, 0));
    }

    /// Lines the device may write that are not those of the CPU address (a trace's physical
    /// address) are filed apart from the CPU bytes, and each is found by its own question.
    #[test]
    fn lines_apart_from_the_cpu_bytes_are_filed_and_found_apart() {
        let t = Tracker::new(0);
        let mut e = entry(1, 0x1000, 128);
        e.cpu_addr = 0x5_0000;
        e.cache_lines = Some((0x9_0000 / 64, 0x9_0080 / 64));
        t.insert(&e);
        assert_eq!(t.cpu_mapped(0x5_0000, 0x5_0001).len(), 1);
        assert!(t.cpu_mapped(0x9_0000, 0x9_0080).is_empty());
        let mut other = entry(2, 0x2000, 64);
        other.cache_lines = Some((0x9_0040 / 64, 0x9_0080 / 64));
        assert_eq!(t.insert(&other).len(), 1);
        let mut apart = entry(2, 0x3000, 64);
        apart.cache_lines = Some((0x5_0000 / 64, 0x5_0040 / 64));
        assert!(t.insert(&apart).is_empty(), "CPU bytes are no device lines");
        t.drain_device(DeviceId(1));
        t.drain_device(DeviceId(2));
        assert_eq!(t.memory.filed(), (0, 0));
    }

    /// However entries come and go, the memory index keeps nothing the table does not.
    #[test]
    #[cfg_attr(miri, ignore = "thousands of table operations; no unsafe code here")]
    fn the_memory_index_follows_the_table() {
        let t = Tracker::new(0x10_0000);
        let mut next = below(0x9e37_79b9_7f4a_7c15u64);
        let mut live = Vec::new();
        for _ in 0..5_000 {
            if live.is_empty() || next(3) != 0 {
                let mut e = entry(
                    1 + next(2) as u32,
                    next(64) << 8,
                    [0, 8, 64, 5000, 1 << 17][next(5) as usize],
                );
                e.cpu_addr = (next(64) << 10) | next(2);
                if next(2) == 0 {
                    e.cache_lines = Some(shard::lines_of_cpu(e.cpu_addr, e.size, 0x10_0000));
                }
                t.insert(&e);
                live.push(e);
            } else {
                let e = live.swap_remove(next(live.len() as u64) as usize);
                assert!(matches!(
                    t.remove(
                        e.device,
                        e.dma_addr,
                        |x| u32::from(*x == e),
                        &here(),
                        "unmap"
                    ),
                    Lookup::Found(_)
                ));
            }
        }
        let mut found = t.cpu_mapped(0, u64::MAX).len();
        assert_eq!(found, live.iter().filter(|e| e.cpu_addr != 0).count());
        t.drain_device(DeviceId(1));
        found = t.cpu_mapped(0, u64::MAX).len();
        assert_eq!(
            found,
            live.iter()
                .filter(|e| e.device == DeviceId(2) && e.cpu_addr != 0)
                .count()
        );
        t.drain_device(DeviceId(2));
        assert_eq!(t.memory.filed(), (0, 0));
    }

    #[test]
    fn remove_finds_exact_entries_and_tells_other_devices_apart() {
        let t = Tracker::new(0);
        t.insert(&entry(1, 0x1000, 64));
        t.insert(&entry(1, 0x1040, 64));
        assert_eq!(t.live(), 2);
        assert!(
            matches!(t.remove(DeviceId(2), 0x1040, |_| 0, &here(), "unmap"), Lookup::OtherDevice(e) if e.device == DeviceId(1))
        );
        assert!(matches!(
            t.remove(DeviceId(1), 0x1020, |_| 0, &here(), "unmap"),
            Lookup::Missing
        ));
        assert!(
            matches!(t.remove(DeviceId(1), 0x1040, |_| 0, &here(), "unmap"), Lookup::Found(e) if e.dma_addr == 0x1040)
        );
        assert_eq!(t.live(), 1);
        assert_eq!(t.peak(), 2);
    }

    #[test]
    fn remove_prefers_the_best_ranked_duplicate() {
        let t = Tracker::new(0);
        t.insert(&entry(1, 0x2000, 64));
        t.insert(&entry(1, 0x2000, 128));
        let Lookup::Found(e) = t.remove(
            DeviceId(1),
            0x2000,
            |e| u32::from(e.size == 128),
            &here(),
            "unmap",
        ) else {
            panic!("entry lost");
        };
        assert_eq!(e.size, 128);
        assert_eq!(t.snapshot(None)[0].size, 64);
    }

    #[test]
    fn containing_lookup_reaches_back_over_many_pages() {
        let t = Tracker::new(0);
        t.insert(&entry(1, 0x10_0000, 0x10_0000));
        let found = t.update_containing(DeviceId(1), 0x1f_fff0, |_| 0, |e| e.dma_addr);
        assert!(matches!(found, Lookup::Found(0x10_0000)));
        assert!(matches!(
            t.update_containing(DeviceId(1), 0x20_0000, |_| 0, |_| ()),
            Lookup::Missing
        ));
        assert!(matches!(
            t.update_containing(DeviceId(3), 0x10_0010, |_| 0, |_| ()),
            Lookup::OtherDevice(_)
        ));
    }

    #[test]
    fn long_entries_are_found_from_inside_live_released_and_drained() {
        let t = Tracker::new(0);
        // 1 MiB (256 pages) and a short one after it; lookups deep inside reach the long one.
        t.insert(&entry(1, 0x100_0000, 0x10_0000));
        t.insert(&entry(1, 0x110_0000, 0x2000));
        let found = t.update_containing(DeviceId(1), 0x10f_f000, |_| 0, |e| e.dma_addr);
        assert!(matches!(found, Lookup::Found(0x100_0000)));
        let found = t.update_containing(DeviceId(1), 0x110_1fff, |_| 0, |e| e.dma_addr);
        assert!(matches!(found, Lookup::Found(0x110_0000)));
        assert!(matches!(
            t.update_containing(DeviceId(1), 0x200_0000, |_| 0, |_| ()),
            Lookup::Missing
        ));
        t.remove(DeviceId(1), 0x100_0000, |_| 0, &here(), "dma_unmap_single");
        assert!(matches!(
            t.update_containing(DeviceId(1), 0x10f_f000, |_| 0, |_| ()),
            Lookup::Missing
        ));
        let tomb = t.tombstone_containing(DeviceId(1), 0x10f_f000);
        assert_eq!(tomb.map(|t| t.dma_addr), Some(0x100_0000));
        assert!(t.tombstone_containing(DeviceId(2), 0x10f_f000).is_none());
        // A drained long entry is gone from the long list too.
        t.insert(&entry(2, 0x300_0000, 0x10_0000));
        assert_eq!(t.drain_device(DeviceId(2)).len(), 1);
        assert!(matches!(
            t.update_containing(DeviceId(2), 0x30f_0000, |_| 0, |_| ()),
            Lookup::Missing
        ));
        assert_eq!(t.long.live_count.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn drain_takes_only_the_devices_entries() {
        let t = Tracker::new(0);
        t.insert(&entry(1, 0x1000, 8));
        t.insert(&entry(2, 0x1000, 8));
        t.insert(&entry(1, 0x9000, 8));
        let mut drained: Vec<_> = t
            .drain_device(DeviceId(1))
            .iter()
            .map(|e| e.dma_addr)
            .collect();
        drained.sort_unstable();
        assert_eq!(drained, [0x1000, 0x9000]);
        assert_eq!(t.live(), 1);
        assert_eq!(t.snapshot(Some(DeviceId(2))).len(), 1);
    }

    #[test]
    fn removal_leaves_a_tombstone_naming_the_release() {
        let t = Tracker::new(0);
        t.insert(&entry(1, 0x3000, 8));
        assert!(t.tombstone(DeviceId(1), 0x3000).is_none());
        assert!(matches!(
            t.remove(DeviceId(1), 0x3000, |_| 0, &here(), "dma_unmap_page"),
            Lookup::Found(_)
        ));
        let tomb = t.tombstone(DeviceId(1), 0x3000).expect("remembered");
        assert_eq!(tomb.released_by, "dma_unmap_page");
        assert!(t.tombstone(DeviceId(2), 0x3000).is_none());
    }

    #[test]
    #[cfg_attr(miri, ignore = "thousands of table operations; no unsafe code here")]
    fn memory_follows_the_live_set() {
        let t = Tracker::new(0);
        for page in 0..10_000u64 {
            t.insert(&entry(1, page << BUCKET_SHIFT, 8));
            assert!(matches!(
                t.remove(DeviceId(1), page << BUCKET_SHIFT, |_| 0, &here(), "unmap"),
                Lookup::Found(_)
            ));
        }
        let slots: usize = t.shards.iter().map(|s| s.0.lock().slots()).sum();
        assert!(slots <= LOCKS, "{slots} slots for at most one live entry");
        assert_eq!(t.live(), 0);
        assert_eq!(t.peak(), 1);
    }

    #[test]
    fn entries_come_back_as_they_went_in_whatever_they_carry() {
        let t = Tracker::new(0x10_0000);
        let plain = entry(1, 0x7000, 64);
        let mut rich = entry(2, 0x7000, 5 << 30);
        rich.kind = MapKind::Sg;
        rich.dir = Direction::FromDevice;
        rich.attrs = DmaAttrs::from_bits_retain(1 << 40) | DmaAttrs::SKIP_CPU_SYNC;
        rich.sg_nents = 3;
        rich.sg_mapped_ents = 2;
        rich.cpu_addr = 0x5000;
        rich.cache_lines = Some((7, 9));
        rich.cpu_ranges.add(16, 32);
        rich.digest = Some(0xdead_beef);
        rich.cpu_wrote = true;
        rich.error_checked = true;
        rich.owner = Owner::Cpu;
        rich.handed_at = Site::in_trace("t", 3);
        let mut derived = entry(3, 0x7000, 100);
        derived.cpu_addr = 0x4_0000;
        derived.cache_lines = Some((
            (0x4_0000 + 0x10_0000) / 64,
            (0x4_0000 + 0x10_0000 + 100u64).div_ceil(64),
        ));
        let mut all_cpu = entry(4, 0x7000, 100);
        all_cpu.cpu_ranges.add(0, 100);
        for e in [&plain, &rich, &derived, &all_cpu] {
            t.insert(e);
        }
        let back = t.snapshot(None);
        for (want, got) in [&plain, &rich, &derived, &all_cpu].iter().zip(&back) {
            assert_eq!(format!("{want:?}"), format!("{got:?}"));
        }
        // An update is stored too.
        t.update_first(DeviceId(1), 0x7000, |_| true, |e| e.cpu_ranges.add(0, 8));
        assert_eq!(
            t.snapshot(Some(DeviceId(1)))[0]
                .cpu_ranges
                .iter()
                .collect::<Vec<_>>(),
            [(0, 8)]
        );
    }

    #[test]
    fn cache_line_holders_are_found_once_each_short_or_long() {
        let t = Tracker::new(0);
        let with_lines = |device, dma_addr, lines: (u64, u64)| {
            let mut e = entry(device, dma_addr, (lines.1 - lines.0) * 64);
            e.cache_lines = Some(lines);
            e
        };
        // A holder across two regions, met by a mapping of both: counted once.
        assert!(t.insert(&with_lines(1, 0x10_0000, (60, 70))).is_empty());
        assert_eq!(t.insert(&with_lines(1, 0x20_0000, (50, 80))).len(), 1);
        // A long holder (4 MiB of lines) finds the two short ones, and later short ones find it.
        let long = with_lines(2, 0x4000_0000, (0, 1 << 16));
        assert_eq!(t.insert(&long).len(), 2);
        assert_eq!(t.insert(&with_lines(3, 0x30_0000, (5000, 5001))).len(), 1);
        // Apart from everything: nothing.
        assert!(
            t.insert(&with_lines(3, 0x40_0000, (1 << 20, (1 << 20) + 1)))
                .is_empty()
        );
        // The same lines held twice (one buffer mapped twice) are two holders.
        assert_eq!(t.insert(&with_lines(3, 0x30_0000, (5000, 5001))).len(), 2);
        // Removed holders are gone, long ones included.
        t.remove(DeviceId(2), 0x4000_0000, |_| 0, &here(), "unmap");
        assert_eq!(t.insert(&with_lines(4, 0x50_0000, (4999, 5002))).len(), 2);
    }

    #[test]
    #[cfg_attr(miri, ignore = "4,000 operations checked against a model; safe code")]
    fn ranges_agree_with_a_byte_map_under_random_adds_and_removes() {
        let mut next = below(0x2545_f491_4f6c_dd1du64);
        for _ in 0..200 {
            let (mut ranges, mut bytes) = (Ranges::default(), [false; 64]);
            for _ in 0..20 {
                let (a, b) = (next(65), next(65));
                let (start, end) = (a.min(b), a.max(b));
                let add = next(2) == 0;
                if add {
                    ranges.add(start, end);
                } else {
                    ranges.remove(start, end);
                }
                bytes[start as usize..end as usize].fill(add);
                let mut model = Vec::new();
                for (i, &set) in bytes.iter().enumerate() {
                    match model.last_mut() {
                        Some((_, e)) if set && *e == i as u64 => *e += 1,
                        _ if set => model.push((i as u64, i as u64 + 1)),
                        _ => {}
                    }
                }
                assert_eq!(ranges.iter().collect::<Vec<_>>(), model);
                assert_eq!(ranges.covers(0, 64), bytes.iter().all(|&b| b));
            }
        }
    }
}
