//! Lifetimes: of devices, and of the memory behind DMA.

use super::declare_rules;
use crate::rules::{Finding, Value};
use crate::site::Site;
use crate::tracker::Entry;
use crate::types::PAGE_SIZE;

declare_rules! {
    family: "lifetime";

    /// A mapping or allocation is still live when its device is released (the driver unbinds)
    /// or when the checker is asked for leaks. Every map must be unmapped and every allocation
    /// freed before the device goes away; the report names where each leaked entry was made.
    pub static LEAK = {
        id: "leak",
        summary: "mapping or allocation still live at device release or leak check",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Parts Ia and Id, every allocate and map has its free and unmap)",
        kernel: Some("dma_debug_device_change(): \"device driver has pending DMA allocations while released from device\""),
    };

    /// A DMA call names a device that was already released (a driver using its device after
    /// unbind). The call is refused: maps fail, releases and syncs do nothing.
    pub static DEVICE_RELEASED = {
        id: "device-released",
        summary: "DMA call on a device after it was released",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ia, dev must be the device the memory was allocated for)",
        kernel: None,
    };

    /// A DMA call named no device dmacheck made: NULL, or (from C) a pointer that no
    /// `dmacheck_device_create` returned, unless the program's own `struct device` pointers are
    /// registered (then: one that cannot be a structure, or that the program's hook refused).
    /// The call is refused: maps fail, setters return `-EIO`, releases and syncs do nothing.
    pub static INVALID_DEVICE = {
        id: "invalid-device",
        summary: "DMA call on NULL or an unknown device",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, every call names the device the memory is mapped for)",
        kernel: None,
    };

    /// A DMA pool call named no pool (from C): NULL, or a pointer that `dma_pool_create` did
    /// not return. Nothing is allocated or freed. (`dma_pool_destroy(NULL)` does nothing, as in
    /// the kernel.)
    pub static INVALID_POOL = {
        id: "invalid-pool",
        summary: "DMA pool call on NULL or an unknown pool",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ib, every pool call names a pool dma_pool_create returned)",
        kernel: None,
    };

    /// `kfree`, `free_pages` or `__free_pages` was given memory that is not a live allocation of
    /// the DMA-able heap or page allocator: never allocated, already freed, or freed with another
    /// order. Nothing is freed.
    pub static INVALID_FREE = {
        id: "invalid-free",
        summary: "kfree or free_pages of memory that is not a live allocation",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, DMA memory comes from kmalloc and the page allocator)",
        kernel: None,
    };
}

/// A call on a device that cannot take it: released, or no device at all.
pub(crate) fn released(invalid_device: bool) -> Finding {
    if invalid_device {
        Finding::new(
            &INVALID_DEVICE,
            "the call names no known device (NULL or a bogus pointer)",
        )
    } else {
        Finding::new(&DEVICE_RELEASED, "the device was already released")
    }
}

/// A DMA pool its driver never destroyed, found when its device is released.
#[cfg_attr(loom, allow(dead_code))] // only the C ABI, which loom builds leave out, calls it
pub(crate) fn pool_never_destroyed(name: &str, busy: usize) -> Finding {
    Finding::new(
        &LEAK,
        format!("DMA pool {name:?} was never destroyed ({busy} block(s) allocated)"),
    )
    .with("pool", Value::Text(name.to_string()))
    .with("busy", Value::Num(busy as u64))
}

/// A leaked entry.
pub(crate) fn leak(e: &Entry) -> Finding {
    // Whole literals, not a format: a device release reports a million of these.
    let message = match e.kind {
        crate::MapKind::Coherent => "coherent allocation still live",
        crate::MapKind::Single => "single mapping still live",
        crate::MapKind::Page => "page mapping still live",
        crate::MapKind::Sg => "sg segment mapping still live",
        crate::MapKind::Noncoherent => "noncoherent allocation still live",
    };
    Finding::new(&LEAK, message)
        .with("dma_addr", Value::Addr(e.dma_addr))
        .with("size", Value::Num(e.size))
        .with("dir", Value::Dir(e.dir))
        .mapped_at(&e.site, e.kind.map_call())
}

/// An allocation of `pages` CMA pages at `pfn`, made at `site`, still live at its device's
/// release.
pub(crate) fn cma_leak(pfn: u64, pages: u64, site: &Site) -> Finding {
    Finding::new(&LEAK, format!("{pages} CMA pages still allocated"))
        .with("pfn", Value::Addr(pfn))
        .with("size", Value::Num(pages * PAGE_SIZE as u64))
        .mapped_at(site, "dma_alloc_from_contiguous")
}

/// A free of `cpu_addr`, which the heap refused (`why`).
pub(crate) fn invalid_free(why: &dyn std::fmt::Display, cpu_addr: u64) -> Finding {
    Finding::new(&INVALID_FREE, why.to_string()).with("cpu_addr", Value::Addr(cpu_addr))
}

/// A pool call on a pointer `dma_pool_create` did not return (or NULL).
#[cfg_attr(loom, allow(dead_code))] // only the C ABI, which loom builds leave out, calls it
pub(crate) fn invalid_pool(pool: u64) -> Finding {
    Finding::new(
        &INVALID_POOL,
        "the call names no pool (NULL or a pointer dma_pool_create did not return)",
    )
    .with("pool", Value::Addr(pool))
}
