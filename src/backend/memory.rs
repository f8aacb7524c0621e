//! Simulated physical memory: one real, page-aligned arena placed at a physical address, with a
//! page allocator (zones, buddy-aligned orders) and a small-object heap on top, like the
//! kernel's page allocator and kmalloc.
//!
//! Physical addresses are the arena offset plus a base (1 MiB by default), so they are never the
//! CPU pointer, and a device mask really decides what a device can reach. Below 16 MiB is the
//! `GFP_DMA` zone; other allocations are placed above it while there is room.

use std::collections::{BTreeMap, HashMap};

pub(crate) use super::arena::Alias;
use super::arena::Arena;
use super::fingerprint::Fingerprint;
use super::ranges::FreeRanges;
use std::fmt;
use std::ptr::NonNull;

use crate::backend::MapError;
use crate::sync::Mutex;
use crate::types::{Gfp, PAGE_SIZE, PhysAddr};

/// End of the `GFP_DMA` zone (ISA's 16 MiB), as on x86.
pub const DMA_ZONE_END: PhysAddr = 16 << 20;
/// End of the `GFP_DMA32` zone.
pub const DMA32_ZONE_END: PhysAddr = 1 << 32;
/// The largest `alloc_pages` order (Linux's `MAX_PAGE_ORDER`).
pub const MAX_ORDER: u32 = 10;
/// Guard bytes that follow every coherent allocation and bounce slot (at least this many).
pub const GUARD_BYTES: u64 = 64;
/// The byte guards are filled with; a different byte there means something wrote past the end.
pub const GUARD_BYTE: u8 = 0xa5;

/// kmalloc's size classes. kmalloc memory is DMA-safe: no class is smaller than
/// `ARCH_DMA_MINALIGN` (the cache line, `dma_get_cache_alignment()`), so two objects never
/// share a line (include/linux/slab.h: where `ARCH_DMA_MINALIGN > 8`, `ARCH_KMALLOC_MINALIGN`
/// and `KMALLOC_MIN_SIZE` are `ARCH_DMA_MINALIGN`; arm64 instead bounces small kmalloc buffers
/// mapped for the device to write, `dma_kmalloc_needs_bounce()`, with the same effect).
const SLAB_CLASSES: [usize; 6] = [64, 128, 256, 512, 1024, 2048];
const _: () = assert!(SLAB_CLASSES[0] == crate::DMA_CACHE_ALIGNMENT as usize);

/// Size and placement of the simulated physical memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryConfig {
    /// Bytes of memory (a multiple of the page size). Committed lazily by the OS.
    pub size: usize,
    /// Physical address of the first byte (page-aligned).
    pub phys_base: PhysAddr,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            size: 256 << 20,
            phys_base: 1 << 20,
        }
    }
}

/// A page of simulated memory (`struct page *`): the address of its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Page(NonNull<u8>);

// SAFETY: a `Page` is only an address, like the kernel's `struct page *`; holding one confers no
// access. Reading or writing through `page_address` is governed by the allocation it names.
unsafe impl Send for Page {}
// SAFETY: as above; `Page` has no interior state.
unsafe impl Sync for Page {}

impl Page {
    /// The CPU address of the page's first byte (`page_address`).
    pub fn address(self) -> *mut u8 {
        self.0.as_ptr()
    }

    /// The page containing `ptr` (`virt_to_page`); `None` for a null pointer.
    pub fn containing(ptr: *const u8) -> Option<Page> {
        let offset = ptr.addr() % PAGE_SIZE;
        NonNull::new(ptr.cast_mut().wrapping_sub(offset)).map(Page)
    }
}

/// Why a `kfree` or `free_pages` was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The address is not the start of a live allocation of this kind.
    NotAllocated,
    /// The pages were allocated with another order.
    WrongOrder {
        /// The order they were allocated with.
        allocated: u32,
    },
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FreeError::NotAllocated => f.write_str("not the start of a live allocation"),
            FreeError::WrongOrder { allocated } => {
                write!(f, "the pages were allocated with order {allocated}")
            }
        }
    }
}

impl std::error::Error for FreeError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RunUse {
    Pages { order: u32 },
    Large,
    Slab,
    Coherent,
}

struct Run {
    pages: usize,
    usage: RunUse,
}

/// The zone a small-object cache serves. A cache only ever holds objects its zone's requests
/// may be given: objects are filed on free by where they lie.
#[derive(Clone, Copy)]
enum Zone {
    Dma = 0,
    Dma32 = 1,
    Normal = 2,
}

