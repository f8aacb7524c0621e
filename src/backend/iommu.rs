//! An IOMMU: each device has its own I/O virtual address space, page granular, with addresses
//! allocated top-down below the device's mask. A scatter-gather list is laid out in one block of
//! that space so that segments which meet at page boundaries merge into one DMA segment, as
//! Linux's iommu-dma does, within the device's maximum segment size and segment boundary.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ptr::NonNull;

use super::ranges::FreeRanges;
use crate::backend::{Backend, MapError, Overrun, PhysMemory};
use crate::sync::{Arc, Mutex, RwLock};
use crate::types::DeviceId;
use crate::types::DeviceParams;
use crate::types::{Direction, DmaAddr, DmaAttrs, Gfp, PAGE_SHIFT, PAGE_SIZE, PhysAddr};

const PAGE: u64 = PAGE_SIZE as u64;
/// I/O virtual addresses span 48 bits, as on common IOMMUs; page 0 is never handed out.
const IOVA_PAGES: u64 = 1 << (48 - PAGE_SHIFT);

/// One device's address space.
struct Domain {
    free: FreeRanges,
    /// I/O page -> physical page (looked up at every map, unmap and device access: a fast
    /// hash, not SipHash; the keys are the checker's own page numbers).
    pages: HashMap<u64, u64, rustc_hash::FxBuildHasher>,
    /// Allocated blocks: first I/O page -> (pages in the block, pages of it still mapped).
    blocks: BTreeMap<u64, (u64, u64)>,
    /// Blocks reserved by `dma_iova_try_alloc`: kept when nothing in them is mapped.
    reserved: HashSet<u64, rustc_hash::FxBuildHasher>,
}

impl Domain {
    fn new() -> Domain {
        Domain {
            free: FreeRanges::new(1, IOVA_PAGES - 1),
            pages: HashMap::default(),
            blocks: BTreeMap::new(),
            reserved: HashSet::default(),
        }
    }

    /// Allocate `pages` I/O pages aligned to `align` pages, below `mask`.
    fn allocate(&mut self, pages: u64, align: u64, mask: u64) -> Result<u64, MapError> {
        let hi = (mask >> PAGE_SHIFT).saturating_add(1).min(IOVA_PAGES);
        let first = self
            .free
            .take_highest(pages, align, 1, hi)
            .ok_or(MapError::OutOfMemory)?;
        self.blocks.insert(first, (pages, 0));
        Ok(first)
    }

    /// Map the pages holding `len` bytes at `phys` from I/O page `iova_page` on.
    fn map_pages(&mut self, block: u64, iova_page: u64, phys: PhysAddr, len: u64) {
        let first = phys >> PAGE_SHIFT;
        let last = (phys + len - 1) >> PAGE_SHIFT;
        for (i, pfn) in (first..=last).enumerate() {
            self.pages.insert(iova_page + i as u64, pfn);
        }
        self.blocks.get_mut(&block).expect("allocated block").1 += last - first + 1;
    }

    /// Unmap the I/O pages of `len` bytes at `dma`; free a block once none of it is mapped.
    fn unmap(&mut self, dma: DmaAddr, len: u64) {
        let first = dma >> PAGE_SHIFT;
        let last = (dma + len.max(1) - 1) >> PAGE_SHIFT;
        let Some((&block, &(pages, _))) = self.blocks.range(..=first).next_back() else {
            return;
        };
        let removed = (first..=last.min(block + pages - 1))
            .filter(|p| self.pages.remove(p).is_some())
            .count() as u64;
        let entry = self.blocks.get_mut(&block).expect("found above");
        entry.1 = entry.1.saturating_sub(removed);
        if entry.1 == 0 && !self.reserved.contains(&block) {
            self.blocks.remove(&block);
            self.free.give(block, pages);
        }
    }

    /// Give back a reserved block, unmapping what is still mapped in it.
    fn free_reserved(&mut self, block: u64) {
        if !self.reserved.remove(&block) {
            return;
        }
        if let Some((pages, _)) = self.blocks.remove(&block) {
            for page in block..block + pages {
                self.pages.remove(&page);
            }
            self.free.give(block, pages);
        }
    }

