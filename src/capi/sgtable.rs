//! `struct sg_table` (`<linux/scatterlist.h>`) and the sgtable calls of
//! `<linux/dma-mapping.h>`: tables whose entries dmacheck allocates, and the map, unmap and
//! syncs over `sgt->sgl` with `sgt->orig_nents`, as the kernel's inline helpers do.

use std::collections::BTreeMap;
use std::ffi::{c_int, c_uint, c_ulong, c_void};

use super::device::{CDevice, device};
use super::sg::{
    CScatterlist, SG_CHAIN, dma_map_sg_attrs, dma_sync_sg_for_cpu, dma_sync_sg_for_device,
    dma_unmap_sg_attrs, sg_init_table,
};
use super::{CPage, attrs, checker, ffi, gfp, page_of, page_ptr};
use crate::sync::process::Mutex;
use crate::{DmaAddr, PAGE_SIZE};

/// A C `struct sg_table`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CSgTable {
    /// The first entry.
    pub sgl: *mut CScatterlist,
    /// DMA segments after `dma_map_sgtable`.
    pub nents: c_uint,
    /// CPU-side entries.
    pub orig_nents: c_uint,
}

/// The lists `sg_alloc_table*` made, by the address of their first entry: the arrays they are
/// chained from, as (address, length).
static TABLES: Mutex<BTreeMap<usize, Vec<(usize, usize)>>> = Mutex::new(BTreeMap::new());

/// Entries in one array, as the kernel allocates them (`SG_MAX_SINGLE_ALLOC`: a page of
/// entries); longer lists are arrays chained through their last entry.
const SG_MAX_SINGLE_ALLOC: usize = PAGE_SIZE / std::mem::size_of::<CScatterlist>();

const EINVAL: c_int = 22;
const EIO: c_int = 5;

/// A list of `n` cleared entries, the last marked as the end, registered for `sg_free_table`:
/// arrays of at most `SG_MAX_SINGLE_ALLOC` entries chained as `__sg_alloc_table` chains them
/// (each full array gives its last entry to the link), so a driver that indexes past the first
/// array instead of following `sg_next` meets a chain link, as in the kernel. Returns the first
/// entry and the `n` entries in list order.
fn alloc_entries(n: usize) -> (*mut CScatterlist, Vec<*mut CScatterlist>) {
    let mut arrays: Vec<(usize, usize)> = Vec::new();
    let mut entries = Vec::with_capacity(n);
    let mut left = n;
    let mut previous: Option<(*mut CScatterlist, usize)> = None;
    while left > 0 {
        let (len, used) = if left > SG_MAX_SINGLE_ALLOC {
            (SG_MAX_SINGLE_ALLOC, SG_MAX_SINGLE_ALLOC - 1)
        } else {
            (left, left)
        };
        let array: Box<[CScatterlist]> = vec![CScatterlist::default(); len].into_boxed_slice();
        let array = Box::into_raw(array).cast::<CScatterlist>();
        // SAFETY: `array` holds `len` entries; `sg_init_table` marks the last as the end and
        // forgets any list dmacheck knew at these addresses (a freed table's memory reused).
        unsafe { sg_init_table(array, len as c_uint) };
        if let Some((prev, prev_len)) = previous {
            // SAFETY: `prev` holds `prev_len` entries, the last of which becomes the link.
            unsafe {
                prev.add(prev_len - 1).write(CScatterlist {
                    page_link: array.addr() as c_ulong | SG_CHAIN,
                    ..CScatterlist::default()
                })
            };
        }
        // SAFETY: `used <= len`.
        entries.extend((0..used).map(|i| unsafe { array.add(i) }));
        arrays.push((array.expose_provenance(), len));
        previous = Some((array, len));
        left -= used;
    }
    let first = arrays.first().map_or(0, |&(at, _)| at);
    TABLES.lock().insert(first, arrays);
    (std::ptr::with_exposed_provenance_mut(first), entries)
}