impl Zone {
    fn of_request(gfp: Gfp) -> Zone {
        if gfp.contains(Gfp::DMA) {
            Zone::Dma
        } else if gfp.contains(Gfp::DMA32) {
            Zone::Dma32
        } else {
            Zone::Normal
        }
    }

    fn of_address(phys: PhysAddr) -> Zone {
        if phys < DMA_ZONE_END {
            Zone::Dma
        } else if phys < DMA32_ZONE_END {
            Zone::Dma32
        } else {
            Zone::Normal
        }
    }
}

#[derive(Default)]
struct Heap {
    /// Free pages, by index.
    free: FreeRanges,
    /// Allocated page runs: first page index -> run.
    runs: BTreeMap<usize, Run>,
    /// Free small objects per zone (see [`Zone`]) and size class, as byte offsets.
    slab_free: [[Vec<usize>; SLAB_CLASSES.len()]; 3],
    /// Live small objects: byte offset -> size class index (a fast hash: every kmalloc,
    /// kfree and ksize asks).
    objects: HashMap<usize, usize, rustc_hash::FxBuildHasher>,
}

/// The simulated physical memory of one checker.
pub struct PhysMemory {
    /// Kept for its `Drop`: the memory lives as long as this.
    _arena: Arena,
    /// The arena's first byte: physical address `phys_base`.
    base: NonNull<u8>,
    /// Usable bytes from `base`.
    len: usize,
    phys_base: PhysAddr,
    pages: usize,
    /// First page index above the DMA zone: where ordinary allocations start looking.
    normal_start: usize,
    heap: Mutex<Heap>,
    /// One bit per page that may have been written (allocated, or written where no allocation
    /// is, as declared memory is): zeroed when the memory drops, so that its arena can be
    /// reused clean. Std's atomics: not part of any loom model.
    dirty: Box<[std::sync::atomic::AtomicU64]>,
}

impl Drop for PhysMemory {
    fn drop(&mut self) {
        for (word, bits) in self.dirty.iter_mut().enumerate() {
            let mut bits = *bits.get_mut();
            while bits != 0 {
                let page = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if page < self.pages {
                    // SAFETY: the page lies inside the arena, which nothing else uses any more
                    // (the memory is being dropped).
                    unsafe {
                        self.base
                            .as_ptr()
                            .add(page * PAGE_SIZE)
                            .write_bytes(0, PAGE_SIZE)
                    };
                }
            }
        }
        self._arena.clean = true;
    }
}

// SAFETY: the arena is owned by `PhysMemory` and freed only on drop; all bookkeeping is behind a
// mutex. The bytes themselves are reached through pointers handed out by the allocators, whose
// use is the holder's responsibility, as with any allocator.
unsafe impl Send for PhysMemory {}
// SAFETY: see above; shared access only reads immutable fields or locks `heap`.
unsafe impl Sync for PhysMemory {}

impl PhysMemory {
    /// Reserve the arena. Panics if the configuration is not page-aligned or the allocation
    /// fails.
    pub fn new(config: MemoryConfig) -> PhysMemory {
        assert!(
            config.size >= PAGE_SIZE && config.size % PAGE_SIZE == 0,
            "memory size must be a non-zero multiple of the page size"
        );
        assert!(
            config.phys_base % PAGE_SIZE as u64 == 0,
            "phys_base must be page-aligned"
        );
        let arena = Arena::reserve(config.size);
        let base = arena.base;
        let pages = config.size / PAGE_SIZE;
        let normal_start = (DMA_ZONE_END.saturating_sub(config.phys_base) / PAGE_SIZE as u64)
            .min(pages as u64) as usize;
        let heap = Heap {
            free: FreeRanges::new(0, pages as u64),
            ..Heap::default()
        };
        PhysMemory {
            _arena: arena,
            base,
            len: config.size,
            phys_base: config.phys_base,
            pages,
            normal_start,
            heap: Mutex::new(heap),
            dirty: (0..pages.div_ceil(64))
                .map(|_| Default::default())
                .collect(),
        }
    }

    /// The physical address of the first byte.
    pub fn phys_base(&self) -> PhysAddr {
        self.phys_base
    }

    /// One past the physical address of the last byte.
    pub fn phys_end(&self) -> PhysAddr {
        self.phys_base + self.len as u64
    }

    /// The smallest mask that covers all of memory (`dma_get_required_mask`).
    pub fn required_mask(&self) -> u64 {
        let top = self.phys_end() - 1;
        u64::MAX >> top.leading_zeros()
    }

    /// The smallest mask the platform supports: one that reaches the whole DMA zone, as
    /// Linux's dma-direct requires.
    pub fn min_supported_mask(&self) -> u64 {
        DMA_ZONE_END.min(self.phys_end()) - 1
    }

