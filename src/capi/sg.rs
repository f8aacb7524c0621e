//! `<linux/scatterlist.h>` and the sg calls of `<linux/dma-mapping.h>`: C scatterlist arrays,
//! translated into [`SgTable`]s at `dma_map_sg` and kept, by the list's address, for the unmap,
//! the syncs and the checked `sg_dma_address`/`sg_dma_len`.

use std::cell::UnsafeCell;
use std::collections::BTreeMap;
use std::ffi::{c_int, c_uint, c_ulong, c_void};
use std::mem::offset_of;

use super::device::{CDevice, device};
use super::streaming::{Handover, older_sync};
use super::{attrs, checker, direction, ffi, page_or_nowhere, page_ptr};
use crate::event::{DeviceId, Event, Op};
use crate::rules;
use crate::rules::{Finding, Value};
use crate::sync::process::Mutex;
use crate::{
    DMA_MAPPING_ERROR, Device, Direction, DmaAddr, DmaAttrs, MapKind, PAGE_SIZE, Page, SgTable,
    for_each_sg, sg_dma_address, sg_dma_len, sg_set_page,
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

pub(super) const SG_CHAIN: c_ulong = 0x01;
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

/// C memory that may not be there: a list, or a chain link, from a caller who broke the
/// contract. dmacheck reads and writes C entries only where it knows there is memory: in its
/// own arena (lists from `kmalloc`), or where the kernel confirms the bytes are mapped, by
/// copying them with `process_vm_readv`/`process_vm_writev` on this process, which fail with
/// `EFAULT` instead of faulting. Where those calls are not allowed (a seccomp filter), the
/// contract is trusted as before.
mod probe {
    use super::CScatterlist;
    use std::ffi::c_void;

    /// Whether `len` bytes at `addr` lie in dmacheck's arena.
    fn in_arena(addr: usize, len: usize) -> bool {
        let memory = super::super::checker().memory();
        let end = addr.saturating_add(len.max(1) - 1);
        memory.is_cpu_address(addr as u64) && memory.is_cpu_address(end as u64)
    }

    /// What the kernel said of a copy: `Some(done)` or `None` when the call itself is refused.
    fn copy_via_kernel(
        local: *mut c_void,
        remote: *mut c_void,
        len: usize,
        write: bool,
    ) -> Option<bool> {
        let local = libc::iovec {
            iov_base: local,
            iov_len: len,
        };
        let remote = libc::iovec {
            iov_base: remote,
            iov_len: len,
        };
        // SAFETY: the kernel checks `remote` (our own address space) and fails with EFAULT
        // rather than faulting; `local` is a live buffer of `len` bytes.
        let copied = unsafe {
            let pid = libc::getpid();
            if write {
                libc::process_vm_writev(pid, &local, 1, &remote, 1, 0)
            } else {
                libc::process_vm_readv(pid, &local, 1, &remote, 1, 0)
            }
        };
        if copied == len as isize {
            return Some(true);
        }
        let errno = std::io::Error::last_os_error().raw_os_error();
        match errno {
            Some(libc::ENOSYS | libc::EPERM) => None,
            _ => Some(false),
        }
    }

    /// A copy of the C entry at `sg`, or `None` if no memory is there.
    pub(super) fn read(sg: *const CScatterlist) -> Option<CScatterlist> {
        if sg.is_null() {
            return None;
        }
        let len = size_of::<CScatterlist>();
        if !in_arena(sg.addr(), len) {
            let mut copy = CScatterlist::default();
            let local = (&raw mut copy).cast::<c_void>();
            match copy_via_kernel(local, sg.cast_mut().cast(), len, false) {
                Some(true) => return Some(copy),
                Some(false) => return None,
                None => {} // not allowed here: trust the contract
            }
        }
        // SAFETY: in the arena (mapped for the process's life), or the caller's contract; C may
        // misalign it.
        Some(unsafe { sg.read_unaligned() })
    }

    /// Write `value` at `field` (a field of a C entry [`read`] found); false if it is gone.
    pub(super) fn write<T: Copy>(field: *mut T, value: T) -> bool {
        let len = size_of::<T>();
        if !in_arena(field.addr(), len) {
            let mut copy = value;
            let local = (&raw mut copy).cast::<c_void>();
            // `None`: not allowed here, so the contract is trusted.
            if let Some(done) = copy_via_kernel(local, field.cast(), len, true) {
                return done;
            }
        }
        // SAFETY: in the arena, or the caller's contract; C may misalign it.
        unsafe { field.write_unaligned(value) };
        true
    }
}

/// Why a C list cannot be walked.
#[derive(Debug)]
enum BadList {
    /// Entry `index` (counting chain links) is at `addr`, where no memory is known.
    Unreadable { index: usize, addr: usize },
    /// A chain link at entry `index` leads back into the list.
    Looped { index: usize, addr: usize },
}

impl BadList {
    fn message(&self) -> String {
        match *self {
            BadList::Unreadable { index, addr } => format!(
                "entry {index} of the list is at {addr:#x}, where there is no memory (a garbage \
                 list or chain pointer); the list is not walked"
            ),
            BadList::Looped { index, addr } => format!(
                "the chain link at entry {index} leads back into the list (to {addr:#x}): the \
                 list is chained to itself and is not walked again"
            ),
        }
    }
}

/// The first `nents` entries of a C list, following chain links and stopping after `SG_END`,
/// with a copy of each. Every entry is read through [`probe`], so a garbage list or chain
/// pointer is an error, not a fault; a link back into the list is an error too.
fn walk(
    first: *mut CScatterlist,
    nents: usize,
) -> Result<Vec<(*mut CScatterlist, CScatterlist)>, BadList> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let (mut sg, mut index) = (first, 0);
    while !sg.is_null() && out.len() < nents {
        let addr = sg.addr();
        let entry = probe::read(sg).ok_or(BadList::Unreadable { index, addr })?;
        if !seen.insert(addr) {
            return Err(BadList::Looped {
                index: index.saturating_sub(1),
                addr,
            });
        }
        index += 1;
        let link = entry.page_link;
        if link & SG_CHAIN != 0 {
            sg = std::ptr::with_exposed_provenance_mut((link & !SG_LINK_MASK) as usize);
            continue;
        }
        out.push((sg, entry));
        if link & SG_END != 0 {
            break;
        }
        sg = sg.wrapping_add(1);
    }
    Ok(out)
}

