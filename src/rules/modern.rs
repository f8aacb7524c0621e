//! Rules of the modern API (Linux 5.x to 6.x): managed (devres) memory, released with its
//! device and freed only by the managed calls; mappings of MMIO, which is not memory; and the
//! export of coherent buffers (`dma_get_sgtable`).

use super::declare_rules;
use crate::rules::{Finding, Value};
use crate::types::DmaAddr;

declare_rules! {
    family: "modern";

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

    /// `dma_map_resource` was given the physical address of RAM. It maps MMIO of another
    /// device (a BAR: no `struct page`, no cache maintenance, no bounce buffering); RAM is
    /// mapped with `dma_map_page` or `dma_map_phys`, which do what RAM needs. The map is
    /// refused, as the kernel refuses it.
    pub static MAP_RESOURCE_RAM = {
        id: "map-resource-ram",
        summary: "dma_map_resource of RAM instead of MMIO",
        level: Warn,
        seed: "Documentation/core-api/dma-api.rst, Linux 6.12 (dma_map_resource: for MMIO resources, \"should not be used for RAM\")",
        kernel: Some("dma_map_resource(): WARN_ON_ONCE(pfn_valid(PHYS_PFN(phys_addr))), then DMA_MAPPING_ERROR"),
    };

    /// `dma_get_sgtable` (how a driver exports a coherent buffer, to dma-buf say) named a CPU
    /// and DMA address that are not one live coherent allocation of the device, or a size
    /// beyond it: the table would describe pages the driver does not own. Refused with
    /// `-ENXIO`.
    pub static GET_SGTABLE_UNKNOWN = {
        id: "get-sgtable-unknown",
        summary: "dma_get_sgtable of memory that is not a live coherent buffer of the device",
        level: Warn,
        seed: "Documentation/core-api/dma-api.rst, Linux 6.12 (dma_get_sgtable: cpu_addr and dma_addr are what dma_alloc_attrs returned, size is what was asked for)",
        kernel: None,
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

/// RAM given to `dma_map_resource`.
pub(crate) fn resource_is_ram(phys: u64, size: u64) -> Finding {
    Finding::new(
        &MAP_RESOURCE_RAM,
        "the address is RAM, not MMIO: map it with dma_map_page or dma_map_phys",
    )
    .with("phys_addr", Value::Addr(phys))
    .with("size", Value::Num(size))
}

/// `dma_get_sgtable` of memory that is not a live coherent buffer of the device.
pub(crate) fn get_sgtable_unknown(dma: DmaAddr, size: u64) -> Finding {
    Finding::new(
        &GET_SGTABLE_UNKNOWN,
        "the addresses are not a live coherent allocation of this device (or size runs past it)",
    )
    .with("dma_addr", Value::Addr(dma))
    .with("size", Value::Num(size))
}