    /// The physical address of `len` bytes at `ptr`, if they lie inside the memory.
    pub fn phys_of(&self, ptr: *const u8, len: u64) -> Result<PhysAddr, MapError> {
        self.phys_of_addr(ptr.addr() as u64, len)
    }

    /// [`PhysMemory::phys_of`] for a CPU address held as a number.
    pub fn phys_of_addr(&self, addr: u64, len: u64) -> Result<PhysAddr, MapError> {
        if addr == 0 {
            return Err(MapError::NullPointer);
        }
        let offset = addr.wrapping_sub(self.base.as_ptr().addr() as u64);
        let fits = offset
            .checked_add(len)
            .is_some_and(|end| end <= self.len as u64);
        if !fits {
            return Err(MapError::NotDmaMemory { cpu_addr: addr });
        }
        Ok(self.phys_base + offset)
    }

    /// What to add (wrapping) to a CPU address inside the memory to get its physical address.
    pub(crate) fn cpu_to_phys_offset(&self) -> u64 {
        self.phys_base
            .wrapping_sub(self.base.as_ptr().addr() as u64)
    }

    /// The CPU address of `len` bytes at physical address `phys`, if they lie inside the memory.
    pub fn cpu_of(&self, phys: PhysAddr, len: u64) -> Option<NonNull<u8>> {
        let offset = phys.checked_sub(self.phys_base)?;
        if offset.checked_add(len)? > self.len as u64 {
            return None;
        }
        NonNull::new(self.base.as_ptr().wrapping_add(offset as usize))
    }

    fn ptr_at(&self, byte_offset: usize) -> NonNull<u8> {
        NonNull::new(self.base.as_ptr().wrapping_add(byte_offset)).expect("inside the arena")
    }

    fn offset_of(&self, ptr: *const u8) -> Option<usize> {
        let offset = ptr.addr().wrapping_sub(self.base.as_ptr().addr());
        (offset < self.len).then_some(offset)
    }

    fn zero(&self, byte_offset: usize, len: usize) {
        debug_assert!(byte_offset + len <= self.len);
        // SAFETY: the range lies inside the arena (checked by the callers' bookkeeping) and was
        // just handed to the caller, so nobody else holds it.
        unsafe { std::ptr::write_bytes(self.base.as_ptr().add(byte_offset), 0, len) };
    }

    /// Page index just past the highest page an allocation limited to `limit` may use.
    fn limit_index(&self, limit: PhysAddr) -> usize {
        (limit.saturating_sub(self.phys_base) / PAGE_SIZE as u64).min(self.pages as u64) as usize
    }

    fn gfp_limit(gfp: Gfp) -> PhysAddr {
        if gfp.contains(Gfp::DMA) {
            DMA_ZONE_END
        } else if gfp.contains(Gfp::DMA32) {
            DMA32_ZONE_END
        } else {
            PhysAddr::MAX
        }
    }

    /// Allocate `pages` pages aligned to `align` pages, below physical `limit`, above the DMA
    /// zone when there is room and `prefer_high`.
    fn alloc_run(
        &self,
        heap: &mut Heap,
        pages: usize,
        align: usize,
        limit: PhysAddr,
        usage: RunUse,
    ) -> Option<usize> {
        let start = self.alloc_untouched_run(heap, pages, align, limit, usage)?;
        self.mark_dirty_pages(start, pages);
        Some(start)
    }

    /// Mark `count` pages from page index `first` as possibly written.
    fn mark_dirty_pages(&self, first: usize, count: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        for page in first..(first + count).min(self.pages) {
            self.dirty[page / 64].fetch_or(1 << (page % 64), Relaxed);
        }
    }

    /// Mark the pages of `len` bytes at physical `phys` as written (memory written outside the
    /// heap's allocations: a bounce slot, a declared region), so that they are zeroed when the
    /// memory drops.
    pub(crate) fn mark_dirty(&self, phys: PhysAddr, len: u64) {
        let Some(offset) = phys.checked_sub(self.phys_base) else {
            return;
        };
        let first = (offset / PAGE_SIZE as u64) as usize;
        let last = (offset + len.max(1) - 1) / PAGE_SIZE as u64;
        self.mark_dirty_pages(first, last as usize + 1 - first);
    }

