//! Adapters that put real Rust DMA clients under dmacheck, each behind a cargo feature.
//!
//! - [`virtio`] (feature `virtio`): virtio-drivers' `Hal` trait implemented on dmacheck
//!   ([`virtio::DmacheckHal`]), and a small virtio device emulator ([`virtio::EmulatedTransport`])
//!   whose virtqueues are read and written through dmacheck's device model, with block, net,
//!   console and entropy backends — so virtio-drivers' own drivers run against dmacheck in tests.
//! - [`dma_api`] (feature `dma-api`): [`dma_api::CheckedDmaOp`], a `dma_api::DmaOp` that wraps a
//!   platform's `DmaOp` and records every call it forwards as dmacheck events.

#[cfg(feature = "dma-api")]
#[cfg_attr(docsrs, doc(cfg(feature = "dma-api")))]
pub mod dma_api;
#[cfg(feature = "virtio")]
#[cfg_attr(docsrs, doc(cfg(feature = "virtio")))]
pub mod virtio;
