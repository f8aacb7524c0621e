//! Managed (devres) memory: released with its device, freed only by the managed calls.

use super::declare_rules;
use crate::rules::{Finding, Value};
use crate::types::DmaAddr;

declare_rules! {
    family: "managed";

    /// Managed memory freed as unmanaged, or the reverse: a `dmam_alloc_coherent` buffer given
    /// to `dma_free_coherent` (devres still holds it and would free it again at unbind), or a
    /// `dmam_free_coherent` of memory `dmam_alloc_*` did not allocate (the kernel's
    /// `WARN_ON(devres_destroy(...))` in `dmam_free_coherent`). The memory is freed either way.
    pub static MANAGED_FREE_MISMATCH = {
        id: "managed-free-mismatch",
        summary: "managed DMA memory freed with the unmanaged call, or the reverse",
        level: Warn,
        seed: "Documentation/driver-api/driver-model/devres.rst, Linux 6.12 (managed interfaces: dmam_alloc_coherent, dmam_free_coherent)",
        kernel: Some("dmam_free_coherent(): WARN_ON(devres_destroy(dev, dmam_release, dmam_match, &match_data))"),
    };
}

/// Managed memory freed with `dma_free_coherent`.
pub(crate) fn managed_freed_unmanaged(dma: DmaAddr) -> Finding {
    Finding::new(
        &MANAGED_FREE_MISMATCH,
        "dma_free_coherent of memory from dmam_alloc_coherent (devres still owns it)",
    )
    .with("dma_addr", Value::Addr(dma))
}

/// `dmam_free_coherent` of memory no managed allocation made.
pub(crate) fn unmanaged_freed_managed(dma: DmaAddr) -> Finding {
    Finding::new(
        &MANAGED_FREE_MISMATCH,
        "dmam_free_coherent of memory dmam_alloc_coherent did not allocate",
    )
    .with("dma_addr", Value::Addr(dma))
}