    /// [`alloc_run`](Self::alloc_run) without marking the pages written.
    fn alloc_untouched_run(
        &self,
        heap: &mut Heap,
        pages: usize,
        align: usize,
        limit: PhysAddr,
        usage: RunUse,
    ) -> Option<usize> {
        let hi = self.limit_index(limit);
        let prefer_high = limit > DMA_ZONE_END;
        let start = prefer_high
            .then(|| heap.take_run(pages, align, self.normal_start, hi))
            .flatten()
            .or_else(|| heap.take_run(pages, align, 0, hi))?;
        heap.runs.insert(start, Run { pages, usage });
        Some(start)
    }

    /// `kmalloc`: `size` bytes, naturally aligned up to 2 KiB, page-aligned above; zeroed with
    /// `Gfp::ZERO`. `None` for size 0 or when memory runs out.
    pub fn kmalloc(&self, size: usize, gfp: Gfp) -> Option<NonNull<u8>> {
        if size == 0 {
            return None;
        }
        let limit = Self::gfp_limit(gfp);
        let mut heap = self.heap.lock();
        let offset = match SLAB_CLASSES.iter().position(|&c| c >= size) {
            Some(class) => {
                let zone = Zone::of_request(gfp) as usize;
                if heap.slab_free[zone][class].is_empty() {
                    let page = self.alloc_run(&mut heap, 1, 1, limit, RunUse::Slab)?;
                    let objs = (0..PAGE_SIZE / SLAB_CLASSES[class])
                        .rev()
                        .map(|i| page * PAGE_SIZE + i * SLAB_CLASSES[class]);
                    heap.slab_free[zone][class].extend(objs);
                }
                let off = heap.slab_free[zone][class].pop()?;
                heap.objects.insert(off, class);
                off
            }
            None => {
                let pages = size.div_ceil(PAGE_SIZE);
                self.alloc_run(&mut heap, pages, 1, limit, RunUse::Large)? * PAGE_SIZE
            }
        };
        drop(heap);
        if gfp.contains(Gfp::ZERO) {
            self.zero(offset, size);
        }
        Some(self.ptr_at(offset))
    }

    /// `kfree`: free memory from [`PhysMemory::kmalloc`]. Null is a no-op, as in the kernel.
    pub fn kfree(&self, ptr: *const u8) -> Result<(), FreeError> {
        if ptr.is_null() {
            return Ok(());
        }
        let off = self.offset_of(ptr).ok_or(FreeError::NotAllocated)?;
        let mut heap = self.heap.lock();
        if let Some(class) = heap.objects.remove(&off) {
            let zone = Zone::of_address(self.phys_base + off as u64) as usize;
            heap.slab_free[zone][class].push(off);
            return Ok(());
        }
        if off % PAGE_SIZE == 0 {
            return heap.release_run(off / PAGE_SIZE, |u| u == RunUse::Large);
        }
        Err(FreeError::NotAllocated)
    }

    /// The bytes a live [`PhysMemory::kmalloc`] object at `ptr` spans (its size class, or its
    /// pages), as `ksize` says; `None` if `ptr` is not the start of one.
    pub fn ksize(&self, ptr: *const u8) -> Option<usize> {
        let off = self.offset_of(ptr)?;
        let heap = self.heap.lock();
        if let Some(&class) = heap.objects.get(&off) {
            return Some(SLAB_CLASSES[class]);
        }
        heap.runs
            .get(&(off / PAGE_SIZE))
            .filter(|r| off % PAGE_SIZE == 0 && r.usage == RunUse::Large)
            .map(|r| r.pages * PAGE_SIZE)
    }

    /// `alloc_pages`: 2^`order` contiguous pages, aligned to their size.
    pub fn alloc_pages(&self, gfp: Gfp, order: u32) -> Option<Page> {
        if order > MAX_ORDER {
            return None;
        }
        let count = 1usize << order;
        let mut heap = self.heap.lock();
        let start = self.alloc_run(
            &mut heap,
            count,
            count,
            Self::gfp_limit(gfp),
            RunUse::Pages { order },
        )?;
        drop(heap);
        if gfp.contains(Gfp::ZERO) {
            self.zero(start * PAGE_SIZE, count * PAGE_SIZE);
        }
        Some(Page(self.ptr_at(start * PAGE_SIZE)))
    }

    /// `__free_pages`: free pages from [`PhysMemory::alloc_pages`], with the same order.
    pub fn free_pages(&self, page: Page, order: u32) -> Result<(), FreeError> {
        let off = self
            .offset_of(page.address())
            .ok_or(FreeError::NotAllocated)?;
        if off % PAGE_SIZE != 0 {
            return Err(FreeError::NotAllocated);
        }
        let mut heap = self.heap.lock();
        match heap.runs.get(&(off / PAGE_SIZE)).map(|r| r.usage) {
            Some(RunUse::Pages { order: o }) if o != order => {
                Err(FreeError::WrongOrder { allocated: o })
            }
            _ => heap.release_run(off / PAGE_SIZE, |u| u == RunUse::Pages { order }),
        }
    }

