//! DMA pools: small coherent blocks, handed out and taken back by the pool they came from.

use super::declare_rules;
use crate::rules::{Finding, Findings, Value};
use crate::site::Site;
use crate::types::DmaAddr;

declare_rules! {
    family: "pool";

    /// `dma_pool_create` was given parameters no pool can honor: a size of 0, an alignment that
    /// is not a power of two, or a boundary that is not a power of two or is smaller than the
    /// block size. The create returns NULL.
    pub static POOL_BAD_PARAMETERS = {
        id: "pool-bad-parameters",
        summary: "dma_pool_create with a zero size, bad alignment or bad boundary",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ib, align is a power of two; no block crosses the boundary)",
        kernel: Some("dma_pool_create() returns NULL for such parameters"),
    };

    /// `dma_pool_free` was given a block that did not come from this pool (another pool's, a
    /// coherent allocation's, garbage). Nothing is freed.
    pub static POOL_FREE_FOREIGN = {
        id: "pool-free-foreign",
        summary: "dma_pool_free of a block not from this pool",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ib, the pool is the one the block was allocated from)",
        kernel: Some("pool_find_page(): \"dma_pool_free ..., %p/%pad (bad dma)\""),
    };

    /// `dma_pool_free` was given a CPU address and a DMA address that do not belong to the same
    /// block. Both must be what `dma_pool_alloc` returned together. Nothing is freed.
    pub static POOL_FREE_MISMATCH = {
        id: "pool-free-mismatch",
        summary: "dma_pool_free with a vaddr and dma address of different blocks",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ib, vaddr and dma are what the allocation returned)",
        kernel: Some("dma_pool_free(): \"dma_pool_free ..., %p (bad vaddr)/%pad\""),
    };

    /// The block was already freed; the report names the first free.
    pub static POOL_DOUBLE_FREE = {
        id: "pool-double-free",
        summary: "dma_pool_free of a block already free",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ib, dma_pool_free puts an allocated block back)",
        kernel: Some("pool_block_err(): \"dma_pool_free ..., dma %pad already free\""),
    };

    /// `dma_pool_destroy` while blocks are still allocated. Each busy block is reported with
    /// the site that allocated it; their memory is not released (it may still be in use).
    pub static POOL_DESTROY_BUSY = {
        id: "pool-destroy-busy",
        summary: "dma_pool_destroy with blocks still allocated",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ib, free all allocated memory back to the pool before destroying it)",
        kernel: Some("dma_pool_destroy(): \"%s, %p busy\""),
    };

    /// A free block's poison bytes changed before it was handed out again: something wrote to
    /// the block after it was freed (the report names the last free).
    pub static POOL_WRITE_AFTER_FREE = {
        id: "pool-write-after-free",
        summary: "a freed pool block was written before it was allocated again",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ib, a freed block goes back to the pool)",
        kernel: Some("pool_check_block(): \"%s, %p (corrupted)\" with CONFIG_SLUB_DEBUG_ON"),
    };

    /// A pool was used (allocated from, freed to) after `dma_pool_destroy`. The call is refused.
    pub static POOL_USE_AFTER_DESTROY = {
        id: "pool-use-after-destroy",
        summary: "dma_pool_alloc or dma_pool_free on a destroyed pool",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ib, dma_pool_destroy frees the pool's resources)",
        kernel: None,
    };
}

/// `dma_pool_create`'s parameters (`align` 0 already taken as 1) make a pool; reports them
/// otherwise.
pub(crate) fn check_parameters(
    name: &str,
    size: usize,
    align: usize,
    boundary: usize,
    out: &mut Findings,
) -> bool {
    let problem = if size == 0 {
        "a block size of 0"
    } else if !align.is_power_of_two() {
        "an alignment that is not a power of two"
    } else if boundary != 0 && (!boundary.is_power_of_two() || boundary < size) {
        "a boundary that is not a power of two at least the block size"
    } else {
        return true;
    };
    out.push(
        Finding::new(&POOL_BAD_PARAMETERS, format!("pool {name:?}: {problem}"))
            .with("size", Value::Num(size as u64))
            .with("align", Value::Num(align as u64))
            .with("boundary", Value::Num(boundary as u64)),
    );
    false
}

