//! Addressing limits: the DMA masks and the cache alignment.

use crate::device::Device;
use crate::event::Op;
use crate::types::MapKind;

/// Whether a setter may change the device: a released device (or none) is reported, and its
/// parameters left alone.
#[track_caller]
pub(super) fn configurable(dev: &Device, call: &'static str) -> bool {
    let ev = super::event(dev, Op::Configure, call, MapKind::Coherent);
    dev.admit_or_report(&ev).is_some()
}

use crate::types::{DMA_CACHE_ALIGNMENT, EIO};

/// Whether the platform can do DMA for the device with `mask` (`dma_supported`): 1 or 0. A mask
/// must reach the whole `GFP_DMA` zone.
pub fn dma_supported(dev: &Device, mask: u64) -> i32 {
    i32::from(mask >= dev.checker().memory().min_supported_mask())
}

/// Set the streaming mask if supported (`dma_set_mask`): 0, or `-EIO`. On a released device
/// the call is reported and refused.
#[track_caller]
pub fn dma_set_mask(dev: &Device, mask: u64) -> i32 {
    if !configurable(dev, "dma_set_mask") {
        return -EIO;
    }
    if dma_supported(dev, mask) == 0 {
        return -EIO;
    }
    dev.store_dma_mask(mask);
    0
}

/// Set the coherent mask if supported (`dma_set_coherent_mask`): 0, or `-EIO`.
#[track_caller]
pub fn dma_set_coherent_mask(dev: &Device, mask: u64) -> i32 {
    if !configurable(dev, "dma_set_coherent_mask") {
        return -EIO;
    }
    if dma_supported(dev, mask) == 0 {
        return -EIO;
    }
    dev.store_coherent_dma_mask(mask);
    0
}

/// Set both masks (`dma_set_mask_and_coherent`): 0, or `-EIO` with neither changed.
#[track_caller]
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