    /// Zeroed, page-aligned memory for coherent DMA, entirely below physical `limit`, followed
    /// by at least [`GUARD_BYTES`] of guard.
    pub fn alloc_coherent(&self, size: u64, limit: PhysAddr) -> Option<NonNull<u8>> {
        let total = size.checked_add(GUARD_BYTES)?.div_ceil(PAGE_SIZE as u64);
        let pages = usize::try_from(total).ok()?;
        if size == 0 || pages > self.pages {
            return None;
        }
        let mut heap = self.heap.lock();
        // Naturally aligned to its size rounded up to a power of two, as dma-direct's
        // `alloc_pages(get_order(size))` is: DMA pools rely on it for alignments above a page.
        let align = pages.next_power_of_two();
        let start = self.alloc_run(&mut heap, pages, align, limit, RunUse::Coherent)?;
        drop(heap);
        let offset = start * PAGE_SIZE;
        self.zero(offset, size as usize);
        let guard = self.phys_base + (offset as u64) + size;
        self.fill(guard, (pages * PAGE_SIZE) as u64 - size, GUARD_BYTE);
        Some(self.ptr_at(offset))
    }

    /// Page-aligned memory of `size` bytes entirely below physical `limit`, for the life of
    /// the memory, left as it is: no page is touched, so the OS commits only what is used (the
    /// bounce pool: slots are written when they are mapped).
    pub(crate) fn reserve_untouched(&self, size: u64, limit: PhysAddr) -> Option<NonNull<u8>> {
        let pages = usize::try_from(size.div_ceil(PAGE_SIZE as u64)).ok()?;
        if size == 0 || pages > self.pages {
            return None;
        }
        let mut heap = self.heap.lock();
        let start = self.alloc_untouched_run(&mut heap, pages, 1, limit, RunUse::Coherent)?;
        Some(self.ptr_at(start * PAGE_SIZE))
    }

    /// Free memory from [`PhysMemory::alloc_coherent`] of `size` bytes. Returns whether the
    /// guard after those bytes was intact.
    pub fn free_coherent(&self, ptr: NonNull<u8>, size: u64) -> Result<bool, FreeError> {
        let off = self
            .offset_of(ptr.as_ptr())
            .ok_or(FreeError::NotAllocated)?;
        if off % PAGE_SIZE != 0 {
            return Err(FreeError::NotAllocated);
        }
        let mut heap = self.heap.lock();
        let run_bytes = match heap.runs.get(&(off / PAGE_SIZE)) {
            Some(run) if run.usage == RunUse::Coherent => (run.pages * PAGE_SIZE) as u64,
            _ => return Err(FreeError::NotAllocated),
        };
        let guard_start = self.phys_base + off as u64 + size.min(run_bytes);
        let mut guard = vec![0u8; (run_bytes - size.min(run_bytes)) as usize];
        self.read(guard_start, &mut guard);
        let intact = guard.iter().all(|&b| b == GUARD_BYTE);
        heap.release_run(off / PAGE_SIZE, |u| u == RunUse::Coherent)?;
        Ok(intact)
    }

    /// Copy `buf.len()` bytes at physical address `phys` into `buf`; `None` if the range is
    /// not inside the memory.
    pub fn read(&self, phys: PhysAddr, buf: &mut [u8]) -> Option<()> {
        let src = self.cpu_of(phys, buf.len() as u64)?;
        // SAFETY: `src` names `buf.len()` bytes inside the arena (checked by `cpu_of`), and
        // `buf` is a distinct exclusive slice. The bytes may be written concurrently by the
        // program under test, as real DMA races with the CPU; that is the program's bug to find.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), buf.as_mut_ptr(), buf.len()) };
        Some(())
    }

    /// Copy `data` to physical address `phys`; `None` if the range is not inside the memory.
    pub fn write(&self, phys: PhysAddr, data: &[u8]) -> Option<()> {
        let dst = self.cpu_of(phys, data.len() as u64)?;
        // SAFETY: as in `read`, with the roles of the two ranges swapped.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dst.as_ptr(), data.len()) };
        Some(())
    }

