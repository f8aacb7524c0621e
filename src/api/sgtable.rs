//! `struct sg_table` calls (Linux 5.8+): tables built from pages, and the sgtable forms of the
//! sg map, unmap and syncs, which take the entry count from the table (`orig_nents`) so that
//! the count given to the unmap is the one given to the map. An [`SgTable`] is the table: its
//! length is `orig_nents`, and [`sgtable_nents`] the DMA segments of its map (`nents`).

use crate::backend::Page;
use crate::device::Device;
use crate::event::Op;
use crate::rules::{self, Findings};
use crate::sg::{Sg, SgTable, for_each_sg, sg_set_page};
use crate::types::{Direction, DmaAddr, DmaAttrs, MapKind, PAGE_SIZE};

use super::event;

/// `ENXIO`, returned negated.
const ENXIO: i32 = 6;

use crate::types::EINVAL;

/// A table of `nents` cleared entries (`sg_alloc_table`); `Err(-EINVAL)` for none.
pub fn sg_alloc_table(nents: usize) -> Result<SgTable, i32> {
    if nents == 0 {
        return Err(-EINVAL);
    }
    Ok(SgTable::new(nents))
}

/// A table over `pages` holding `size` bytes from `offset` into the first, physically
/// consecutive pages sharing one entry (`sg_alloc_table_from_pages`).
pub fn sg_alloc_table_from_pages(
    pages: &[Page],
    offset: usize,
    size: usize,
) -> Result<SgTable, i32> {
    sg_alloc_table_from_pages_segment(pages, offset, size, u32::MAX as usize)
}

/// [`sg_alloc_table_from_pages`] with entries of at most `max_segment` bytes, rounded down to
/// whole pages (`sg_alloc_table_from_pages_segment`). `Err(-EINVAL)` for a segment limit under a
/// page, no pages, an offset outside the first page, or a size the pages cannot hold.
pub fn sg_alloc_table_from_pages_segment(
    pages: &[Page],
    offset: usize,
    size: usize,
    max_segment: usize,
) -> Result<SgTable, i32> {
    let max_segment = max_segment / PAGE_SIZE * PAGE_SIZE;
    let room = (pages.len() * PAGE_SIZE).checked_sub(offset);
    if max_segment == 0
        || pages.is_empty()
        || offset >= PAGE_SIZE
        || size == 0
        || room.is_none_or(|room| size > room)
    {
        return Err(-EINVAL);
    }
    let runs = page_runs(pages, max_segment);
    let mut table = SgTable::new(runs.len());
    let (mut left, mut off) = (size, offset);
    for (i, &(first, count)) in runs.iter().enumerate() {
        let len = (count * PAGE_SIZE - off).min(left);
        sg_set_page(&mut table, i, pages[first], len, off);
        left -= len;
        off = 0;
        if left == 0 {
            table = truncated(table, i + 1);
            break;
        }
    }
    Ok(table)
}

/// Runs of physically consecutive pages, as `(first index, count)`, each at most `max_segment`
/// bytes (lib/scatterlist.c: a new entry where `page_to_pfn` does not follow on).
fn page_runs(pages: &[Page], max_segment: usize) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        match runs.last_mut() {
            Some((first, count))
                if pages[*first].address().addr() + *count * PAGE_SIZE == page.address().addr()
                    && (*count + 1) * PAGE_SIZE <= max_segment =>
            {
                *count += 1
            }
            _ => runs.push((i, 1)),
        }
    }
    runs
}

/// The first `n` entries of a fresh table.
fn truncated(table: SgTable, n: usize) -> SgTable {
    let mut short = SgTable::new(n);
    for (i, e) in table.entries().iter().take(n).enumerate() {
        if let Some(page) = e.page() {
            sg_set_page(&mut short, i, page, e.length(), e.offset());
        }
    }
    short
}

/// Free a table (`sg_free_table`). A table still mapped is reported as the mapping's leak at
/// device release, as in the kernel.
pub fn sg_free_table(table: SgTable) {
    drop(table);
}

/// The entries of a list (`sg_nents`).
pub fn sg_nents(table: &SgTable) -> usize {
    table.len()
}

/// How many entries hold `len` bytes (`sg_nents_for_len`); `Err(-EINVAL)` if the list is
/// shorter.
pub fn sg_nents_for_len(table: &SgTable, len: u64) -> Result<usize, i32> {
    if len == 0 {
        return Ok(0);
    }
    let mut total = 0u64;
    for (i, e) in table.entries().iter().enumerate() {
        total += e.length() as u64;
        if total >= len {
            return Ok(i + 1);
        }
    }
    Err(-EINVAL)
}

/// The DMA segments of the table's map (`sgt->nents`); 0 when it is not mapped.
pub fn sgtable_nents(table: &SgTable) -> usize {
    table.mapping().map_or(0, |(_, count, _)| count)
}

/// Every CPU-side entry of the table (`for_each_sgtable_sg`: `orig_nents` of them).
pub fn for_each_sgtable_sg(table: &SgTable) -> impl Iterator<Item = Sg<'_>> {
    for_each_sg(table, table.len())
}

