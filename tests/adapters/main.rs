//! The adapters, each with its feature: virtio-drivers' `Hal` and device emulator
//! (`--features virtio`), and the dma-api wrapper (`--features dma-api`).

#[cfg(feature = "dma-api")]
mod adapter_dma_api;
#[cfg(feature = "virtio")]
mod adapter_virtio;