/// The CPU side of C entries, as a table.
fn table_of(entries: &[(*mut CScatterlist, CScatterlist)]) -> SgTable {
    let mut table = SgTable::new(entries.len());
    for (i, (_, c)) in entries.iter().enumerate() {
        let page = c.page_link & !SG_LINK_MASK;
        if page != 0 {
            let page = page_or_nowhere(std::ptr::without_provenance(page as usize));
            sg_set_page(&mut table, i, page, c.length as usize, c.offset as usize);
        }
    }
    table
}

/// Write the segments of a map into the C entries: the first `count` carry them, the others are
/// cleared, as the kernel's map does. The entries were read by [`walk`].
fn write_back(table: &SgTable, entries: &[(*mut CScatterlist, CScatterlist)], count: usize) {
    let segments: Vec<(DmaAddr, usize)> = for_each_sg(table, count)
        .map(|sg| (sg_dma_address(&sg), sg_dma_len(&sg)))
        .collect();
    for (i, &(e, _)) in entries.iter().enumerate() {
        let (addr, len) = segments.get(i).copied().unwrap_or((0, 0));
        // Fields of an entry `walk` found; if its memory went away since, nothing is written.
        probe::write(
            e.wrapping_byte_add(offset_of!(CScatterlist, dma_address))
                .cast(),
            addr,
        );
        let len = c_uint::try_from(len).unwrap_or(c_uint::MAX);
        probe::write(
            e.wrapping_byte_add(offset_of!(CScatterlist, dma_length))
                .cast(),
            len,
        );
    }
}

/// Report `finding` for an sg call from C on `dev` (a call a released device refuses is left
/// to the Rust API, which reports that first).
#[track_caller]
fn report_sg(dev: &Device, op: Op, call: &'static str, finding: Finding) {
    let mut ev = Event::new(
        op,
        call,
        MapKind::Sg,
        dev.id(),
        dev.checker().capture_site(),
    );
    ev.dma_addr = DMA_MAPPING_ERROR;
    dev.checker()
        .inner()
        .finish(&ev, [finding].into_iter().collect());
}

