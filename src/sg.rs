//! Scatter-gather lists (`struct scatterlist` arrays) and their helpers: build a list of buffers
//! or pages, map it with [`dma_map_sg`](crate::dma_map_sg), walk the returned count of DMA
//! segments with [`for_each_sg`], read them with [`sg_dma_address`] and [`sg_dma_len`].
//!
//! ```
//! use dmacheck::*;
//!
//! let checker = Checker::builder().env(false).build();
//! let dev = checker.device("nvme0").iommu().build();
//! let pages: Vec<Page> = (0..4).map(|_| alloc_pages(&checker, Gfp::KERNEL, 0).unwrap()).collect();
//! let mut sgl = SgTable::new(4);
//! for (i, &page) in pages.iter().enumerate() {
//!     sg_set_page(&mut sgl, i, page, PAGE_SIZE, 0);
//! }
//! let count = dma_map_sg(&dev, &mut sgl, 4, Direction::ToDevice);
//! assert!(count >= 1 && count <= 4, "an IOMMU may merge whole pages");
//! let total: usize = for_each_sg(&sgl, count).map(|sg| sg_dma_len(&sg)).sum();
//! assert_eq!(total, 4 * PAGE_SIZE);
//! dma_unmap_sg(&dev, &mut sgl, 4, Direction::ToDevice); // nents, not count
//! for page in pages {
//!     free_pages(&checker, page, 0);
//! }
//! checker.assert_clean();
//! ```

use crate::backend::Page;
use crate::checker::Checker;
use crate::event::{DeviceId, Event, Op};
use crate::rules;
use crate::site::Site;
use crate::types::{Direction, DmaAddr, MapKind, PAGE_SIZE};

/// One entry of a scatter-gather list: a CPU-side buffer (page, offset, length) and, once
/// mapped, the DMA segment the map stored in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scatterlist {
    page: Option<Page>,
    offset: usize,
    length: usize,
    dma_address: DmaAddr,
    dma_length: usize,
}

impl Scatterlist {
    /// The page of the buffer.
    pub fn page(&self) -> Option<Page> {
        self.page
    }

    /// The buffer's offset into its page.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The buffer's length.
    pub fn length(&self) -> usize {
        self.length
    }

    /// The CPU address of the buffer (`sg_virt`), or null for an empty entry.
    pub fn virt(&self) -> *mut u8 {
        self.page.map_or(std::ptr::null_mut(), |p| {
            p.address().wrapping_add(self.offset)
        })
    }
}

pub(crate) use crate::types::SgState;

/// A scatter-gather list: an array of [`Scatterlist`] entries (chained arrays appear as one
/// longer list), and the state of its mapping.
#[derive(Clone, Debug)]
pub struct SgTable {
    entries: Vec<Scatterlist>,
    pub(crate) state: SgState,
    /// The checker and device of the last map, for reports about the list.
    pub(crate) owner: Option<(Checker, DeviceId)>,
    /// Where the list was last mapped.
    pub(crate) mapped_at: Option<Site>,
}

impl SgTable {
    /// A list of `nents` empty entries (`sg_init_table`).
    pub fn new(nents: usize) -> SgTable {
        SgTable {
            entries: vec![Scatterlist::default(); nents],
            state: SgState::Unmapped,
            owner: None,
            mapped_at: None,
        }
    }

    /// How many entries the list has.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, CPU side.
    pub fn entries(&self) -> &[Scatterlist] {
        &self.entries
    }

    /// The mapped state as `(nents, count, dir)`, if the list is mapped.
    pub fn mapping(&self) -> Option<(usize, usize, Direction)> {
        match self.state {
            SgState::Mapped { nents, count, dir } => Some((nents, count, dir)),
            _ => None,
        }
    }

    pub(crate) fn entry_mut(&mut self, i: usize) -> &mut Scatterlist {
        &mut self.entries[i]
    }

    /// Store the DMA segments of a map: the first entries carry them, the rest are cleared.
    pub(crate) fn store_dma(&mut self, segs: &[(DmaAddr, u64)]) {
        for (i, e) in self.entries.iter_mut().enumerate() {
            (e.dma_address, e.dma_length) = segs.get(i).map_or((0, 0), |&(a, l)| (a, l as usize));
        }
    }

