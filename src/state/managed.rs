//! The lists of the modern API a device holds: its managed (devres) resources and the I/O
//! virtual address spaces of the IOVA API. The calls are in `api/managed.rs` and `api/iova.rs`.

use std::collections::BTreeMap;

use crate::types::{DmaAddr, DmaAttrs};

/// One managed resource of a device.
pub(crate) enum Devres {
    /// A `dmam_alloc_*` buffer: its CPU address, DMA address, size and attributes.
    Coherent {
        cpu: usize,
        dma: DmaAddr,
        size: usize,
        attrs: DmaAttrs,
    },
    /// A `devm_kmalloc` buffer: its CPU address (kfreed at release).
    Heap { ptr: usize },
    /// A `dmam_pool_create` pool, as what destroys it (the pool family sits above the API and
    /// the device, so the device's list holds it without naming its type).
    Pool(Box<dyn FnOnce() + Send>),
}

/// A reserved space of a device: its address, size and live links (offset -> length).
pub(crate) struct IovaSpace {
    pub(crate) addr: DmaAddr,
    pub(crate) size: u64,
    pub(crate) links: BTreeMap<u64, u64>,
}
