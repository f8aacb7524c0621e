//! The real memory behind the simulated physical memory, and second mappings of it.

#[cfg(miri)]
use std::alloc::Layout;
use std::ptr::NonNull;

#[cfg(miri)]
use crate::types::PAGE_SIZE;

/// The real memory behind the simulated physical memory.
///
/// Outside Miri it is a shared anonymous mapping: lazily committed and zeroed by the OS, and
/// able to be mapped a second time at another address ([`PhysMemory::alias`]), as
/// `dma_mmap_coherent` needs. Under Miri, which cannot run `mmap`, it is a heap allocation.
pub(super) struct Arena {
    pub(super) base: NonNull<u8>,
    #[cfg(miri)]
    raw: (NonNull<u8>, Layout),
    pub(super) len: usize,
    /// Whether a second mapping of some of its pages was made ([`PhysMemory::alias`]): such an
    /// arena is not reused, as the alias may outlive it.
    pub(super) aliased: std::sync::atomic::AtomicBool,
    /// Whether every page ever written is zero again (set as its memory drops): only then is
    /// the arena reused, as good as a fresh mapping.
    pub(super) clean: bool,
}

// SAFETY: an `Arena` owns its mapping and has no thread-bound state; it moves between threads
// only as a spare (below), unused.
unsafe impl Send for Arena {}

/// Arenas of dropped memories, emptied, for the next checker: mapping a shared arena, faulting
/// in its page tables and unmapping it are most of what a fresh checker costs (tests and fuzz
/// harnesses make one per test or input). A process-wide static, so std's lock, not loom's.
#[cfg(not(miri))]
static SPARE_ARENAS: std::sync::Mutex<Vec<Arena>> = std::sync::Mutex::new(Vec::new());

/// Spare arenas kept at most (each is address space only, its pages freed).
#[cfg(not(miri))]
const SPARE_ARENAS_MAX: usize = 4;

impl Arena {
    #[cfg(not(miri))]
    pub(super) fn reserve(len: usize) -> Arena {
        let spare = {
            let mut spares = SPARE_ARENAS.lock().unwrap_or_else(|e| e.into_inner());
            spares
                .iter()
                .position(|a| a.len == len)
                .map(|i| spares.swap_remove(i))
        };
        if let Some(arena) = spare {
            return arena;
        }
        // SAFETY: a fresh anonymous mapping, aliasing nothing; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert!(
            ptr != libc::MAP_FAILED,
            "cannot reserve {len} bytes of simulated memory"
        );
        Arena {
            base: NonNull::new(ptr.cast()).expect("mmap returns non-null on success"),
            len,
            aliased: Default::default(),
            clean: false,
        }
    }

    #[cfg(miri)]
    pub(super) fn reserve(len: usize) -> Arena {
        let layout = Layout::from_size_align(len + PAGE_SIZE, 16).expect("arena layout");
        // SAFETY: the layout has a non-zero size.
        let raw = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })
            .unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        let base = NonNull::new(
            raw.as_ptr()
                .wrapping_add(raw.as_ptr().align_offset(PAGE_SIZE)),
        )
        .expect("inside the allocation");
        Arena {
            base,
            raw: (raw, layout),
            len,
            aliased: Default::default(),
            clean: false,
        }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        #[cfg(not(miri))]
        if self.clean && !self.aliased.load(std::sync::atomic::Ordering::Acquire) {
            let mut spares = SPARE_ARENAS.lock().unwrap_or_else(|e| e.into_inner());
            if spares.len() < SPARE_ARENAS_MAX {
                spares.push(Arena {
                    base: self.base,
                    len: self.len,
                    aliased: Default::default(),
                    clean: false,
                });
                return;
            }
        }
        #[cfg(not(miri))]
        // SAFETY: `base..base + len` is the mapping made by `reserve`, unmapped only here.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
        #[cfg(miri)]
        // SAFETY: `raw` came from `alloc_zeroed` with this very layout and is freed only here.
        unsafe {
            std::alloc::dealloc(self.raw.0.as_ptr(), self.raw.1)
        };
    }
}

/// A second CPU mapping of some simulated memory (as `remap_pfn_range` makes for user space):
/// writes through either address are seen through the other. Unmapped when dropped.
pub(crate) struct Alias {
    pub(super) ptr: NonNull<u8>,
    pub(super) len: usize,
}

// SAFETY: an `Alias` owns its mapping; the bytes are shared memory like the arena's.
unsafe impl Send for Alias {}
// SAFETY: as above; `Alias` has no interior state.
unsafe impl Sync for Alias {}

impl Alias {
    /// The second mapping's first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty (never: aliases are at least a page).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Alias {
    fn drop(&mut self) {
        // SAFETY: `ptr..ptr + len` is the mapping `PhysMemory::alias` made, unmapped only here.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
