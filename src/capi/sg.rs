//! `<linux/scatterlist.h>` and the sg calls of `<linux/dma-mapping.h>`: C scatterlist arrays,
//! translated into [`SgTable`]s at `dma_map_sg` and kept, by the list's address, for the unmap,
//! the syncs and the checked `sg_dma_address`/`sg_dma_len`.

use std::cell::UnsafeCell;
use std::collections::BTreeMap;
use std::ffi::{c_int, c_uint, c_ulong, c_void};
use std::ptr::{addr_of, addr_of_mut};

use super::device::{CDevice, device};
use super::streaming::{Handover, older_sync};
use super::{attrs, direction, ffi, page_or_nowhere, page_ptr};
use crate::sync::process::Mutex;
use crate::{
    DMA_MAPPING_ERROR, Device, Direction, DmaAddr, DmaAttrs, PAGE_SIZE, Page, SgTable, for_each_sg,
    sg_dma_address, sg_dma_len, sg_set_page,
};

/// A C `struct scatterlist` (`<linux/scatterlist.h>`), laid out as the kernel's.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CScatterlist {
    /// The `struct page *` of the buffer, with `SG_CHAIN` (bit 0) and `SG_END` (bit 1); or, in
    /// a chain entry, the next array.
    pub page_link: c_ulong,
    /// The buffer's offset in its page.
    pub offset: c_uint,
    /// The buffer's length.
    pub length: c_uint,
    /// The DMA address of the segment a map stored here.
    pub dma_address: DmaAddr,
    /// The DMA length of that segment.
    pub dma_length: c_uint,
    /// Unused.
    pub dma_flags: c_uint,
}

const SG_CHAIN: c_ulong = 0x01;
const SG_END: c_ulong = 0x02;
const SG_LINK_MASK: c_ulong = SG_CHAIN | SG_END;

/// A mapped (or once mapped) C list: its table, and the addresses of its entries in list order.
struct SgList {
    table: SgTable,
    entries: Vec<usize>,
}

/// The C lists dmacheck knows, by the address of their first entry, and the entries of each,
/// by address: `(first entry, index)`.
struct Lists {
    by_first: BTreeMap<usize, SgList>,
    entries: BTreeMap<usize, (usize, usize)>,
}

static LISTS: Mutex<Lists> = Mutex::new(Lists {
    by_first: BTreeMap::new(),
    entries: BTreeMap::new(),
});

impl Lists {
    /// Forget the list starting at `first`.
    fn forget(&mut self, first: usize) {
        if let Some(list) = self.by_first.remove(&first) {
            for e in list.entries {
                if self.entries.get(&e).is_some_and(|&(k, _)| k == first) {
                    self.entries.remove(&e);
                }
            }
        }
    }

    /// Forget every list with an entry in `start..end`.
    fn forget_range(&mut self, start: usize, end: usize) {
        let lists: Vec<usize> = self
            .entries
            .range(start..end)
            .map(|(_, &(first, _))| first)
            .chain(self.by_first.range(start..end).map(|(&first, _)| first))
            .collect();
        for first in lists {
            self.forget(first);
        }
    }

    /// Remember `list` under `first`, replacing what was known of it and of its entries.
    fn insert(&mut self, first: usize, list: SgList) {
        self.forget(first);
        for (i, &e) in list.entries.iter().enumerate() {
            if let Some(&(other, _)) = self.entries.get(&e) {
                self.forget(other);
            }
            self.entries.insert(e, (first, i));
        }
        self.by_first.insert(first, list);
    }
}

/// The first `nents` entries of a C list, following chain links and stopping after `SG_END`.
///
/// # Safety
/// `first` is NULL or a list of at least `nents` entries (the kernel's contract), or one that
/// ends with `SG_END` sooner.
unsafe fn walk(first: *mut CScatterlist, nents: usize) -> Vec<*mut CScatterlist> {
    let mut out = Vec::new();
    let (mut sg, mut links) = (first, 0);
    while !sg.is_null() && out.len() < nents {
        // SAFETY: `sg` is an entry of the list (the caller's contract).
        let link = unsafe { addr_of!((*sg).page_link).read() };
        if link & SG_CHAIN != 0 {
            links += 1;
            if links > nents {
                break; // a cycle of chain links
            }
            sg = std::ptr::with_exposed_provenance_mut((link & !SG_LINK_MASK) as usize);
            continue;
        }
        out.push(sg);
        if link & SG_END != 0 {
            break;
        }
        sg = sg.wrapping_add(1);
    }
    out
}

/// The CPU side of C entries, as a table.
///
/// # Safety
/// The entries are readable.
unsafe fn table_of(entries: &[*mut CScatterlist]) -> SgTable {
    let mut table = SgTable::new(entries.len());
    for (i, &e) in entries.iter().enumerate() {
        // SAFETY: readable (the caller's contract).
        let c = unsafe { e.read() };
        let page = c.page_link & !SG_LINK_MASK;
        if page != 0 {
            let page = page_or_nowhere(std::ptr::without_provenance(page as usize));
            sg_set_page(&mut table, i, page, c.length as usize, c.offset as usize);
        }
    }
    table
}