    /// Copy `len` bytes from physical `from` to physical `to` (ranges may not overlap).
    pub fn copy(&self, from: PhysAddr, to: PhysAddr, len: u64) -> Option<()> {
        let src = self.cpu_of(from, len)?;
        let dst = self.cpu_of(to, len)?;
        let disjoint = from.checked_add(len)? <= to || to.checked_add(len)? <= from;
        if !disjoint {
            return None;
        }
        // SAFETY: both ranges lie inside the arena (checked by `cpu_of`) and do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_ptr(), len as usize) };
        Some(())
    }

    /// Fill `len` bytes at physical `phys` with `byte`.
    pub fn fill(&self, phys: PhysAddr, len: u64, byte: u8) -> Option<()> {
        let dst = self.cpu_of(phys, len)?;
        // SAFETY: the range lies inside the arena (checked by `cpu_of`).
        unsafe { std::ptr::write_bytes(dst.as_ptr(), byte, len as usize) };
        Some(())
    }

    /// Whether all `len` bytes at physical `phys` are `byte` (a guard intact); `None` if the
    /// range is not inside the memory. Read in place, with no early exit per byte, so that the
    /// comparison vectorizes (a bounce slot's guard is up to 2 KiB, checked at every unmap).
    pub fn is_filled(&self, phys: PhysAddr, len: u64, byte: u8) -> Option<bool> {
        let src = self.cpu_of(phys, len)?;
        // SAFETY: the range lies inside the arena (checked by `cpu_of`); it is only read, and
        // only for the duration of this call (as `digest_parts` reads).
        let bytes = unsafe { std::slice::from_raw_parts(src.as_ptr(), len as usize) };
        Some(bytes.iter().fold(0, |acc, &b| acc | (b ^ byte)) == 0)
    }

    /// A fingerprint of `len` bytes at physical `phys`, to notice when they change.
    pub fn digest(&self, phys: PhysAddr, len: u64) -> Option<u64> {
        self.digest_parts([(phys, len)])
    }

    /// A fingerprint of several physical ranges, in order.
    pub fn digest_parts(&self, parts: impl IntoIterator<Item = (PhysAddr, u64)>) -> Option<u64> {
        self.digest_parts_with(parts, None)
    }

    /// [`PhysMemory::digest_parts`], or with `written` (`data` to be written at a physical
    /// address) the fingerprint the ranges will have once it is: its bytes read in place of
    /// theirs, so a write needs no second fingerprint after it lands.
    pub(crate) fn digest_parts_with(
        &self,
        parts: impl IntoIterator<Item = (PhysAddr, u64)>,
        written: Option<(PhysAddr, &[u8])>,
    ) -> Option<u64> {
        let mut fingerprint = Fingerprint::default();
        let mut parts = parts.into_iter().peekable();
        if parts.peek().is_none() {
            return Some(Fingerprint::EMPTY);
        }
        for (phys, len) in parts {
            let src = self.cpu_of(phys, len)?;
            // SAFETY: the range lies inside the arena (checked by `cpu_of`); it is only read,
            // and only for the duration of this call.
            let bytes = unsafe { std::slice::from_raw_parts(src.as_ptr(), len as usize) };
            // The part of the range the write covers, if any.
            let over = written.and_then(|(at, data)| {
                let (start, end) = (at.max(phys), (at + data.len() as u64).min(phys + len));
                (start < end).then(|| {
                    let new = &data[(start - at) as usize..(end - at) as usize];
                    ((start - phys) as usize, new)
                })
            });
            match over {
                Some((offset, new)) => {
                    fingerprint.add_joined([&bytes[..offset], new, &bytes[offset + new.len()..]])
                }
                None => fingerprint.add(bytes),
            }
        }
        Some(fingerprint.finish())
    }

    /// Map the `len` bytes at page-aligned physical `phys` a second time, at another CPU
    /// address. `None` if the range is not whole pages inside the memory, or the platform cannot
    /// (under Miri).
    pub(crate) fn alias(&self, phys: PhysAddr, len: usize) -> Option<Alias> {
        let src = self.cpu_of(phys, len as u64)?;
        if len == 0 || len % PAGE_SIZE != 0 || src.as_ptr().addr() % PAGE_SIZE != 0 {
            return None;
        }
        self.alias_pages(src, len)
    }

    #[cfg(not(miri))]
    fn alias_pages(&self, src: NonNull<u8>, len: usize) -> Option<Alias> {
        self._arena
            .aliased
            .store(true, std::sync::atomic::Ordering::Release);
        // SAFETY: `src..src + len` lies inside the arena, a shared mapping; an old size of 0
        // asks `mremap` for a second mapping of the same pages, leaving the first untouched.
        let ptr = unsafe { libc::mremap(src.as_ptr().cast(), 0, len, libc::MREMAP_MAYMOVE) };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        Some(Alias {
            ptr: NonNull::new(ptr.cast())?,
            len,
        })
    }

