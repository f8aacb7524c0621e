//! Memory regions set aside for DMA: declared coherent memory, CMA areas, and user mappings of
//! DMA buffers.

use super::declare_rules;

declare_rules! {
    family: "regions";

    /// `dma_declare_coherent_memory` was refused: neither `DMA_MEMORY_MAP` nor `DMA_MEMORY_IO`
    /// in the flags, a size that is not a multiple of the page size, a bus or device address off
    /// a page, a bus range that is partly host memory, or a second region for a device that has
    /// one. It returns 0. (A bus range outside host memory is fine: memory on the device.)
    pub static DECLARED_MEMORY_BAD_PARAMETERS = {
        id: "declared-memory-bad-parameters",
        summary: "dma_declare_coherent_memory with bad flags, size or a second region",
        level: Warn,
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part II, one or both of MAP/IO, size a multiple of PAGE_SIZE, one region per device)",
        kernel: None,
    };

    /// `dma_release_declared_memory` while allocations from the region are live. The DMA API
    /// document says the kernel does no in-use check here, leaving the driver to get it right; dmacheck
    /// checks. The live allocations can still be freed.
    pub static DECLARED_MEMORY_BUSY = {
        id: "declared-memory-busy",
        summary: "declared coherent memory released while allocations from it are live",
        level: Warn,
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part II, no part of the region may be in use when it is released)",
        kernel: None,
    };

    /// `dma_release_from_contiguous` was given another page count than the allocation: the
    /// area's bitmap would be cleared wrongly. The allocation is released as it was made.
    pub static CMA_RELEASE_COUNT_MISMATCH = {
        id: "cma-release-count-mismatch",
        summary: "dma_release_from_contiguous with another count than allocated",
        level: Warn,
        seed: "linux-mm review of \"[PATCH 6/9] drivers: add Contiguous Memory Allocator\", October 2011 (dma_release_from_contiguous clears count pages of the bitmap)",
        kernel: None,
    };

    /// `dma_release_from_contiguous` of pages of the area that are not allocated (released
    /// already, or never allocated).
    pub static CMA_DOUBLE_RELEASE = {
        id: "cma-double-release",
        summary: "dma_release_from_contiguous of pages not allocated",
        level: Warn,
        seed: "linux-mm review of \"[PATCH 6/9] drivers: add Contiguous Memory Allocator\", October 2011 (dma_release_from_contiguous releases memory from dma_alloc_from_contiguous)",
        kernel: None,
    };

    /// A user mapping of a DMA buffer (`dma_mmap_coherent`, `remap_pfn_range`) reaches beyond
    /// the buffer: larger than it, or at an offset or page frame outside it. User space could
    /// then read and write memory that is not the buffer's. The mapping is refused.
    pub static MMAP_OUT_OF_BOUNDS = {
        id: "mmap-out-of-bounds",
        summary: "a user mapping of a DMA buffer reaches beyond the buffer",
        level: Warn,
        seed: "Linux Device Drivers, 3rd edition, chapter 15, \"The mmap Device Operation\" (remap_pfn_range: pfn and size name exactly the physical range mapped)",
        kernel: None,
    };

    /// A coherent buffer was freed while a user mapping of it still exists: user space keeps
    /// access to memory that will be handed to someone else. Unmap (close the mapping) first.
    pub static FREE_WHILE_MMAPPED = {
        id: "free-while-mmapped",
        summary: "a coherent buffer freed while user space still maps it",
        level: Warn,
        seed: "Linux Device Drivers, 3rd edition, chapter 15, \"The mmap Device Operation\" (remap_pfn_range), and Documentation/DMA-API.txt, Linux 2.6.27 (the mapping names the buffer's pages; the free ends the buffer)",
        kernel: None,
    };
}
