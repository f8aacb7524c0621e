//! The state behind `free-while-mapped` and `device-access-freed`: an index of the CPU memory
//! behind live streaming mappings, which a free asks, and the mappings whose memory was freed
//! while they were live, kept until their unmap (or their device's release). The free's check
//! is in `src/freed.rs`, its rules in `src/rules/heap.rs`.

use hashbrown::HashTable;
use smallvec::SmallVec;

use crate::site::Site;
use crate::sync::{AtomicBool, Mutex, Ordering};
use crate::tracker::{Entry, ShardLock};
use crate::types::{DeviceId, Direction, DmaAddr, MapKind, PAGE_SIZE};

/// A live streaming mapping, as the index of the CPU memory behind mappings knows it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MappedMemory {
    /// The CPU bytes mapped, `cpu..cpu + size` (a zero-sized mapping holds its first byte).
    pub cpu: u64,
    pub size: u64,
    pub device: DeviceId,
    pub dma_addr: DmaAddr,
    pub kind: MapKind,
    pub dir: Direction,
    pub site: Site,
}

impl MappedMemory {
    fn of(e: &Entry) -> Option<MappedMemory> {
        let streaming = matches!(e.kind, MapKind::Single | MapKind::Page);
        (streaming && e.cpu_addr != 0).then_some(MappedMemory {
            cpu: e.cpu_addr,
            size: e.size,
            device: e.device,
            dma_addr: e.dma_addr,
            kind: e.kind,
            dir: e.dir,
            site: e.site,
        })
    }

    fn pages(&self) -> std::ops::RangeInclusive<u64> {
        let last = self.cpu.saturating_add(self.size.max(1) - 1);
        self.cpu / PAGE as u64..=last / PAGE as u64
    }

    fn same(&self, other: &MappedMemory) -> bool {
        (self.device, self.dma_addr, self.cpu, self.size, self.site)
            == (
                other.device,
                other.dma_addr,
                other.cpu,
                other.size,
                other.site,
            )
    }
}

const PAGE: usize = PAGE_SIZE;

/// The mappings under one page: a list per page, dense where many small buffers share a page
/// (one value per mapping and page in a hash table measured 60 bytes more per entry at 64
/// mappings a page, for the table's empty buckets), found and dropped in one probe.
struct PageList {
    page: u64,
    mappings: SmallVec<[MappedMemory; 1]>,
}

/// The hash of a page within its shard (the shard was chosen by other bits of another product).
fn page_hash(page: u64) -> u64 {
    page.wrapping_mul(0xA076_1D64_78BD_642F).rotate_left(29)
}

/// Index shards, chosen by page.
const SHARDS: usize = 16;
/// Mappings spanning more pages than this are kept in one list (few, large buffers) rather
/// than under each page.
const LARGE_PAGES: u64 = 16;

/// The CPU memory behind live streaming mappings, by page: what a free asks, so that it finds
/// the mappings of the bytes it frees in a few probes however many mappings are live.
pub(crate) struct MappedIndex {
    /// Under the tracker's shard lock: held as briefly, and unlocked with a plain store.
    shards: [ShardLock<HashTable<PageList>>; SHARDS],
    large: Mutex<Vec<MappedMemory>>,
}

impl Default for MappedIndex {
    fn default() -> Self {
        MappedIndex {
            shards: std::array::from_fn(|_| ShardLock::default()),
            large: Mutex::new(Vec::new()),
        }
    }
}