    /// The DMA segments stored by the last map, without any check.
    pub(crate) fn dma_segments(&self, count: usize) -> Vec<(DmaAddr, u64)> {
        self.entries
            .iter()
            .take(count)
            .map(|e| (e.dma_address, e.dma_length as u64))
            .collect()
    }
}

/// Reset `table` to `nents` empty entries (`sg_init_table`).
pub fn sg_init_table(table: &mut SgTable, nents: usize) {
    *table = SgTable::new(nents);
}

/// A list of one entry for `len` bytes at `buf` (`sg_init_one`).
pub fn sg_init_one(buf: *const u8, len: usize) -> SgTable {
    let mut table = SgTable::new(1);
    sg_set_buf(&mut table, 0, buf, len);
    table
}

/// Point entry `i` at `len` bytes at `buf` (`sg_set_buf`). Panics if `i` is out of bounds.
pub fn sg_set_buf(table: &mut SgTable, i: usize, buf: *const u8, len: usize) {
    let e = table.entry_mut(i);
    e.page = Page::containing(buf);
    e.offset = buf.addr() % PAGE_SIZE;
    e.length = len;
}

/// Point entry `i` at `len` bytes at `offset` into `page` (`sg_set_page`). Panics if `i` is out
/// of bounds.
pub fn sg_set_page(table: &mut SgTable, i: usize, page: Page, len: usize, offset: usize) {
    let e = table.entry_mut(i);
    e.page = Some(page);
    e.offset = offset;
    e.length = len;
}

/// Chain `next` after the entries of `table` (`sg_chain`): the result is one longer list.
pub fn sg_chain(table: &mut SgTable, next: SgTable) {
    table.entries.extend(next.entries);
}

/// An entry of a list being walked: the CPU side, and the DMA side through [`sg_dma_address`]
/// and [`sg_dma_len`].
#[derive(Clone, Copy, Debug)]
pub struct Sg<'a> {
    table: &'a SgTable,
    index: usize,
}

impl<'a> Sg<'a> {
    /// The entry's position in the list.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The entry, CPU side.
    pub fn entry(&self) -> &'a Scatterlist {
        &self.table.entries[self.index]
    }

    /// The next entry (`sg_next`).
    pub fn next(&self) -> Option<Sg<'a>> {
        (self.index + 1 < self.table.len()).then(|| Sg {
            table: self.table,
            index: self.index + 1,
        })
    }
}

/// Walk the first `n` entries of `table` (`for_each_sg`): after a map, `n` is the count it
/// returned.
pub fn for_each_sg(table: &SgTable, n: usize) -> impl Iterator<Item = Sg<'_>> {
    (0..n.min(table.len())).map(move |index| Sg { table, index })
}

/// The first entry of `table`, if any.
pub fn sg_first(table: &SgTable) -> Option<Sg<'_>> {
    (!table.is_empty()).then_some(Sg { table, index: 0 })
}

/// Report a read of an entry's DMA fields that the list's state does not allow.
#[track_caller]
fn check_dma_read(sg: &Sg<'_>, what: &'static str) {
    let Some(f) = rules::sg::check_dma_read(&sg.table.state, sg.index) else {
        return;
    };
    let Some((checker, device)) = &sg.table.owner else {
        return;
    };
    let site = Site::capture(checker.config().stack_depth);
    let ev = Event::new(Op::SgAccess, what, MapKind::Sg, *device, site);
    checker.inner().finish(&ev, [f].into_iter().collect());
}

/// The DMA address of a mapped entry (`sg_dma_address`).
#[track_caller]
pub fn sg_dma_address(sg: &Sg<'_>) -> DmaAddr {
    check_dma_read(sg, "sg_dma_address");
    sg.entry().dma_address
}

/// The DMA length of a mapped entry (`sg_dma_len`).
#[track_caller]
pub fn sg_dma_len(sg: &Sg<'_>) -> usize {
    check_dma_read(sg, "sg_dma_len");
    sg.entry().dma_length
}