/// A block size that, rounded up to the alignment and to whole pages, overflows.
pub(crate) fn too_large(name: &str, size: usize, align: usize) -> Finding {
    Finding::new(
        &POOL_BAD_PARAMETERS,
        format!("pool {name:?}: a block size too large to allocate"),
    )
    .with("size", Value::Num(size as u64))
    .with("align", Value::Num(align as u64))
}

/// A call on a destroyed pool (`destroy`: a second destroy).
pub(crate) fn use_after_destroy(name: &str, destroy: bool) -> Finding {
    let message = if destroy {
        format!("pool {name:?} was destroyed already")
    } else {
        format!("pool {name:?} was destroyed")
    };
    Finding::new(&POOL_USE_AFTER_DESTROY, message)
}

/// A free block about to be handed out still holds the poison (`poison`) it was filled with
/// when freed (at `last_free`); reports the first byte written since otherwise.
pub(crate) fn check_poison(
    name: &str,
    dma: DmaAddr,
    bytes: &[u8],
    poison: u8,
    last_free: Option<&Site>,
    out: &mut Findings,
) {
    let Some(bad) = bytes.iter().position(|&b| b != poison) else {
        return;
    };
    let mut f = Finding::new(
        &POOL_WRITE_AFTER_FREE,
        format!("byte {bad} of a free block of pool {name:?} was overwritten"),
    )
    .with("dma_addr", Value::Addr(dma))
    .with("size", Value::Num(bytes.len() as u64));
    if let Some(site) = last_free {
        f = f.related("last freed at", site);
    }
    out.push(f);
}

/// What the block given to `dma_pool_free` is, as the pool knows it.
pub(crate) enum FreedBlock<'a> {
    /// The pool was destroyed.
    PoolDestroyed,
    /// Not a block of the pool.
    Foreign,
    /// A block of the pool (named by its DMA address): its CPU address, whether it is
    /// allocated, and where it was last freed.
    Block {
        cpu_addr: u64,
        allocated: bool,
        freed_at: Option<&'a Site>,
    },
}

/// Judge a `dma_pool_free` of the block at `dma` and `cpu_addr` of pool `name`: whether the
/// block is to be freed; reports it otherwise.
pub(crate) fn check_free(
    name: &str,
    dma: DmaAddr,
    cpu_addr: u64,
    block: FreedBlock<'_>,
    out: &mut Findings,
) -> bool {
    let block_of = |f: Finding| {
        f.with("dma_addr", Value::Addr(dma))
            .with("cpu_addr", Value::Addr(cpu_addr))
    };
    let f = match block {
        FreedBlock::PoolDestroyed => block_of(use_after_destroy(name, false)),
        FreedBlock::Foreign => block_of(Finding::new(
            &POOL_FREE_FOREIGN,
            format!("not a block of pool {name:?}"),
        )),
        FreedBlock::Block {
            cpu_addr: block_cpu_addr,
            ..
        } if block_cpu_addr != cpu_addr => block_of(Finding::new(
            &POOL_FREE_MISMATCH,
            "the CPU address is not the one of this DMA address's block",
        ))
        .with("block_cpu_addr", Value::Addr(block_cpu_addr)),
        FreedBlock::Block {
            allocated: true, ..
        } => return true,
        FreedBlock::Block { freed_at, .. } => {
            let f = block_of(Finding::new(
                &POOL_DOUBLE_FREE,
                format!("the block of pool {name:?} is already free"),
            ));
            match freed_at {
                Some(first) => f.related("first freed at", first),
                None => f,
            }
        }
    };
    out.push(f);
    false
}

/// `dma_pool_destroy` of a pool of `size`-byte blocks with blocks still allocated (`busy`:
/// each block's DMA address and allocation site): one finding per block.
pub(crate) fn check_destroy(name: &str, size: usize, busy: &[(DmaAddr, Site)], out: &mut Findings) {
    for (dma, site) in busy {
        out.push(
            Finding::new(
                &POOL_DESTROY_BUSY,
                format!("a block of pool {name:?} is still allocated"),
            )
            .with("dma_addr", Value::Addr(*dma))
            .with("size", Value::Num(size as u64))
            .mapped_at(site, "dma_pool_alloc"),
        );
    }
}
