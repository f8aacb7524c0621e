//! DMA pool redzones: the padding after each block is filled with a known byte, and a block
//! that writes past its end is caught where that byte changed. Declared in the `pool` family.

use super::declare_rules;
use crate::rules::{Finding, Value};
use crate::site::Site;
use crate::types::DmaAddr;

/// The byte a pool block's redzone is filled with (the kernel's `SLUB_RED_INACTIVE`).
pub const POOL_REDZONE: u8 = 0xbb;

declare_rules! {
    family: "pool";

    /// Something wrote past the end of a pool block: the block's redzone (the padding after
    /// it, up to the next block; with the `pool-redzone` option, added when the block size
    /// leaves none) no longer holds its fill byte. Checked when the block or the block after
    /// it is freed or handed out, and at `dma_pool_destroy`; reported as an overrun of the
    /// block that wrote it, naming where that block was allocated, even when the write went
    /// on into the next block (which is then not reported as written after free). Keep
    /// accesses within the size the pool was created with.
    pub static POOL_OVERRUN = {
        id: "pool-overrun",
        summary: "a pool block was written past its end (its redzone changed)",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ib, blocks of the size the pool was created with); Linux 6.12 mm/dmapool.c (pool_block_err() and pool_check_block() with CONFIG_SLUB_DEBUG_ON: blocks poisoned, checked at alloc and free)",
        kernel: None,
    };
}

/// The block at `dma` (`size` bytes) whose redzone now holds `redzone`: an overrun of the
/// block, if any byte changed.
pub(crate) fn check_redzone(
    pool: &str,
    dma: DmaAddr,
    size: usize,
    redzone: &[u8],
    allocated_at: Option<&Site>,
) -> Option<Finding> {
    let last = redzone.iter().rposition(|&b| b != POOL_REDZONE)?;
    let mut f = Finding::new(
        &POOL_OVERRUN,
        format!(
            "a block of pool {pool:?} was written past its end: {} byte(s) of its {}-byte \
             redzone changed",
            last + 1,
            redzone.len()
        ),
    )
    .with("dma_addr", Value::Addr(dma))
    .with("size", Value::Num(size as u64))
    .with("overrun", Value::Num(last as u64 + 1));
    if let Some(site) = allocated_at {
        f = f.mapped_at(site, "dma_pool_alloc");
    }
    Some(f)
}
