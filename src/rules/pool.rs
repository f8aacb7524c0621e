//! DMA pools: small coherent blocks, handed out and taken back by the pool they came from.

use super::declare_rules;

declare_rules! {
    family: "pool";

    /// `dma_pool_create` was given parameters no pool can honor: a size of 0, an alignment that
    /// is not a power of two, or a boundary that is not a power of two or is smaller than the
    /// block size. The create returns NULL.
    pub static POOL_BAD_PARAMETERS = {
        id: "pool-bad-parameters",
        summary: "dma_pool_create with a zero size, bad alignment or bad boundary",
        level: Warn,
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ib, align is a power of two; no block crosses the boundary)",
        kernel: Some("dma_pool_create() returns NULL for such parameters"),
    };

    /// `dma_pool_free` was given a block that did not come from this pool (another pool's, a
    /// coherent allocation's, garbage). Nothing is freed.
    pub static POOL_FREE_FOREIGN = {
        id: "pool-free-foreign",
        summary: "dma_pool_free of a block not from this pool",
        level: Warn,
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ib, the pool is the one the block was allocated from)",
        kernel: Some("pool_find_page(): \"dma_pool_free ..., %p/%pad (bad dma)\""),
    };

    /// `dma_pool_free` was given a CPU address and a DMA address that do not belong to the same
    /// block. Both must be what `dma_pool_alloc` returned together. Nothing is freed.
    pub static POOL_FREE_MISMATCH = {
        id: "pool-free-mismatch",
        summary: "dma_pool_free with a vaddr and dma address of different blocks",
        level: Warn,
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ib, vaddr and dma are what the allocation returned)",
        kernel: Some("dma_pool_free(): \"dma_pool_free ..., %p (bad vaddr)/%pad\""),
    };

    /// The block was already freed; the report names the first free.
    pub static POOL_DOUBLE_FREE = {
        id: "pool-double-free",
        summary: "dma_pool_free of a block already free",
        level: Warn,
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ib, dma_pool_free puts an allocated block back)",
        kernel: Some("pool_block_err(): \"dma_pool_free ..., dma %pad already free\""),
    };

    /// `dma_pool_destroy` while blocks are still allocated. Each busy block is reported with
    /// the site that allocated it; their memory is not released (it may still be in use).
    pub static POOL_DESTROY_BUSY = {
        id: "pool-destroy-busy",
        summary: "dma_pool_destroy with blocks still allocated",
        level: Warn,
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ib, free all allocated memory back to the pool before destroying it)",
        kernel: Some("dma_pool_destroy(): \"%s, %p busy\""),
    };

    /// A free block's poison bytes changed before it was handed out again: something wrote to
    /// the block after it was freed (the report names the last free).
    pub static POOL_WRITE_AFTER_FREE = {
        id: "pool-write-after-free",
        summary: "a freed pool block was written before it was allocated again",
        level: Warn,
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ib, a freed block goes back to the pool)",
        kernel: Some("pool_check_block(): \"%s, %p (corrupted)\" with CONFIG_SLUB_DEBUG_ON"),
    };

    /// A pool was used (allocated from, freed to) after `dma_pool_destroy`. The call is refused.
    pub static POOL_USE_AFTER_DESTROY = {
        id: "pool-use-after-destroy",
        summary: "dma_pool_alloc or dma_pool_free on a destroyed pool",
        level: Warn,
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ib, dma_pool_destroy frees the pool's resources)",
        kernel: None,
    };
}
