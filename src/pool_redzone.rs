//! The redzones of DMA pool blocks ([`crate::pool`]): where they lie, filling them, and reading
//! them back for [`rules::pool_redzone`](crate::rules::pool_redzone) to judge.

use std::ops::Range;

use crate::backend::PhysMemory;
use crate::rules::{Finding, POOL_REDZONE};
use crate::site::Site;
use crate::types::{DmaAddr, PhysAddr};

/// The redzone the `pool-redzone` option adds after blocks whose size leaves no padding.
pub const POOL_REDZONE_MIN: usize = 8;

/// The distance between blocks of `size` bytes aligned to `align`: the size rounded up to the
/// alignment, with room for [`POOL_REDZONE_MIN`] bytes of redzone if `add_redzone` and the
/// rounding leaves none. `None` on overflow.
pub(crate) fn stride(size: usize, align: usize, add_redzone: bool) -> Option<usize> {
    let stride = size.checked_next_multiple_of(align)?;
    if add_redzone && stride == size {
        size.checked_add(POOL_REDZONE_MIN)?
            .checked_next_multiple_of(align)
    } else {
        Some(stride)
    }
}

/// Each block's redzone, as offsets in its page allocation: from its end to the next block's
/// start (or the allocation's end).
pub(crate) fn redzones(offsets: &[usize], size: usize, allocation: usize) -> Vec<Range<usize>> {
    offsets
        .iter()
        .enumerate()
        .map(|(i, &o)| {
            let next = offsets.get(i + 1).copied().unwrap_or(allocation);
            (o + size).min(next)..next
        })
        .collect()
}

/// Fill every redzone of a fresh page allocation at `phys`.
pub(crate) fn fill(memory: &PhysMemory, phys: PhysAddr, zones: &[Range<usize>]) {
    for z in zones.iter().filter(|z| !z.is_empty()) {
        memory.fill(phys + z.start as u64, z.len() as u64, POOL_REDZONE);
    }
}

/// One block, as the redzone check names it.
pub(crate) struct Block<'a> {
    pub pool: &'a str,
    pub dma: DmaAddr,
    pub size: usize,
    pub allocated_at: Option<&'a Site>,
}

/// Judge the redzone `zone` of a page allocation at `phys` (the redzone of `block`); a changed
/// one is filled again, so each overrun is reported once.
pub(crate) fn check(
    memory: &PhysMemory,
    phys: PhysAddr,
    zone: &Range<usize>,
    block: &Block<'_>,
) -> Option<Finding> {
    if zone.is_empty() {
        return None;
    }
    let mut bytes = vec![0u8; zone.len()];
    memory.read(phys + zone.start as u64, &mut bytes)?;
    let f = crate::rules::pool_redzone::check_redzone(
        block.pool,
        block.dma,
        block.size,
        &bytes,
        block.allocated_at,
    )?;
    memory.fill(phys + zone.start as u64, zone.len() as u64, POOL_REDZONE);
    Some(f)
}