/// `sg_alloc_table`: `nents` cleared entries.
#[unsafe(no_mangle)]
unsafe extern "C" fn sg_alloc_table(sgt: *mut CSgTable, nents: c_uint, _gfp: c_uint) -> c_int {
    ffi("sg_alloc_table", || {
        if sgt.is_null() || nents == 0 {
            return -EINVAL;
        }
        let (sgl, _) = alloc_entries(nents as usize);
        // SAFETY: the C contract: `sgt` is a writable `struct sg_table`.
        unsafe {
            sgt.write(CSgTable {
                sgl,
                nents,
                orig_nents: nents,
            })
        };
        0
    })
}

/// `sg_free_table`: free the entries `sg_alloc_table*` made, and clear the table.
#[unsafe(no_mangle)]
unsafe extern "C" fn sg_free_table(sgt: *mut CSgTable) {
    ffi("sg_free_table", || {
        if sgt.is_null() {
            return;
        }
        // SAFETY: the C contract: `sgt` is a `struct sg_table`.
        let sgl = unsafe { (*sgt).sgl };
        for (at, len) in TABLES.lock().remove(&sgl.addr()).unwrap_or_default() {
            let array = std::ptr::with_exposed_provenance_mut::<CScatterlist>(at);
            // SAFETY: an array of `len` entries `alloc_entries` made and no one freed.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(array, len)) });
        }
        // SAFETY: as above.
        unsafe {
            sgt.write(CSgTable {
                sgl: std::ptr::null_mut(),
                nents: 0,
                orig_nents: 0,
            })
        };
    })
}

/// `sg_alloc_table_from_pages_segment`: entries over runs of consecutive pages.
#[unsafe(no_mangle)]
unsafe extern "C" fn sg_alloc_table_from_pages_segment(
    sgt: *mut CSgTable,
    pages: *const *const CPage,
    n_pages: c_uint,
    offset: c_uint,
    size: c_ulong,
    max_segment: c_uint,
    _gfp: c_uint,
) -> c_int {
    ffi("sg_alloc_table_from_pages_segment", || {
        if sgt.is_null() || pages.is_null() || n_pages == 0 {
            return -EINVAL;
        }
        // SAFETY: the C contract: `pages` holds `n_pages` page pointers.
        let given = unsafe { std::slice::from_raw_parts(pages, n_pages as usize) };
        let Some(pages) = given
            .iter()
            .map(|&p| page_of(p))
            .collect::<Option<Vec<_>>>()
        else {
            return -EINVAL;
        };
        let table = match crate::sg_alloc_table_from_pages_segment(
            &pages,
            offset as usize,
            usize::try_from(size).unwrap_or(usize::MAX),
            max_segment as usize,
        ) {
            Ok(table) => table,
            Err(e) => return e,
        };
        // SAFETY: the C contract: `sgt` is a writable `struct sg_table`.
        unsafe { give_table(sgt, &table) };
        0
    })
}

/// Write a Rust table into C entries `alloc_entries` makes, and describe them in `*sgt`.
///
/// # Safety
/// `sgt` is a writable `struct sg_table`.
unsafe fn give_table(sgt: *mut CSgTable, table: &crate::SgTable) {
    let n = table.len();
    let (sgl, entries) = alloc_entries(n);
    for (e, &at) in table.entries().iter().zip(&entries) {
        let page = e.page().map_or(0, |p| page_ptr(p).addr() as c_ulong);
        // SAFETY: `at` is an entry `alloc_entries` just made.
        let entry = unsafe { &mut *at };
        entry.page_link |= page;
        (entry.offset, entry.length) = (e.offset() as c_uint, e.length() as c_uint);
    }
    // SAFETY: the caller's contract.
    unsafe {
        sgt.write(CSgTable {
            sgl,
            nents: n as c_uint,
            orig_nents: n as c_uint,
        })
    };
}

/// `sg_alloc_table_from_pages`: no segment limit beyond `UINT_MAX`.
#[unsafe(no_mangle)]
unsafe extern "C" fn sg_alloc_table_from_pages(
    sgt: *mut CSgTable,
    pages: *const *const CPage,
    n_pages: c_uint,
    offset: c_uint,
    size: c_ulong,
    gfp: c_uint,
) -> c_int {
    // SAFETY: the same contract.
    unsafe {
        sg_alloc_table_from_pages_segment(sgt, pages, n_pages, offset, size, c_uint::MAX, gfp)
    }
}

