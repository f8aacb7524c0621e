//! Where a CPU address that is not DMA-able memory comes from: the calling thread's stack, the
//! program's code or read-only data, or the `vmalloc` analog — the user-space counterparts of
//! the kernel's stack, text/rodata and vmalloc checks. Used only on the error path of a map, so
//! it may take its time (it asks the dynamic loader and the thread library).

use std::alloc::Layout;
use std::collections::BTreeMap;
use std::ptr::NonNull;

use crate::sync::Mutex;
use crate::types::PAGE_SIZE;

/// Where non-DMA memory comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The calling thread's stack.
    Stack,
    /// Code or read-only data of the program or a library it loaded.
    ReadOnly,
    /// [`vmalloc`](crate::vmalloc) memory: virtually contiguous only.
    Vmalloc,
    /// Anything else (the Rust heap, a file mapping, garbage).
    Unknown,
}

/// Classify a buffer by where it starts (a garbage length must not make a heap buffer look
/// like the stack).
pub(crate) fn classify(vmalloc: &VmallocArea, addr: u64) -> Origin {
    let within = |&(lo, hi): &(u64, u64)| (lo..hi).contains(&addr);
    if vmalloc.contains(addr) {
        Origin::Vmalloc
    } else if current_stack().as_ref().is_some_and(within) {
        Origin::Stack
    } else if read_only_segments().iter().any(within) {
        Origin::ReadOnly
    } else {
        Origin::Unknown
    }
}

/// The bounds of the calling thread's stack.
#[cfg(all(target_os = "linux", not(miri)))]
fn current_stack() -> Option<(u64, u64)> {
    thread_local! {
        static BOUNDS: Option<(u64, u64)> = stack_bounds();
    }
    BOUNDS.with(|b| *b)
}

#[cfg(all(target_os = "linux", not(miri)))]
fn stack_bounds() -> Option<(u64, u64)> {
    let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    let mut base: *mut libc::c_void = std::ptr::null_mut();
    let mut size: libc::size_t = 0;
    // SAFETY: `pthread_getattr_np` initializes `attr` for the calling thread when it returns 0;
    // only then is it read by `pthread_attr_getstack` and destroyed, exactly once.
    unsafe {
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return None;
        }
        let rc = libc::pthread_attr_getstack(attr.as_ptr(), &mut base, &mut size);
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        if rc != 0 {
            return None;
        }
    }
    let lo = base as u64;
    Some((lo, lo + size as u64))
}

#[cfg(not(all(target_os = "linux", not(miri))))]
fn current_stack() -> Option<(u64, u64)> {
    None
}

/// The address ranges of loaded segments that are not writable (code and read-only data).
#[cfg(all(target_os = "linux", not(miri)))]
fn read_only_segments() -> Vec<(u64, u64)> {
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid `info` for the duration of the call, whose
        // `dlpi_phdr` points to `dlpi_phnum` program headers; `data` is the `Vec` passed below.
        unsafe {
            let info = &*info;
            let out = &mut *data.cast::<Vec<(u64, u64)>>();
            for i in 0..usize::from(info.dlpi_phnum) {
                let ph = &*info.dlpi_phdr.add(i);
                if ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_W == 0 {
                    let lo = info.dlpi_addr + ph.p_vaddr;
                    out.push((lo, lo + ph.p_memsz));
                }
            }
        }
        0
    }
    let mut segments: Vec<(u64, u64)> = Vec::new();
    // SAFETY: `visit` only reads what the loader hands it and appends to `segments`, which
    // outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&raw mut segments).cast()) };
    segments
}

#[cfg(not(all(target_os = "linux", not(miri))))]
fn read_only_segments() -> Vec<(u64, u64)> {
    Vec::new()
}

/// The `vmalloc` analog of one checker: page-aligned blocks from the process heap, which no
/// device can reach (the checker refuses to map them).
#[derive(Default)]
pub(crate) struct VmallocArea {
    blocks: Mutex<BTreeMap<u64, Block>>,
}

/// A live block: its pointer (kept for freeing) and layout.
struct Block {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: a `Block` owns its heap allocation outright; the pointer is only used to free it, by
// whichever thread holds the area's lock.
unsafe impl Send for Block {}

impl VmallocArea {
    /// Allocate `size` bytes (zeroed with `zero`); `None` for 0 bytes or no memory.
    pub fn alloc(&self, size: usize, zero: bool) -> Option<NonNull<u8>> {
        let layout = Layout::from_size_align(size, PAGE_SIZE)
            .ok()
            .filter(|_| size > 0)?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe {
            if zero {
                std::alloc::alloc_zeroed(layout)
            } else {
                std::alloc::alloc(layout)
            }
        };
        let ptr = NonNull::new(ptr)?;
        self.blocks
            .lock()
            .insert(ptr.as_ptr().addr() as u64, Block { ptr, layout });
        Some(ptr)
    }

    /// Free a block from [`VmallocArea::alloc`]; `false` if `ptr` is not the start of one.
    pub fn free(&self, ptr: *mut u8) -> bool {
        let Some(block) = self.blocks.lock().remove(&(ptr.addr() as u64)) else {
            return false;
        };
        // SAFETY: the block was allocated by `alloc` with this layout and was still live (it
        // was in `blocks`, from which it is now removed, so it is freed once).
        unsafe { std::alloc::dealloc(block.ptr.as_ptr(), block.layout) };
        true
    }

    /// Whether `addr` lies inside a live block.
    pub fn contains(&self, addr: u64) -> bool {
        let blocks = self.blocks.lock();
        blocks
            .range(..=addr)
            .next_back()
            .is_some_and(|(&start, block)| addr < start + block.layout.size() as u64)
    }
}

impl Drop for VmallocArea {
    fn drop(&mut self) {
        for block in std::mem::take(&mut *self.blocks.lock()).into_values() {
            // SAFETY: every block in the map is live and was allocated with its layout.
            unsafe { std::alloc::dealloc(block.ptr.as_ptr(), block.layout) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static TABLE: [u8; 64] = [7; 64];

    #[test]
    fn stack_rodata_vmalloc_and_heap_are_told_apart() {
        let area = VmallocArea::default();
        let local = [0u8; 32];
        let v = area.alloc(100, true).unwrap();
        let heap = Box::new([0u8; 32]);
        let addr = |p: *const u8| p.addr() as u64;
        if cfg!(all(target_os = "linux", not(miri))) {
            assert_eq!(classify(&area, addr(local.as_ptr())), Origin::Stack);
            assert_eq!(classify(&area, addr(TABLE.as_ptr())), Origin::ReadOnly);
            assert_eq!(
                classify(&area, addr(classify as *const u8)),
                Origin::ReadOnly
            );
        }
        assert_eq!(classify(&area, addr(v.as_ptr()) + 50), Origin::Vmalloc);
        assert_eq!(classify(&area, addr(heap.as_ptr())), Origin::Unknown);
        assert!(area.free(v.as_ptr()));
        assert!(!area.free(v.as_ptr()), "a second free is refused");
        assert_eq!(classify(&area, addr(v.as_ptr())), Origin::Unknown);
    }
}