    fn translate(&self, dma: DmaAddr) -> Option<PhysAddr> {
        let pfn = self.pages.get(&(dma >> PAGE_SHIFT))?;
        Some((pfn << PAGE_SHIFT) | (dma & (PAGE - 1)))
    }
}

/// Where each segment of a scatter-gather list lies in its block, in bytes from the block's
/// start, and how large and how aligned the block must be.
struct SgLayout {
    starts: Vec<u64>,
    block_pages: u64,
    align_pages: u64,
}

/// Lay segments out page by page, moving a segment to the next boundary window when it would
/// cross one (if it fits in a window at all), as iommu-dma pads them.
fn layout_sg(segs: &[(PhysAddr, u64)], boundary_mask: u64) -> SgLayout {
    let window = boundary_mask
        .checked_add(1)
        .filter(|w| w.is_power_of_two() && *w >= PAGE);
    let mut cursor = 0u64;
    let mut starts = Vec::with_capacity(segs.len());
    for &(phys, len) in segs {
        let offset = phys & (PAGE - 1);
        let span = (offset + len).next_multiple_of(PAGE);
        if let Some(w) = window {
            if span <= w && cursor / w != (cursor + span - 1) / w {
                cursor = cursor.next_multiple_of(w);
            }
        }
        starts.push(cursor + offset);
        cursor += span;
    }
    let block_pages = cursor / PAGE;
    // A block no larger than a window is aligned to its own size rounded up to a power of two,
    // so it lies inside one window; a larger one is aligned to the window, matching the layout.
    let align_pages = match window {
        Some(w) if cursor > w => w / PAGE,
        Some(_) => block_pages.next_power_of_two(),
        None => 1,
    };
    SgLayout {
        starts,
        block_pages,
        align_pages,
    }
}

/// Merge DMA segments that meet, within the maximum segment size and the boundary.
fn merge_segments(
    segs: Vec<(DmaAddr, u64)>,
    max_len: u64,
    boundary_mask: u64,
) -> Vec<(DmaAddr, u64)> {
    let mut merged: Vec<(DmaAddr, u64)> = Vec::with_capacity(segs.len());
    for (start, len) in segs {
        if let Some(last) = merged.last_mut() {
            let joined = last.1 + len;
            let end = last.0 + joined - 1;
            let same_window = (last.0 & !boundary_mask) == (end & !boundary_mask);
            if last.0 + last.1 == start && joined <= max_len && same_window {
                last.1 = joined;
                continue;
            }
        }
        merged.push((start, len));
    }
    merged
}

/// The IOMMU backend: one address space per device.
pub struct IommuBackend {
    memory: Arc<PhysMemory>,
    /// Each device's domain under a lock of its own, so devices map in parallel; the map's lock
    /// is taken for writing only when a device first maps.
    domains: RwLock<HashMap<DeviceId, Mutex<Domain>, rustc_hash::FxBuildHasher>>,
}

impl IommuBackend {
    /// An IOMMU over `memory`.
    pub fn new(memory: Arc<PhysMemory>) -> IommuBackend {
        IommuBackend {
            memory,
            domains: RwLock::new(HashMap::default()),
        }
    }

    fn with_domain<R>(&self, dev: DeviceId, f: impl FnOnce(&mut Domain) -> R) -> R {
        {
            let domains = self.domains.read();
            if let Some(domain) = domains.get(&dev) {
                return f(&mut domain.lock());
            }
        }
        let mut domains = self.domains.write();
        let domain = domains
            .entry(dev)
            .or_insert_with(|| Mutex::new(Domain::new()));
        f(&mut domain.lock())
    }

    /// Map `size` bytes at `phys` below `mask`, the I/O pages aligned to `align` pages.
    fn map_range(
        &self,
        dev: DeviceId,
        phys: PhysAddr,
        size: u64,
        mask: u64,
        align: u64,
    ) -> Result<DmaAddr, MapError> {
        let offset = phys & (PAGE - 1);
        let pages = (offset + size).div_ceil(PAGE);
        self.with_domain(dev, |d| {
            let block = d.allocate(pages, align, mask)?;
            d.map_pages(block, block, phys, size);
            Ok((block << PAGE_SHIFT) + offset)
        })
    }
}