/// The table's list and `orig_nents`; a NULL table is a NULL list (refused and reported by
/// the sg call).
fn list_of(sgt: *const CSgTable) -> (*mut CScatterlist, c_int) {
    if sgt.is_null() {
        return (std::ptr::null_mut(), 1);
    }
    // SAFETY: the C contract: `sgt` is a `struct sg_table`.
    let t = unsafe { sgt.read() };
    (t.sgl, c_int::try_from(t.orig_nents).unwrap_or(c_int::MAX))
}

/// `dma_map_sgtable`: map `orig_nents` entries, store the segment count in `nents`.
#[unsafe(no_mangle)]
unsafe extern "C" fn dma_map_sgtable(
    dev: *mut CDevice,
    sgt: *mut CSgTable,
    dir: c_int,
    attrs: c_ulong,
) -> c_int {
    let (sgl, orig_nents) = list_of(sgt);
    // SAFETY: the same contract as dma_map_sg_attrs.
    let count = unsafe { dma_map_sg_attrs(dev, sgl, orig_nents, dir, attrs) };
    let valid = u32::try_from(dir).ok().and_then(crate::Direction::from_raw);
    if sgt.is_null() || valid.is_none_or(|d| d == crate::Direction::None) {
        return -EINVAL;
    }
    if count <= 0 {
        return -EIO;
    }
    // SAFETY: the C contract: `sgt` is a writable `struct sg_table`.
    unsafe { (*sgt).nents = count as c_uint };
    0
}

/// `dma_unmap_sgtable`: unmap with `orig_nents`.
#[unsafe(no_mangle)]
unsafe extern "C" fn dma_unmap_sgtable(
    dev: *mut CDevice,
    sgt: *mut CSgTable,
    dir: c_int,
    attrs: c_ulong,
) {
    let (sgl, orig_nents) = list_of(sgt);
    // SAFETY: the same contract as dma_unmap_sg_attrs.
    unsafe { dma_unmap_sg_attrs(dev, sgl, orig_nents, dir, attrs) };
}

/// `dma_sync_sgtable_for_cpu`.
#[unsafe(no_mangle)]
unsafe extern "C" fn dma_sync_sgtable_for_cpu(dev: *mut CDevice, sgt: *mut CSgTable, dir: c_int) {
    let (sgl, orig_nents) = list_of(sgt);
    // SAFETY: the same contract as dma_sync_sg_for_cpu.
    unsafe { dma_sync_sg_for_cpu(dev, sgl, orig_nents, dir) };
}

/// `dma_sync_sgtable_for_device`.
#[unsafe(no_mangle)]
unsafe extern "C" fn dma_sync_sgtable_for_device(
    dev: *mut CDevice,
    sgt: *mut CSgTable,
    dir: c_int,
) {
    let (sgl, orig_nents) = list_of(sgt);
    // SAFETY: the same contract as dma_sync_sg_for_device.
    unsafe { dma_sync_sg_for_device(dev, sgl, orig_nents, dir) };
}

/// `dma_get_sgtable_attrs`: a table describing a coherent buffer's pages.
#[unsafe(no_mangle)]
unsafe extern "C" fn dma_get_sgtable_attrs(
    dev: *mut CDevice,
    sgt: *mut CSgTable,
    cpu_addr: *mut c_void,
    dma_addr: DmaAddr,
    size: usize,
    a: c_ulong,
) -> c_int {
    ffi("dma_get_sgtable", || {
        if sgt.is_null() {
            return -EINVAL;
        }
        let dev = device(dev);
        match crate::dma_get_sgtable_attrs(&dev, cpu_addr.cast(), dma_addr, size, attrs(a)) {
            Ok(table) => {
                // SAFETY: the C contract: `sgt` is a writable `struct sg_table`.
                unsafe { give_table(sgt, &table) };
                0
            }
            Err(e) => e,
        }
    })
}