/// Every DMA segment of the table's map (`for_each_sgtable_dma_sg`: `nents` of them).
pub fn for_each_sgtable_dma_sg(table: &SgTable) -> impl Iterator<Item = Sg<'_>> {
    for_each_sg(table, sgtable_nents(table))
}

/// Map every entry of the table (`dma_map_sgtable`): 0, or `-EINVAL` when the map is refused
/// (the cause is reported). [`sgtable_nents`] is then the number of DMA segments.
///
/// ```
/// # use dmacheck::*;
/// # let checker = Checker::builder().env(false).build();
/// let dev = checker.device("nvme0").iommu().build();
/// let pages: Vec<Page> = (0..4).map(|_| alloc_pages(&checker, Gfp::KERNEL, 0).unwrap()).collect();
/// let mut sgt = sg_alloc_table_from_pages(&pages, 0, 4 * PAGE_SIZE).unwrap();
/// assert_eq!(dma_map_sgtable(&dev, &mut sgt, Direction::ToDevice, DmaAttrs::empty()), 0);
/// for sg in for_each_sgtable_dma_sg(&sgt) {
///     let _ = (sg_dma_address(&sg), sg_dma_len(&sg)); // program the device
/// }
/// dma_unmap_sgtable(&dev, &mut sgt, Direction::ToDevice, DmaAttrs::empty());
/// for page in pages { free_pages(&checker, page, 0); }
/// checker.assert_clean();
/// ```
#[track_caller]
pub fn dma_map_sgtable(dev: &Device, table: &mut SgTable, dir: Direction, attrs: DmaAttrs) -> i32 {
    let orig_nents = table.len();
    if super::dma_map_sg_attrs(dev, table, orig_nents, dir, attrs) == 0 {
        // As __dma_map_sg_attrs: -EINVAL for what the call was given, -EIO/-ENOMEM for the
        // rest; which one does not change what a driver does with it.
        return -EINVAL;
    }
    0
}

/// Unmap a table mapped by [`dma_map_sgtable`] (`dma_unmap_sgtable`).
#[track_caller]
pub fn dma_unmap_sgtable(dev: &Device, table: &mut SgTable, dir: Direction, attrs: DmaAttrs) {
    let orig_nents = table.len();
    super::dma_unmap_sg_attrs(dev, table, orig_nents, dir, attrs);
}

/// Hand a mapped table to the CPU (`dma_sync_sgtable_for_cpu`).
#[track_caller]
pub fn dma_sync_sgtable_for_cpu(dev: &Device, table: &SgTable, dir: Direction) {
    super::dma_sync_sg_for_cpu(dev, table, table.len(), dir);
}

/// Hand a mapped table back to the device (`dma_sync_sgtable_for_device`).
#[track_caller]
pub fn dma_sync_sgtable_for_device(dev: &Device, table: &SgTable, dir: Direction) {
    super::dma_sync_sg_for_device(dev, table, table.len(), dir);
}

/// A table describing a coherent buffer's pages (`dma_get_sgtable`), for exporting it: one
/// entry of the buffer's size rounded up to pages, from its first page
/// (`dma_common_get_sgtable`). `cpu_addr` and `dma_addr` must be one live coherent allocation of
/// the device and `size` within it; otherwise reported (`get-sgtable-unknown`) and
/// `Err(-ENXIO)`.
#[track_caller]
pub fn dma_get_sgtable(
    dev: &Device,
    cpu_addr: *const u8,
    dma_addr: DmaAddr,
    size: usize,
) -> Result<SgTable, i32> {
    dma_get_sgtable_attrs(dev, cpu_addr, dma_addr, size, DmaAttrs::empty())
}

/// [`dma_get_sgtable`] with the allocation's attributes (`dma_get_sgtable_attrs`).
#[track_caller]
pub fn dma_get_sgtable_attrs(
    dev: &Device,
    cpu_addr: *const u8,
    dma_addr: DmaAddr,
    size: usize,
    attrs: DmaAttrs,
) -> Result<SgTable, i32> {
    let mut ev = event(dev, Op::MemoryAlloc, "dma_get_sgtable", MapKind::Coherent);
    (ev.dma_addr, ev.size, ev.attrs) = (dma_addr, size as u64, attrs);
    ev.cpu_addr = Some(cpu_addr.addr() as u64);
    let admitted = dev.admit_or_report(&ev).ok_or(-ENXIO)?;
    let c = dev.checker().inner();
    let mut live = false;
    c.tracker.for_each_mut(|e| {
        live |= e.device == dev.id()
            && e.kind == MapKind::Coherent
            && e.dma_addr == dma_addr
            && e.cpu_addr == cpu_addr.addr() as u64
            && size as u64 <= e.size;
    });
    drop(admitted);
    let page = Page::containing(cpu_addr).filter(|_| live && size > 0);
    let mut out = Findings::new();
    let result = match page {
        Some(page) => {
            let mut table = SgTable::new(1);
            sg_set_page(&mut table, 0, page, size.next_multiple_of(PAGE_SIZE), 0);
            Ok(table)
        }
        None => {
            out.push(rules::modern::get_sgtable_unknown(dma_addr, size as u64));
            Err(-ENXIO)
        }
    };
    c.finish(&ev, out);
    result
}