/// A count from C as given (a negative one shown negative, not as 0).
fn count_as_given(n: c_int) -> Value {
    Value::Text(n.to_string())
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
    let first = sgl.addr();
    let mut lists = LISTS.lock();
    let Ok(n) = usize::try_from(nents) else {
        if dev.is_released() {
            return count_for_c(crate::dma_map_sg_attrs(
                dev,
                &mut SgTable::new(0),
                0,
                dir,
                attrs,
            ));
        }
        let f = rules::sg::invalid_list(
            format!("nents is negative ({nents})"),
            count_as_given(nents),
        );
        report_sg(dev, Op::Map, "dma_map_sg", f);
        return 0;
    };
    if let Some(list) = lists.by_first.get_mut(&first) {
        if list.table.mapping().is_some() {
            // Mapped already: the Rust API reports the second map and refuses it.
            return count_for_c(crate::dma_map_sg_attrs(dev, &mut list.table, n, dir, attrs));
        }
    }
    let entries = match walk(sgl, n) {
        Ok(entries) => entries,
        Err(_) if dev.is_released() => {
            return count_for_c(crate::dma_map_sg_attrs(
                dev,
                &mut SgTable::new(0),
                n,
                dir,
                attrs,
            ));
        }
        Err(bad) => {
            let f = rules::sg::invalid_list(bad.message(), Value::Num(n as u64));
            report_sg(dev, Op::Map, "dma_map_sg", f);
            return 0;
        }
    };
    let mut table = table_of(&entries);
    let count = crate::dma_map_sg_attrs(dev, &mut table, n, dir, attrs);
    if count > 0 {
        write_back(&table, &entries, count);
    }
    if first != 0 {
        let entries = entries.iter().map(|(e, _)| e.addr()).collect();
        lists.insert(first, SgList { table, entries });
    }
    count_for_c(count)
}