/// Write the segments of a map into the C entries: the first `count` carry them, the others are
/// cleared, as the kernel's map does.
///
/// # Safety
/// The entries are writable.
unsafe fn write_back(table: &SgTable, entries: &[*mut CScatterlist], count: usize) {
    let segments: Vec<(DmaAddr, usize)> = for_each_sg(table, count)
        .map(|sg| (sg_dma_address(&sg), sg_dma_len(&sg)))
        .collect();
    for (i, &e) in entries.iter().enumerate() {
        let (addr, len) = segments.get(i).copied().unwrap_or((0, 0));
        // SAFETY: writable (the caller's contract).
        unsafe {
            addr_of_mut!((*e).dma_address).write(addr);
            addr_of_mut!((*e).dma_length).write(c_uint::try_from(len).unwrap_or(c_uint::MAX));
        }
    }
}

fn count_for_c(count: usize) -> c_int {
    c_int::try_from(count).unwrap_or(c_int::MAX)
}

fn map_sg(
    dev: &Device,
    sgl: *mut CScatterlist,
    nents: c_int,
    dir: Direction,
    attrs: DmaAttrs,
) -> c_int {
    let n = usize::try_from(nents).unwrap_or(0);
    let first = sgl.addr();
    let mut lists = LISTS.lock();
    if let Some(list) = lists.by_first.get_mut(&first) {
        if list.table.mapping().is_some() {
            // Mapped already: the Rust API reports the second map and refuses it.
            return count_for_c(crate::dma_map_sg_attrs(dev, &mut list.table, n, dir, attrs));
        }
    }
    // SAFETY: the C contract of dma_map_sg: `sgl` is a list of `nents` entries.
    let entries = unsafe { walk(sgl, n) };
    // SAFETY: as above.
    let mut table = unsafe { table_of(&entries) };
    let count = crate::dma_map_sg_attrs(dev, &mut table, n, dir, attrs);
    if count > 0 {
        // SAFETY: as above.
        unsafe { write_back(&table, &entries, count) };
    }
    if first != 0 {
        let entries = entries.iter().map(|e| e.addr()).collect();
        lists.insert(first, SgList { table, entries });
    }
    count_for_c(count)
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_map_sg(
    dev: *mut CDevice,
    sgl: *mut CScatterlist,
    nents: c_int,
    dir: c_int,
) -> c_int {
    // SAFETY: the same contract.
    unsafe { dma_map_sg_attrs(dev, sgl, nents, dir, 0) }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_map_sg_attrs(
    dev: *mut CDevice,
    sgl: *mut CScatterlist,
    nents: c_int,
    dir: c_int,
    a: c_ulong,
) -> c_int {
    ffi("dma_map_sg", || {
        map_sg(&device(dev), sgl, nents, direction(dir), attrs(a))
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_unmap_sg(
    dev: *mut CDevice,
    sgl: *mut CScatterlist,
    nents: c_int,
    dir: c_int,
) {
    // SAFETY: the same contract.
    unsafe { dma_unmap_sg_attrs(dev, sgl, nents, dir, 0) }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_unmap_sg_attrs(
    dev: *mut CDevice,
    sgl: *mut CScatterlist,
    nents: c_int,
    dir: c_int,
    a: c_ulong,
) {
    ffi("dma_unmap_sg", || {
        let dev = device(dev);
        let (n, dir, a) = (
            usize::try_from(nents).unwrap_or(0),
            direction(dir),
            attrs(a),
        );
        let mut lists = LISTS.lock();
        match lists.by_first.get_mut(&sgl.addr()) {
            Some(list) => crate::dma_unmap_sg_attrs(&dev, &mut list.table, n, dir, a),
            // Never mapped: the Rust API reports an unknown list.
            None => crate::dma_unmap_sg_attrs(&dev, &mut SgTable::new(0), n, dir, a),
        }
    })
}

/// Sync a C list, or, when `older` is set, do what the older `dma_sync_sg` means for it.
fn sync_sg(dev: *mut CDevice, sgl: *mut CScatterlist, nelems: c_int, dir: c_int, to: Handover) {
    let dev = device(dev);
    let (n, dir) = (usize::try_from(nelems).unwrap_or(0), direction(dir));
    let lists = LISTS.lock();
    let unknown = SgTable::new(0);
    let table = lists
        .by_first
        .get(&sgl.addr())
        .map_or(&unknown, |l| &l.table);
    match to {
        Handover::ToCpu => crate::dma_sync_sg_for_cpu(&dev, table, n, dir),
        Handover::ToDevice => crate::dma_sync_sg_for_device(&dev, table, n, dir),
    }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_sync_sg_for_cpu(
    dev: *mut CDevice,
    sgl: *mut CScatterlist,
    nelems: c_int,
    dir: c_int,
) {
    ffi("dma_sync_sg_for_cpu", || {
        sync_sg(dev, sgl, nelems, dir, Handover::ToCpu);
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn dma_sync_sg_for_device(
    dev: *mut CDevice,
    sgl: *mut CScatterlist,
    nelems: c_int,
    dir: c_int,
) {
    ffi("dma_sync_sg_for_device", || {
        sync_sg(dev, sgl, nelems, dir, Handover::ToDevice);
    })
}

/// The older `dma_sync_sg`: the hand-over its direction means, judged by the list's first
/// segment (see `<linux/dma-mapping.h>`).
#[unsafe(no_mangle)]
unsafe extern "C" fn dma_sync_sg(
    dev: *mut CDevice,
    sgl: *mut CScatterlist,
    nelems: c_int,
    dir: c_int,
) {
    ffi("dma_sync_sg", || {
        let first_segment = {
            let lists = LISTS.lock();
            lists
                .by_first
                .get(&sgl.addr())
                .filter(|l| l.table.mapping().is_some())
                .and_then(|l| {
                    for_each_sg(&l.table, 1)
                        .next()
                        .map(|sg| sg_dma_address(&sg))
                })
                .unwrap_or(DMA_MAPPING_ERROR)
        };
        let to = older_sync(&device(dev), direction(dir), first_segment);
        sync_sg(dev, sgl, nelems, dir, to);
    })
}

/// Check a C access to an entry's DMA fields against the state of its list, if it belongs to
/// one dmacheck knows.
fn check_dma_field(sg: *mut CScatterlist, len: bool) {
    let lists = LISTS.lock();
    let Some(&(first, index)) = lists.entries.get(&sg.addr()) else {
        return;
    };
    let Some(SgList { table, .. }) = lists.by_first.get(&first) else {
        return;
    };
    if let Some(entry) = for_each_sg(table, table.len()).nth(index) {
        if len {
            sg_dma_len(&entry);
        } else {
            sg_dma_address(&entry);
        }
    }
}

thread_local! {
    /// What `sg_dma_address(NULL)` and `sg_dma_len(NULL)` read and write.
    static SCRATCH: UnsafeCell<CScatterlist> = UnsafeCell::new(CScatterlist::default());
}

/// The scratch entry of this thread, zeroed.
fn scratch() -> *mut CScatterlist {
    SCRATCH.with(|s| {
        let p = s.get();
        // SAFETY: the thread's own scratch entry; C uses it only until its next sg call.
        unsafe { p.write(CScatterlist::default()) };
        p
    })
}

/// `sg_dma_address(sg)`: the entry's DMA address field, checked against its list's mapping.
#[unsafe(no_mangle)]
unsafe extern "C" fn dmacheck_sg_dma_address_ptr(sg: *mut CScatterlist) -> *mut DmaAddr {
    ffi("sg_dma_address", || {
        let sg = if sg.is_null() { scratch() } else { sg };
        check_dma_field(sg, false);
        // SAFETY: `sg` points to an entry (the C contract) or the scratch entry.
        unsafe { &raw mut (*sg).dma_address }
    })
}

/// `sg_dma_len(sg)`: the entry's DMA length field, checked like [`dmacheck_sg_dma_address_ptr`].
#[unsafe(no_mangle)]
unsafe extern "C" fn dmacheck_sg_dma_len_ptr(sg: *mut CScatterlist) -> *mut c_uint {
    ffi("sg_dma_len", || {
        let sg = if sg.is_null() { scratch() } else { sg };
        check_dma_field(sg, true);
        // SAFETY: as above.
        unsafe { &raw mut (*sg).dma_length }
    })
}

/// `sg_init_table`: clear `nents` entries, mark the last as the end, and forget the lists they
/// were part of.
#[unsafe(no_mangle)]
unsafe extern "C" fn sg_init_table(sgl: *mut CScatterlist, nents: c_uint) {
    ffi("sg_init_table", || {
        let n = nents as usize;
        if sgl.is_null() || n == 0 {
            return;
        }
        let end = sgl
            .addr()
            .saturating_add(n.saturating_mul(std::mem::size_of::<CScatterlist>()));
        LISTS.lock().forget_range(sgl.addr(), end);
        // SAFETY: the C contract: `sgl` is an array of `nents` entries.
        unsafe {
            std::ptr::write_bytes(sgl, 0, n);
            (*sgl.add(n - 1)).page_link = SG_END;
        }
    })
}

/// `sg_init_one`: a list of one entry for `buflen` bytes at `buf`.
#[unsafe(no_mangle)]
unsafe extern "C" fn sg_init_one(sg: *mut CScatterlist, buf: *const c_void, buflen: c_uint) {
    // SAFETY: the same contract: `sg` is an entry.
    unsafe { sg_init_table(sg, 1) };
    if sg.is_null() {
        return;
    }
    let page = Page::containing(buf.cast()).map_or(0, |p| page_ptr(p).addr() as c_ulong);
    // SAFETY: `sg` is an entry (the C contract), cleared above.
    unsafe {
        (*sg).page_link = page | SG_END;
        (*sg).offset = (buf.addr() % PAGE_SIZE) as c_uint;
        (*sg).length = buflen;
    }
}
