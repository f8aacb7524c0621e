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
    /// `WARN_ON(devres_destroy(...))` in `dmam_free_coherent`; the memory is freed either way),
    /// or a `devm_kfree` of memory `devm_kmalloc` did not allocate for the device (the same
    /// warning in `devm_kfree`, which then leaves the memory alone, as dmacheck does).
    pub static MANAGED_FREE_MISMATCH = {
        id: "managed-free-mismatch",
        summary: "managed memory freed with the unmanaged call, or the reverse",
        seed: "Documentation/driver-api/driver-model/devres.rst, Linux 6.12 (managed interfaces: dmam_alloc_coherent, dmam_free_coherent, devm_kmalloc, devm_kfree)",
        kernel: Some("dmam_free_coherent(): WARN_ON(devres_destroy(dev, dmam_release, dmam_match, &match_data))"),
    };

    /// `dma_map_resource` was given the physical address of RAM. It maps MMIO of another
    /// device (a BAR: no `struct page`, no cache maintenance, no bounce buffering); RAM is
    /// mapped with `dma_map_page` or `dma_map_phys`, which do what RAM needs. The map is
    /// refused, as the kernel refuses it.
    pub static MAP_RESOURCE_RAM = {
        id: "map-resource-ram",
        summary: "dma_map_resource of RAM instead of MMIO",
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
        seed: "Documentation/core-api/dma-api.rst, Linux 6.12 (dma_get_sgtable: cpu_addr and dma_addr are what dma_alloc_attrs returned, size is what was asked for)",
        kernel: None,
    };

    /// An IOVA call (`dma_iova_link`, `_sync`, `_unlink`, `_destroy`, `_free`) named a state
    /// that `dma_iova_try_alloc` did not allocate for the device, or that was freed. (Where
    /// `dma_iova_try_alloc` returns false, `dma_use_iova` is false and the streaming calls are
    /// the way.) Nothing is done.
    pub static IOVA_NOT_ALLOCATED = {
        id: "iova-not-allocated",
        summary: "IOVA call on a state dma_iova_try_alloc did not allocate",
        seed: "Documentation/core-api/dma-api.rst, Linux 6.17 (Part Ie, IOVA-based DMA mappings: the state from dma_iova_try_alloc is kept until unmap time)",
        kernel: None,
    };

    /// `dma_iova_link` (or `dma_iova_sync`) reaches past the space `dma_iova_try_alloc`
    /// allocated, or links memory at another offset within its page than the space's address
    /// has there (the IOMMU maps whole pages, so the two must agree). Refused.
    pub static IOVA_LINK_OUT_OF_RANGE = {
        id: "iova-link-out-of-range",
        summary: "dma_iova_link outside the allocated IOVA space, or misaligned in it",
        seed: "Documentation/core-api/dma-api.rst, Linux 6.17 (Part Ie, dma_iova_link maps into the IOVA space at offset)",
        kernel: None,
    };

    /// `dma_iova_link` over I/O pages a live link of the same space uses: the second mapping
    /// would replace the first one's pages under the device. Refused.
    pub static IOVA_LINK_OVERLAP = {
        id: "iova-link-overlap",
        summary: "dma_iova_link over pages already linked",
        seed: "Documentation/core-api/dma-api.rst, Linux 6.17 (Part Ie, each range of the IOVA space is linked once)",
        kernel: None,
    };

    /// `dma_iova_unlink` (or `dma_iova_destroy`'s `mapped_len`) cuts through a link: unlinks
    /// end links, whole. The cut link stays linked.
    pub static IOVA_UNLINK_PARTIAL = {
        id: "iova-unlink-partial",
        summary: "dma_iova_unlink of part of a link",
        seed: "Documentation/core-api/dma-api.rst, Linux 6.17 (Part Ie, dma_iova_unlink undoes dma_iova_link calls)",
        kernel: None,
    };

    /// `dma_iova_free` (or `dma_iova_destroy`, past `mapped_len`) of a space with live links:
    /// `dma_iova_free` is for a space nothing is linked in, `dma_iova_destroy` unlinks exactly
    /// `mapped_len` bytes. The links are reported and ended.
    pub static IOVA_FREE_LINKED = {
        id: "iova-free-linked",
        summary: "IOVA space freed with links still live",
        seed: "Documentation/core-api/dma-api.rst, Linux 6.17 (Part Ie, dma_iova_destroy unlinks mapped_len bytes and frees; dma_iova_free frees a space with nothing linked)",
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

/// `devm_kfree` of memory no `devm_kmalloc` of the device allocated (left allocated).
pub(crate) fn devm_kfree_unmanaged(ptr: u64) -> Finding {
    Finding::new(
        &MANAGED_FREE_MISMATCH,
        "devm_kfree of memory devm_kmalloc did not allocate for this device (not freed)",
    )
    .with("cpu_addr", Value::Addr(ptr))
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

/// `dma_iova_try_alloc` of zero bytes (the kernel's `WARN_ON_ONCE(!size)`).
pub(crate) fn iova_zero_size() -> Finding {
    Finding::new(&super::MAP_ZERO_SIZE, "an IOVA space of zero bytes").with("size", Value::Num(0))
}

/// A `dma_iova_link` past its space, or at an offset in its page other than the memory's.
pub(crate) fn iova_link_out_of_range(
    offset_in_page_differs: bool,
    offset: u64,
    size: u64,
    space_size: u64,
) -> Finding {
    Finding::new(
        &IOVA_LINK_OUT_OF_RANGE,
        if offset_in_page_differs {
            "the memory's offset in its page differs from the IOVA's"
        } else {
            "the link reaches past the allocated space"
        },
    )
    .with("offset", Value::Num(offset))
    .with("size", Value::Num(size))
    .with("space_size", Value::Num(space_size))
}

/// A `dma_iova_sync` of a range past its space.
pub(crate) fn iova_sync_out_of_range(offset: u64, size: u64) -> Finding {
    Finding::new(
        &IOVA_LINK_OUT_OF_RANGE,
        "the range reaches past the allocated space",
    )
    .with("offset", Value::Num(offset))
    .with("size", Value::Num(size))
}

/// A `dma_iova_link` sharing I/O pages with the live link at `linked_offset`.
pub(crate) fn iova_link_overlap(offset: u64, linked_offset: u64, linked_size: u64) -> Finding {
    Finding::new(
        &IOVA_LINK_OVERLAP,
        "the link shares I/O pages with a live link",
    )
    .with("offset", Value::Num(offset))
    .with("linked_offset", Value::Num(linked_offset))
    .with("linked_size", Value::Num(linked_size))
}

/// A state whose address is no IOVA space of the device.
pub(crate) fn iova_not_allocated(dma_addr: DmaAddr, size: u64) -> Finding {
    Finding::new(
        &IOVA_NOT_ALLOCATED,
        "no IOVA space of this device is at the state's address",
    )
    .with("dma_addr", Value::Addr(dma_addr))
    .with("size", Value::Num(size))
}

/// A `dma_iova_unlink` whose range cuts through the link at `linked_offset`.
pub(crate) fn iova_unlink_partial(
    offset: u64,
    size: u64,
    linked_offset: u64,
    linked_size: u64,
) -> Finding {
    Finding::new(&IOVA_UNLINK_PARTIAL, "the range cuts through a link")
        .with("offset", Value::Num(offset))
        .with("size", Value::Num(size))
        .with("linked_offset", Value::Num(linked_offset))
        .with("linked_size", Value::Num(linked_size))
}

/// A `dma_iova_free`/`destroy` of a space with the link at `offset` still live.
pub(crate) fn iova_free_linked(offset: u64, size: u64) -> Finding {
    Finding::new(&IOVA_FREE_LINKED, "a link of the space is still live")
        .with("offset", Value::Num(offset))
        .with("size", Value::Num(size))
}