    #[cfg(miri)]
    fn alias_pages(&self, _src: NonNull<u8>, _len: usize) -> Option<Alias> {
        None
    }

    /// Whether `addr` lies inside the memory's CPU address range (a CPU pointer, not a DMA
    /// address).
    pub fn is_cpu_address(&self, addr: u64) -> bool {
        let base = self.base.as_ptr().addr() as u64;
        addr >= base && addr - base < self.len as u64
    }

    /// Bytes of memory in live page runs (slab pages count whole).
    pub fn bytes_in_use(&self) -> usize {
        self.heap
            .lock()
            .runs
            .values()
            .map(|r| r.pages * PAGE_SIZE)
            .sum()
    }
}

impl Heap {
    /// First fit of `count` pages aligned to `align` within page indices `lo..hi`.
    fn take_run(&mut self, count: usize, align: usize, lo: usize, hi: usize) -> Option<usize> {
        let at = self
            .free
            .take_lowest(count as u64, align as u64, lo as u64, hi as u64)?;
        Some(at as usize)
    }

    /// Free the run starting at page `first` if its use satisfies `expected`.
    fn release_run(
        &mut self,
        first: usize,
        expected: impl Fn(RunUse) -> bool,
    ) -> Result<(), FreeError> {
        match self.runs.get(&first) {
            Some(run) if expected(run.usage) => {}
            _ => return Err(FreeError::NotAllocated),
        }
        let run = self.runs.remove(&first).expect("checked above");
        self.free.give(first as u64, run.pages as u64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> PhysMemory {
        PhysMemory::new(MemoryConfig {
            size: 32 << 20,
            phys_base: 1 << 20,
        })
    }

    fn fingerprint(bytes: &[u8]) -> u64 {
        let mut f = Fingerprint::default();
        f.add(bytes);
        f.finish()
    }

    #[test]
    #[cfg_attr(miri, ignore = "thousands of fingerprints of a page; safe code")]
    fn fingerprints_change_with_any_byte_and_with_moved_words() {
        let page: Vec<u8> = (0..4096u32).map(|i| (i * 7 + i / 255) as u8).collect();
        let original = fingerprint(&page);
        assert_eq!(
            fingerprint(&page.clone()),
            original,
            "same bytes, same fingerprint"
        );
        for at in 0..page.len() {
            let mut changed = page.clone();
            changed[at] ^= 1 << (at % 8);
            assert_ne!(fingerprint(&changed), original, "byte {at} changed");
        }
        let mut swapped = page.clone();
        swapped.swap(0, 64);
        swapped.swap(1, 65);
        assert_ne!(fingerprint(&swapped), original, "words of one lane swapped");
        // A shorter buffer padded with zeros is not the same buffer.
        assert_ne!(fingerprint(&[1, 2, 3]), fingerprint(&[1, 2, 3, 0]));
    }

    /// The fingerprint taken with a write's bytes in place is the one its parts have once the
    /// write lands, wherever the write falls: before, across, between or inside the parts.
    #[test]
    fn a_fingerprint_with_a_write_in_place_is_the_one_after_it() {
        let m = small();
        let page = m.alloc_pages(Gfp::KERNEL, 0).unwrap();
        let base = m.phys_of(page.address(), 4096).unwrap();
        let parts = [(base + 100, 300), (base + 600, 1000)];
        for (offset, len) in [
            (0, 50),
            (50, 100),
            (150, 100),
            (350, 300),
            (390, 10),
            (700, 64),
            (1500, 200),
            (2000, 30),
        ] {
            let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 7 + i / 251) as u8).collect();
            m.write(base, &bytes).unwrap();
            let data: Vec<u8> = (0..len as u32).map(|i| (i * 13 + 5) as u8).collect();
            let at = base + offset;
            let predicted = m.digest_parts_with(parts, Some((at, &data))).unwrap();
            let before = m.digest_parts(parts).unwrap();
            m.write(at, &data).unwrap();
            assert_eq!(
                predicted,
                m.digest_parts(parts).unwrap(),
                "{len} bytes at {offset}"
            );
            let outside =
                offset + len <= 100 || offset >= 1600 || (offset >= 400 && offset + len <= 600);
            assert_eq!(predicted == before, outside, "{len} bytes at {offset}");
        }
    }