/// A negative count given to `dma_unmap_sg` or a sync: reported as given and nothing carried
/// out (the kernel's loops over it run zero times). False when the Rust API is to report the
/// call (the device was released, or the count is not negative).
fn negative_count(dev: &Device, list: Option<&SgList>, nents: c_int, unmap: bool) -> bool {
    if nents >= 0 || dev.is_released() {
        return false;
    }
    let (op, call) = if unmap {
        (Op::Unmap, "dma_unmap_sg")
    } else {
        (Op::SyncForCpu, "dma_sync_sg")
    };
    let mapped = list.and_then(|l| l.table.mapping());
    let f = match (mapped, unmap) {
        (Some((mapped, _, _)), _) => rules::sg::negative_nents(unmap, nents, mapped),
        (None, true) => rules::release::unmap_unknown_list("the list is not mapped"),
        (None, false) => rules::sync::sync_unknown_list(),
    };
    report_sg(dev, op, call, f.with("nents", count_as_given(nents)));
    true
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
pub(super) unsafe extern "C" fn dma_map_sg_attrs(
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
pub(super) unsafe extern "C" fn dma_unmap_sg_attrs(
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
        if negative_count(&dev, lists.by_first.get(&sgl.addr()), nents, true) {
            return;
        }
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
    if negative_count(&dev, lists.by_first.get(&sgl.addr()), nelems, false) {
        return;
    }
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
pub(super) unsafe extern "C" fn dma_sync_sg_for_cpu(
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
pub(super) unsafe extern "C" fn dma_sync_sg_for_device(
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

/// Check a C access to an entry's DMA fields against the state of its list. An entry of no
/// list dmacheck mapped, and NULL, have no DMA side: reported (on no device).
#[track_caller]
fn check_dma_field(sg: *mut CScatterlist, len: bool) {
    let what = if len { "sg_dma_len" } else { "sg_dma_address" };
    let lists = LISTS.lock();
    let known = lists
        .entries
        .get(&sg.addr())
        .and_then(|&(first, index)| Some((lists.by_first.get(&first)?, index)));
    let Some((SgList { table, .. }, index)) = known else {
        drop(lists);
        let site = checker().capture_site();
        let ev = Event::new(Op::SgAccess, what, MapKind::Sg, DeviceId::NONE, site);
        let f = rules::sg::dma_read_of_no_list(what, sg.addr() as u64);
        checker().inner().finish(&ev, [f].into_iter().collect());
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
        check_dma_field(sg, false);
        let sg = if sg.is_null() { scratch() } else { sg };
        // SAFETY: `sg` points to an entry (the C contract) or the scratch entry.
        unsafe { &raw mut (*sg).dma_address }
    })
}

/// `sg_dma_len(sg)`: the entry's DMA length field, checked like [`dmacheck_sg_dma_address_ptr`].
#[unsafe(no_mangle)]
unsafe extern "C" fn dmacheck_sg_dma_len_ptr(sg: *mut CScatterlist) -> *mut c_uint {
    ffi("sg_dma_len", || {
        check_dma_field(sg, true);
        let sg = if sg.is_null() { scratch() } else { sg };
        // SAFETY: as above.
        unsafe { &raw mut (*sg).dma_length }
    })
}

/// `sg_init_table`: clear `nents` entries, mark the last as the end, and forget the lists they
/// were part of.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn sg_init_table(sgl: *mut CScatterlist, nents: c_uint) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chain_to(target: usize) -> CScatterlist {
        CScatterlist {
            page_link: target as c_ulong | SG_CHAIN,
            ..Default::default()
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "process_vm_readv is a foreign call Miri cannot run")]
    fn entries_where_no_memory_is_are_refused_not_read() {
        assert!(probe::read(std::ptr::without_provenance(0x10)).is_none());
        assert!(probe::read(std::ptr::without_provenance(0xdead_0000)).is_none());
        let mut list = [CScatterlist::default(), chain_to(0xdead_0000)];
        list[0].length = 1;
        let bad = walk(list.as_mut_ptr(), 3).unwrap_err();
        assert!(
            matches!(
                bad,
                BadList::Unreadable {
                    index: 2,
                    addr: 0xdead_0000
                }
            ),
            "{bad:?}"
        );
        // A readable list is walked as before, copies and all.
        let mut ok = [CScatterlist::default(); 2];
        ok[1].page_link = SG_END;
        ok[1].length = 7;
        let entries = walk(ok.as_mut_ptr(), 5).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].1.length, 7);
        // A misaligned list is read (and written back) byte for byte, not faulted on.
        let mut bytes = vec![0u8; size_of::<CScatterlist>() + 1];
        let odd = bytes[1..].as_mut_ptr().cast::<CScatterlist>();
        // SAFETY: `bytes` holds a whole entry from offset 1, written unaligned.
        unsafe { odd.write_unaligned(ok[1]) };
        let entries = walk(odd, 3).unwrap();
        assert_eq!((entries.len(), entries[0].1.length), (1, 7));
        write_back(&SgTable::new(1), &entries, 0);
    }

    #[test]
    #[cfg_attr(miri, ignore = "process_vm_readv is a foreign call Miri cannot run")]
    fn a_list_chained_to_itself_is_refused_after_one_pass() {
        let mut list = [CScatterlist::default(); 3];
        let first = list.as_ptr().addr();
        list[2] = chain_to(first);
        let bad = walk(list.as_mut_ptr(), usize::MAX).unwrap_err();
        assert!(
            matches!(bad, BadList::Looped { index: 2, addr } if addr == first),
            "{bad:?}"
        );
        let here = (&raw const list[1]).addr();
        list[1] = chain_to(here);
        let bad = walk(list.as_mut_ptr(), 4).unwrap_err();
        assert!(
            matches!(bad, BadList::Looped { index: 1, addr } if addr == here),
            "{bad:?}"
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "process_vm_readv is a foreign call Miri cannot run")]
    fn dma_fields_are_written_back_only_where_memory_is() {
        let mut entry = CScatterlist::default();
        assert!(probe::write(&raw mut entry.dma_address, 0x1234));
        assert_eq!(entry.dma_address, 0x1234);
        assert!(!probe::write(
            std::ptr::without_provenance_mut::<u64>(0x18),
            1
        ));
    }
}