impl Backend for IommuBackend {
    fn name(&self) -> &'static str {
        "iommu"
    }

    fn map(
        &self,
        dev: &DeviceParams,
        phys: PhysAddr,
        size: u64,
        _dir: Direction,
        _attrs: DmaAttrs,
    ) -> Result<DmaAddr, MapError> {
        self.map_range(dev.id, phys, size, dev.dma_mask, 1)
    }

    fn unmap(
        &self,
        dev: &DeviceParams,
        dma: DmaAddr,
        size: u64,
        _: Direction,
        _: DmaAttrs,
    ) -> Result<(), Overrun> {
        self.with_domain(dev.id, |d| d.unmap(dma, size));
        Ok(())
    }

    fn map_sg(
        &self,
        dev: &DeviceParams,
        segs: &[(PhysAddr, u64)],
        _dir: Direction,
        _attrs: DmaAttrs,
    ) -> Result<Vec<(DmaAddr, u64)>, MapError> {
        let layout = layout_sg(segs, dev.segment_boundary_mask);
        let dma_segs = self.with_domain(dev.id, |d| {
            let block = d.allocate(layout.block_pages, layout.align_pages, dev.dma_mask)?;
            let base = block << PAGE_SHIFT;
            Ok(segs
                .iter()
                .zip(&layout.starts)
                .map(|(&(phys, len), &start)| {
                    d.map_pages(block, (base + start) >> PAGE_SHIFT, phys, len);
                    (base + start, len)
                })
                .collect::<Vec<_>>())
        })?;
        Ok(merge_segments(
            dma_segs,
            dev.max_segment_size,
            dev.segment_boundary_mask,
        ))
    }

    fn alloc_coherent(
        &self,
        dev: &DeviceParams,
        size: u64,
        _gfp: Gfp,
    ) -> Result<(NonNull<u8>, DmaAddr), MapError> {
        // The IOMMU remaps, so the memory itself may lie anywhere.
        let cpu = self
            .memory
            .alloc_coherent(size, PhysAddr::MAX)
            .ok_or(MapError::OutOfMemory)?;
        let phys = self
            .memory
            .phys_of(cpu.as_ptr(), size)
            .expect("inside the arena");
        // Coherent memory is naturally aligned to its size, as iommu-dma's is (pools rely on it).
        let align = size.div_ceil(PAGE).next_power_of_two();
        match self.map_range(dev.id, phys, size, dev.coherent_dma_mask, align) {
            Ok(dma) => Ok((cpu, dma)),
            Err(e) => {
                self.memory
                    .free_coherent(cpu, size)
                    .expect("just allocated");
                Err(e)
            }
        }
    }

    fn free_coherent(&self, dev: &DeviceParams, dma: DmaAddr, size: u64) -> Result<(), Overrun> {
        let phys = self
            .with_domain(dev.id, |d| d.translate(dma))
            .expect("tracked coherent memory is mapped");
        let cpu = self
            .memory
            .cpu_of(phys, size)
            .expect("tracked coherent memory");
        self.with_domain(dev.id, |d| d.unmap(dma, size));
        let intact = self
            .memory
            .free_coherent(cpu, size)
            .expect("coherent free of a tracked allocation");
        if intact { Ok(()) } else { Err(Overrun) }
    }

    fn iova_reserve(&self, dev: &DeviceParams, offset: u64, size: u64) -> Option<DmaAddr> {
        let pages = (offset % PAGE).checked_add(size)?.div_ceil(PAGE);
        self.with_domain(dev.id, |d| {
            let block = d.allocate(pages, 1, dev.dma_mask).ok()?;
            d.reserved.insert(block);
            Some((block << PAGE_SHIFT) + offset % PAGE)
        })
    }

    fn iova_link(&self, dev: &DeviceParams, iova: DmaAddr, phys: PhysAddr, len: u64) {
        self.with_domain(dev.id, |d| {
            let first = iova >> PAGE_SHIFT;
            if let Some((&block, _)) = d.blocks.range(..=first).next_back() {
                d.map_pages(block, first, phys, len);
            }
        });
    }

    fn iova_free(&self, dev: &DeviceParams, iova: DmaAddr) {
        self.with_domain(dev.id, |d| d.free_reserved(iova >> PAGE_SHIFT));
    }

    fn dma_to_phys(&self, dev: &DeviceParams, dma: DmaAddr) -> Option<PhysAddr> {
        self.domains.read().get(&dev.id)?.lock().translate(dma)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_aligned_neighbours_merge_and_offsets_do_not() {
        let whole_pages = [(0x10_0000, PAGE), (0x20_0000, PAGE), (0x30_0000, 2 * PAGE)];
        let l = layout_sg(&whole_pages, u64::MAX);
        assert_eq!(l.starts, [0, PAGE, 2 * PAGE]);
        let merged = merge_segments(
            vec![(0x1000, PAGE), (0x2000, PAGE), (0x3000, 2 * PAGE)],
            1 << 20,
            u64::MAX,
        );
        assert_eq!(merged, [(0x1000, 4 * PAGE)]);
        let split = merge_segments(vec![(0x1000, 100), (0x2000, PAGE)], 1 << 20, u64::MAX);
        assert_eq!(
            split.len(),
            2,
            "a segment ending inside a page does not meet the next"
        );
    }

    #[test]
    fn merging_stops_at_the_maximum_segment_size_and_the_boundary() {
        let segs = vec![(0x1000, PAGE), (0x2000, PAGE), (0x3000, PAGE)];
        assert_eq!(
            merge_segments(segs.clone(), 2 * PAGE, u64::MAX),
            [(0x1000, 2 * PAGE), (0x3000, PAGE)]
        );
        // A 0x2000-byte boundary: 0x1000..0x3000 crosses 0x2000.
        assert_eq!(
            merge_segments(segs, 1 << 20, 0x1fff),
            [(0x1000, PAGE), (0x2000, 2 * PAGE)]
        );
    }

    #[test]
    fn layout_moves_a_segment_that_would_cross_a_window() {
        // 16 KiB windows: three 8 KiB segments; the second fits after the first, the third
        // would start at 16 KiB exactly, which is a window start already.
        let segs = [(0, 3 * PAGE), (0x10_0000, 2 * PAGE)];
        let l = layout_sg(&segs, 0x3fff);
        assert_eq!(
            l.starts,
            [0, 4 * PAGE],
            "the second segment moves to the next window"
        );
        assert_eq!(l.block_pages, 6);
        assert_eq!(l.align_pages, 4);
    }

    #[test]
    fn unmapping_every_segment_frees_the_block() {
        let mut d = Domain::new();
        let free = d.free.free_units();
        let block = d.allocate(4, 1, u64::MAX).unwrap();
        d.map_pages(block, block, 0x10_0000, PAGE);
        d.map_pages(block, block + 2, 0x20_0800, PAGE);
        assert_eq!(
            d.translate((block + 2) << PAGE_SHIFT | 0x800),
            Some(0x20_0800)
        );
        d.unmap(block << PAGE_SHIFT, PAGE);
        assert!(
            d.blocks.contains_key(&block),
            "half of the block is still mapped"
        );
        d.unmap((block + 2) << PAGE_SHIFT | 0x800, PAGE);
        assert!(d.blocks.is_empty() && d.pages.is_empty());
        assert_eq!(d.free.free_units(), free);
    }

    #[test]
    fn addresses_stay_below_the_mask() {
        let mut d = Domain::new();
        let block = d.allocate(1, 1, crate::dma_bit_mask(32)).unwrap();
        assert!(block << PAGE_SHIFT < 1 << 32);
        assert!(
            d.allocate(2, 1, 0x1fff).is_err(),
            "only page 1 lies below 8 KiB"
        );
    }
}
