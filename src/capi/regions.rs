//! Declared coherent memory (`dma_declare_coherent_memory`), the Contiguous Memory Allocator
//! (`dma_alloc_from_contiguous`) and user mappings (`dma_mmap_coherent`, `remap_pfn_range`),
//! with the physical-address helpers they need (`virt_to_phys`, `phys_to_virt`).

use std::collections::BTreeMap;
use std::ffi::{c_int, c_uint, c_ulong, c_void};

use super::device::{CDevice, registered};
use super::{CPage, checker, ffi, page_of, page_ptr};
use crate::sync::process::{Mutex, OnceLock};
use crate::{DmaAddr, PAGE_SIZE, PhysAddr, UserMapping};

/// `-EINVAL`.
const EINVAL: c_int = 22;

// ---------------------------------------------------------------------------------------------
// Declared coherent memory

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_declare_coherent_memory(
    dev: *mut CDevice,
    bus_addr: PhysAddr,
    device_addr: DmaAddr,
    size: usize,
    flags: c_int,
) -> c_int {
    ffi("dma_declare_coherent_memory", || {
        registered(dev).map_or(0, |dev| {
            crate::dma_declare_coherent_memory(&dev, bus_addr, device_addr, size, flags)
        })
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_release_declared_memory(dev: *mut CDevice) {
    ffi("dma_release_declared_memory", || {
        if let Some(dev) = registered(dev) {
            crate::dma_release_declared_memory(&dev);
        }
    })
}

/// The CPU address of the occupied part, or `ERR_PTR(-EINVAL)` / `ERR_PTR(-EBUSY)`.
#[unsafe(no_mangle)]
unsafe extern "C" fn dma_mark_declared_memory_occupied(
    dev: *mut CDevice,
    device_addr: DmaAddr,
    size: usize,
) -> *mut c_void {
    ffi("dma_mark_declared_memory_occupied", || {
        let result = registered(dev).map_or(Err(-EINVAL), |dev| {
            crate::dma_mark_declared_memory_occupied(&dev, device_addr, size)
        });
        match result {
            Ok(cpu) => cpu.cast(),
            // ERR_PTR(errno): the negative errno as a pointer.
            Err(errno) => std::ptr::without_provenance_mut(errno as isize as usize),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// CMA

/// The default area `dma_contiguous_reserve` declares: the kernel's default of 16 MiB.
const RESERVE_PAGES: u64 = (16 << 20) / PAGE_SIZE as u64;

#[unsafe(no_mangle)]
extern "C" fn dma_contiguous_reserve(_limit: PhysAddr) {
    static RESERVED: OnceLock<()> = OnceLock::new();
    ffi("dma_contiguous_reserve", || {
        RESERVED.get_or_init(|| {
            checker().declare_cma(RESERVE_PAGES);
        });
    })
}

/// `dma_declare_contiguous`: an area of the device's own, or (NULL) a system area, the default
/// one if it is the first.
#[unsafe(no_mangle)]
unsafe extern "C" fn dma_declare_contiguous(
    dev: *mut CDevice,
    size: c_ulong,
    base: PhysAddr,
    limit: PhysAddr,
) -> c_int {
    ffi("dma_declare_contiguous", || {
        if dev.is_null() {
            return crate::dma_declare_contiguous(checker(), None, size, base, limit);
        }
        match registered(dev) {
            Some(dev) => crate::dma_declare_contiguous(checker(), Some(&dev), size, base, limit),
            None => -EINVAL,
        }
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_alloc_from_contiguous(
    dev: *mut CDevice,
    count: c_int,
    align: c_uint,
) -> *mut CPage {
    ffi("dma_alloc_from_contiguous", || {
        let (Some(dev), Ok(count)) = (registered(dev), usize::try_from(count)) else {
            return std::ptr::null_mut();
        };
        crate::dma_alloc_from_contiguous(&dev, count, align).map_or(std::ptr::null_mut(), page_ptr)
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_release_from_contiguous(
    dev: *mut CDevice,
    pages: *mut CPage,
    count: c_int,
) -> c_int {
    ffi("dma_release_from_contiguous", || {
        let (Some(dev), Some(pages)) = (registered(dev), page_of(pages)) else {
            return 0;
        };
        let count = usize::try_from(count).unwrap_or(0);
        c_int::from(crate::dma_release_from_contiguous(&dev, pages, count))
    })
}

// ---------------------------------------------------------------------------------------------
// User mappings

/// A C `struct vm_area_struct` (`<linux/mm_types.h>`): the user mapping a driver's `mmap`
/// method fills.
#[repr(C)]
#[derive(Debug)]
pub struct CVmArea {
    /// The first user address: set by dmacheck when it maps the pages.
    pub vm_start: c_ulong,
    /// One past the last user address.
    pub vm_end: c_ulong,
    /// The offset into the buffer, in pages.
    pub vm_pgoff: c_ulong,
    /// The protection of the mapping: unused.
    pub vm_page_prot: CPgProt,
    /// `VM_*` flags: unused.
    pub vm_flags: c_ulong,
    /// Free for the driver.
    pub vm_private_data: *mut c_void,
}

/// A C `pgprot_t`: unused.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CPgProt {
    /// The protection bits.
    pub pgprot: c_ulong,
}

/// The user mappings dmacheck made, by the address of their `vm_area_struct`.
static MAPPINGS: Mutex<BTreeMap<usize, UserMapping>> = Mutex::new(BTreeMap::new());

/// Record a new user mapping in `vma`: where it is, and keep it until `dmacheck_munmap`.
///
/// # Safety
/// `vma` points to a writable `vm_area_struct`.
unsafe fn mapped(vma: *mut CVmArea, mapping: UserMapping) {
    // SAFETY: writable (the caller's contract).
    unsafe {
        (*vma).vm_start = mapping.as_ptr().expose_provenance() as c_ulong;
        (*vma).vm_end = (*vma).vm_start + mapping.len() as c_ulong;
    }
    // A mapping already recorded in the same vma is replaced, which unmaps it.
    let old = MAPPINGS.lock().insert(vma.addr(), mapping);
    drop(old);
}

/// The length the vma asks for.
///
/// # Safety
/// `vma` points to a readable `vm_area_struct`.
unsafe fn vma_len(vma: *const CVmArea) -> usize {
    // SAFETY: readable (the caller's contract).
    let (start, end) = unsafe { ((*vma).vm_start, (*vma).vm_end) };
    usize::try_from(end.saturating_sub(start)).unwrap_or(usize::MAX)
}

/// `dma_mmap_coherent`: map `vma->vm_end - vma->vm_start` bytes of a coherent buffer, from page
/// `vma->vm_pgoff`, into "user space"; on success `vma->vm_start` is where.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn dma_mmap_coherent(
    dev: *mut CDevice,
    vma: *mut CVmArea,
    cpu_addr: *mut c_void,
    dma_addr: DmaAddr,
    size: usize,
) -> c_int {
    ffi("dma_mmap_coherent", || {
        let Some(dev) = registered(dev).filter(|_| !vma.is_null()) else {
            return -EINVAL;
        };
        // SAFETY: the C contract: `vma` is a readable and writable vm_area_struct.
        let (len, pgoff) = unsafe { (vma_len(vma), (*vma).vm_pgoff as usize) };
        match crate::dma_mmap_coherent(&dev, cpu_addr.cast(), dma_addr, size, pgoff, len) {
            Ok(mapping) => {
                // SAFETY: as above.
                unsafe { mapped(vma, mapping) };
                0
            }
            Err(errno) => errno,
        }
    })
}

/// `remap_pfn_range`: map `size` bytes of page frames from `pfn` (which must lie in one live
/// coherent buffer) into "user space". dmacheck chooses the address: on success
/// `vma->vm_start` is where, and `addr` is not used.
#[unsafe(no_mangle)]
unsafe extern "C" fn remap_pfn_range(
    vma: *mut CVmArea,
    _addr: c_ulong,
    pfn: c_ulong,
    size: c_ulong,
    _prot: CPgProt,
) -> c_int {
    ffi("remap_pfn_range", || {
        if vma.is_null() {
            return -EINVAL;
        }
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        match crate::remap_pfn_range(checker(), pfn, size) {
            Ok(mapping) => {
                // SAFETY: the C contract: `vma` is a writable vm_area_struct.
                unsafe { mapped(vma, mapping) };
                0
            }
            Err(errno) => errno,
        }
    })
}

/// `dmacheck_munmap`: user space unmaps what `vma` maps.
#[unsafe(no_mangle)]
unsafe extern "C" fn dmacheck_munmap(vma: *mut CVmArea) {
    ffi("dmacheck_munmap", || {
        let mapping = MAPPINGS.lock().remove(&vma.addr());
        if mapping.is_some() {
            // SAFETY: it was mapped through `vma`, which the C contract keeps writable.
            unsafe { ((*vma).vm_start, (*vma).vm_end) = (0, 0) };
        }
        drop(mapping);
    })
}

// ---------------------------------------------------------------------------------------------
// Physical addresses

/// The physical address of DMA-able memory; 0 for anything else.
#[unsafe(no_mangle)]
extern "C" fn virt_to_phys(addr: *const c_void) -> PhysAddr {
    crate::virt_to_phys(checker(), addr.cast()).unwrap_or(0)
}

/// The CPU address of a physical address of DMA-able memory; NULL for anything else.
#[unsafe(no_mangle)]
extern "C" fn phys_to_virt(addr: PhysAddr) -> *mut c_void {
    checker()
        .memory()
        .cpu_of(addr, 1)
        .map_or(std::ptr::null_mut(), |p| p.as_ptr().cast())
}