/// `dma_get_sgtable`.
#[unsafe(no_mangle)]
unsafe extern "C" fn dma_get_sgtable(
    dev: *mut CDevice,
    sgt: *mut CSgTable,
    cpu_addr: *mut c_void,
    dma_addr: DmaAddr,
    size: usize,
) -> c_int {
    // SAFETY: the same contract.
    unsafe { dma_get_sgtable_attrs(dev, sgt, cpu_addr, dma_addr, size, 0) }
}

/// The pages of the tables `dma_alloc_noncontiguous` made, by the table's address: the first
/// page and the order of the block.
static NONCONTIGUOUS: Mutex<BTreeMap<usize, (crate::Page, u32)>> = Mutex::new(BTreeMap::new());

/// `dma_alloc_noncontiguous`: a mapped one-entry table over a block of pages (see the Rust
/// API's `dma_alloc_noncontiguous`), registered like any mapped C list.
#[unsafe(no_mangle)]
unsafe extern "C" fn dma_alloc_noncontiguous(
    dev: *mut CDevice,
    size: usize,
    dir: c_int,
    flags: c_uint,
    a: c_ulong,
) -> *mut CSgTable {
    ffi("dma_alloc_noncontiguous", || {
        let order = size
            .max(1)
            .div_ceil(PAGE_SIZE)
            .next_power_of_two()
            .trailing_zeros();
        let Some(page) = crate::alloc_pages(checker(), gfp(flags), order) else {
            return std::ptr::null_mut();
        };
        let sgt = Box::into_raw(Box::new(CSgTable {
            sgl: alloc_entries(1).0,
            nents: 1,
            orig_nents: 1,
        }));
        // SAFETY: `sgt` and its one entry were just made.
        unsafe {
            let entry = &mut *(*sgt).sgl;
            entry.page_link |= page_ptr(page).addr() as c_ulong;
            entry.length = c_uint::try_from(size).unwrap_or(c_uint::MAX);
        }
        // SAFETY: `sgt` is a table this function made.
        if unsafe { dma_map_sgtable(dev, sgt, dir, a) } != 0 {
            // SAFETY: as above; the table is not mapped.
            unsafe {
                sg_free_table(sgt);
                drop(Box::from_raw(sgt));
            }
            crate::free_pages(checker(), page, order);
            return std::ptr::null_mut();
        }
        NONCONTIGUOUS.lock().insert(sgt.addr(), (page, order));
        sgt
    })
}

/// `dma_free_noncontiguous`: unmap, free the pages and the table. A table no
/// `dma_alloc_noncontiguous` made is reported as an unknown unmap, and not touched.
#[unsafe(no_mangle)]
unsafe extern "C" fn dma_free_noncontiguous(
    dev: *mut CDevice,
    _size: usize,
    sgt: *mut CSgTable,
    dir: c_int,
) {
    ffi("dma_free_noncontiguous", || {
        let Some((page, order)) = NONCONTIGUOUS.lock().remove(&sgt.addr()) else {
            // SAFETY: a NULL list is never read.
            unsafe { dma_unmap_sg_attrs(dev, std::ptr::null_mut(), 1, dir, 0) };
            return;
        };
        // SAFETY: `sgt` is a table `dma_alloc_noncontiguous` made and no one freed.
        unsafe {
            dma_unmap_sgtable(dev, sgt, dir, 0);
            sg_free_table(sgt);
            drop(Box::from_raw(sgt));
        }
        crate::free_pages(checker(), page, order);
    })
}

/// `dma_vmap_noncontiguous`: the CPU address of the table's pages; NULL for a table no
/// `dma_alloc_noncontiguous` made.
#[unsafe(no_mangle)]
unsafe extern "C" fn dma_vmap_noncontiguous(
    _dev: *mut CDevice,
    _size: usize,
    sgt: *mut CSgTable,
) -> *mut c_void {
    ffi("dma_vmap_noncontiguous", || {
        NONCONTIGUOUS
            .lock()
            .get(&sgt.addr())
            .map_or(std::ptr::null_mut(), |(page, _)| page.address().cast())
    })
}

/// `dma_vunmap_noncontiguous`: nothing was mapped a second time.
#[unsafe(no_mangle)]
extern "C" fn dma_vunmap_noncontiguous(_dev: *mut CDevice, _vaddr: *mut c_void) {}
