//! Addressing limits: the DMA masks and the cache alignment.

use crate::device::Device;

use crate::types::{DMA_CACHE_ALIGNMENT, EIO};

/// Whether the platform can do DMA for the device with `mask` (`dma_supported`): 1 or 0. A mask
/// must reach the whole `GFP_DMA` zone.
pub fn dma_supported(dev: &Device, mask: u64) -> i32 {
    i32::from(mask >= dev.checker().memory().min_supported_mask())
}

/// Set the streaming mask if supported (`dma_set_mask`): 0, or `-EIO`.
pub fn dma_set_mask(dev: &Device, mask: u64) -> i32 {
    if dma_supported(dev, mask) == 0 {
        return -EIO;
    }
    dev.store_dma_mask(mask);
    0
}

/// Set the coherent mask if supported (`dma_set_coherent_mask`): 0, or `-EIO`.
pub fn dma_set_coherent_mask(dev: &Device, mask: u64) -> i32 {
    if dma_supported(dev, mask) == 0 {
        return -EIO;
    }
    dev.store_coherent_dma_mask(mask);
    0
}

/// Set both masks (`dma_set_mask_and_coherent`): 0, or `-EIO` with neither changed.
pub fn dma_set_mask_and_coherent(dev: &Device, mask: u64) -> i32 {
    let rc = dma_set_mask(dev, mask);
    if rc == 0 {
        dma_set_coherent_mask(dev, mask);
    }
    rc
}

/// The streaming mask in force (`dma_get_mask`).
pub fn dma_get_mask(dev: &Device) -> u64 {
    dev.params().dma_mask
}

/// The smallest mask that reaches all memory (`dma_get_required_mask`).
pub fn dma_get_required_mask(dev: &Device) -> u64 {
    dev.checker().memory().required_mask()
}

/// The minimum alignment and width of a mapping or partial sync (`dma_get_cache_alignment`).
pub fn dma_get_cache_alignment() -> i32 {
    DMA_CACHE_ALIGNMENT
}