    #[test]
    fn kmalloc_objects_are_aligned_distinct_and_translate_back() {
        let m = small();
        let a = m.kmalloc(100, Gfp::KERNEL).unwrap();
        let b = m.kmalloc(100, Gfp::KERNEL).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_ptr().addr() % 128, 0);
        let pa = m.phys_of(a.as_ptr(), 100).unwrap();
        assert!(
            pa >= DMA_ZONE_END,
            "ordinary memory sits above the DMA zone"
        );
        assert_eq!(m.cpu_of(pa, 100), Some(a));
        assert_ne!(
            pa,
            a.as_ptr().addr() as u64,
            "physical addresses are not CPU pointers"
        );
        assert_eq!(m.kfree(a.as_ptr()), Ok(()));
        assert_eq!(m.kfree(a.as_ptr()), Err(FreeError::NotAllocated));
    }

    #[test]
    fn gfp_dma_memory_lies_below_16_mib() {
        let m = small();
        let p = m.kmalloc(64, Gfp::KERNEL | Gfp::DMA).unwrap();
        assert!(m.phys_of(p.as_ptr(), 64).unwrap() < DMA_ZONE_END);
        let big = m.kmalloc(3 * PAGE_SIZE, Gfp::DMA).unwrap();
        assert!(
            m.phys_of(big.as_ptr(), 3 * PAGE_SIZE as u64).unwrap() + 3 * PAGE_SIZE as u64
                <= DMA_ZONE_END
        );
        assert_eq!(m.kfree(big.as_ptr()), Ok(()));
    }

    #[test]
    fn pages_are_aligned_to_their_order_and_need_the_same_order_to_free() {
        let m = small();
        let p = m.alloc_pages(Gfp::KERNEL, 3).unwrap();
        assert_eq!(
            (m.phys_of(p.address(), 1).unwrap() / PAGE_SIZE as u64) % 8,
            0
        );
        assert_eq!(
            m.free_pages(p, 2),
            Err(FreeError::WrongOrder { allocated: 3 })
        );
        assert_eq!(m.free_pages(p, 3), Ok(()));
        assert_eq!(m.free_pages(p, 3), Err(FreeError::NotAllocated));
        assert!(m.alloc_pages(Gfp::KERNEL, MAX_ORDER + 1).is_none());
    }

    #[test]
    fn freed_runs_coalesce_so_memory_is_not_lost() {
        let m = small();
        let before = m.heap.lock().free.clone();
        let pages: Vec<_> = (0..16)
            .map(|_| m.alloc_pages(Gfp::KERNEL, 1).unwrap())
            .collect();
        for p in pages
            .iter()
            .rev()
            .step_by(2)
            .chain(pages.iter().rev().skip(1).step_by(2))
        {
            m.free_pages(*p, 1).unwrap();
        }
        assert_eq!(m.heap.lock().free, before);
        assert_eq!(m.bytes_in_use(), 0);
    }

    #[test]
    fn coherent_memory_is_zeroed_and_respects_the_limit() {
        let m = small();
        let p = m.kmalloc(PAGE_SIZE, Gfp::KERNEL).unwrap();
        // SAFETY: p is a live allocation of PAGE_SIZE bytes.
        unsafe { std::ptr::write_bytes(p.as_ptr(), 0xff, PAGE_SIZE) };
        m.kfree(p.as_ptr()).unwrap();
        let c = m.alloc_coherent(PAGE_SIZE as u64, DMA_ZONE_END).unwrap();
        let phys = m.phys_of(c.as_ptr(), PAGE_SIZE as u64).unwrap();
        assert!(phys + PAGE_SIZE as u64 <= DMA_ZONE_END);
        // SAFETY: c is a live coherent allocation of one page.
        let bytes = unsafe { std::slice::from_raw_parts(c.as_ptr(), PAGE_SIZE) };
        assert!(bytes.iter().all(|&b| b == 0));
        assert_eq!(m.free_coherent(c, PAGE_SIZE as u64), Ok(true));
        assert!(
            m.alloc_coherent(PAGE_SIZE as u64, m.phys_base()).is_none(),
            "no memory below the base"
        );
    }

    #[test]
    fn foreign_and_overrunning_ranges_are_not_dma_memory() {
        let m = small();
        let local = [0u8; 16];
        assert!(matches!(
            m.phys_of(local.as_ptr(), 16),
            Err(MapError::NotDmaMemory { .. })
        ));
        assert_eq!(m.phys_of(std::ptr::null(), 1), Err(MapError::NullPointer));
        let p = m.kmalloc(8, Gfp::KERNEL).unwrap();
        assert!(m.phys_of(p.as_ptr(), u64::MAX).is_err());
        assert_eq!(m.required_mask(), crate::dma_bit_mask(26));
    }
}