impl MappedIndex {
    fn shard(&self, page: u64) -> &ShardLock<HashTable<PageList>> {
        &self.shards[(page.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize % SHARDS]
    }

    /// A streaming entry was made.
    #[inline]
    pub(crate) fn insert(&self, e: &Entry) {
        let Some(mapping) = MappedMemory::of(e) else {
            return;
        };
        let pages = mapping.pages();
        if pages.end() - pages.start() >= LARGE_PAGES {
            self.large.lock().push(mapping);
            return;
        }
        for page in pages {
            let mut shard = self.shard(page).lock();
            match shard.entry(page_hash(page), |l| l.page == page, |l| page_hash(l.page)) {
                hashbrown::hash_table::Entry::Occupied(mut list) => {
                    list.get_mut().mappings.push(mapping);
                }
                hashbrown::hash_table::Entry::Vacant(vacant) => {
                    vacant.insert(PageList {
                        page,
                        mappings: smallvec::smallvec![mapping],
                    });
                }
            }
        }
    }

    /// A streaming entry ended (unmapped, or drained with its device).
    #[inline]
    pub(crate) fn remove(&self, e: &Entry) {
        let Some(m) = MappedMemory::of(e) else {
            return;
        };
        let pages = m.pages();
        if pages.end() - pages.start() >= LARGE_PAGES {
            let mut large = self.large.lock();
            if let Some(i) = large.iter().position(|x| x.same(&m)) {
                large.swap_remove(i);
            }
            return;
        }
        for page in pages {
            let mut shard = self.shard(page).lock();
            if let Ok(mut list) = shard.find_entry(page_hash(page), |l| l.page == page) {
                let mappings = &mut list.get_mut().mappings;
                if let Some(i) = mappings.iter().position(|x| x.same(&m)) {
                    mappings.swap_remove(i);
                }
                if mappings.is_empty() {
                    list.remove();
                }
            }
        }
    }

    /// Every live entry of `device` ended at once (`entries`: what its release drained, all
    /// of its live entries): each page under them is visited once and keeps only other
    /// devices' mappings, instead of a lookup and a scan of the page's list per entry (a
    /// million leaks of 64-byte buffers are 15,625 pages).
    pub(crate) fn remove_device(&self, device: DeviceId, entries: &[Entry]) {
        let mut visited: std::collections::HashSet<u64, rustc_hash::FxBuildHasher> =
            Default::default();
        let mut last_page = None;
        let mut large = false;
        for m in entries.iter().filter_map(MappedMemory::of) {
            let pages = m.pages();
            if pages.end() - pages.start() >= LARGE_PAGES {
                large = true;
                continue;
            }
            for page in pages {
                // Neighbours mostly share a page: no hash for them.
                if last_page == Some(page) {
                    continue;
                }
                last_page = Some(page);
                if !visited.insert(page) {
                    continue;
                }
                let mut shard = self.shard(page).lock();
                if let Ok(mut list) = shard.find_entry(page_hash(page), |l| l.page == page) {
                    let mappings = &mut list.get_mut().mappings;
                    mappings.retain(|x| x.device != device);
                    if mappings.is_empty() {
                        list.remove();
                    }
                }
            }
        }
        if large {
            self.large.lock().retain(|x| x.device != device);
        }
    }

    /// The live mappings of any of the bytes `start..end`.
    pub(crate) fn overlapping(&self, start: u64, end: u64) -> Vec<MappedMemory> {
        let overlaps =
            |m: &MappedMemory| m.cpu < end && start < m.cpu.saturating_add(m.size.max(1));
        let mut found: Vec<MappedMemory> =
            self.large.lock().iter().copied().filter(overlaps).collect();
        for page in start / PAGE as u64..=(end - 1) / PAGE as u64 {
            let shard = self.shard(page).lock();
            let Some(list) = shard.find(page_hash(page), |l| l.page == page) else {
                continue;
            };
            for m in list.mappings.iter().filter(|m| overlaps(m)) {
                if !found.iter().any(|x| x.same(m)) {
                    found.push(*m);
                }
            }
        }
        found
    }
}

/// A live mapping whose memory was freed.
#[derive(Clone, Debug)]
pub(crate) struct FreedMapping {
    pub device: DeviceId,
    pub dma_addr: DmaAddr,
    pub size: u64,
    pub kind: MapKind,
    pub mapped_at: Site,
    pub freed_at: Site,
    pub freed_by: &'static str,
}

impl FreedMapping {
    fn is(&self, e: &Entry) -> bool {
        (self.device, self.dma_addr, self.size, self.mapped_at)
            == (e.device, e.dma_addr, e.size, e.site)
    }

    fn same_mapping(&self, other: &FreedMapping) -> bool {
        (self.device, self.dma_addr, self.size, self.mapped_at)
            == (other.device, other.dma_addr, other.size, other.mapped_at)
    }
}

/// The mappings of one checker whose memory was freed. Empty in a correct program, so every
/// look-up first reads one flag.
#[derive(Default)]
pub(crate) struct FreedMappings {
    any: AtomicBool,
    list: Mutex<Vec<FreedMapping>>,
}

impl FreedMappings {
    /// The memory of a live mapping was freed. Once per mapping: its memory freed again
    /// (allocated and freed anew while the mapping lives) keeps the first free, where the
    /// mapping stopped being the driver's memory.
    pub(crate) fn add(&self, m: FreedMapping) {
        let mut list = self.list.lock();
        if !list.iter().any(|known| known.same_mapping(&m)) {
            list.push(m);
        }
        self.any.store(true, Ordering::Release);
    }

    /// The mapping `e` ended (unmapped): its memory is nobody's concern here any more.
    pub(crate) fn unmapped(&self, e: &Entry) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let mut list = self.list.lock();
        list.retain(|m| !m.is(e));
        self.any.store(!list.is_empty(), Ordering::Release);
    }

    /// The device was released: its mappings are gone.
    pub(crate) fn device_released(&self, device: DeviceId) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let mut list = self.list.lock();
        list.retain(|m| m.device != device);
        self.any.store(!list.is_empty(), Ordering::Release);
    }

    /// The freed mapping `e` is, if its memory was freed.
    pub(crate) fn find(&self, e: &Entry) -> Option<FreedMapping> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        self.list.lock().iter().find(|m| m.is(e)).cloned()
    }
}
