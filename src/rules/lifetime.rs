//! Lifetimes: of devices, and of the memory behind DMA.

use super::declare_rules;
use crate::rules::{Finding, Value};
use crate::tracker::Entry;

declare_rules! {
    family: "lifetime";

    /// A mapping or allocation is still live when its device is released (the driver unbinds)
    /// or when the checker is asked for leaks. Every map must be unmapped and every allocation
    /// freed before the device goes away; the report names where each leaked entry was made.
    pub static LEAK = {
        id: "leak",
        summary: "mapping or allocation still live at device release or leak check",
        level: Warn,
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Parts Ia and Id, every allocate and map has its free and unmap)",
        kernel: Some("dma_debug_device_change(): \"device driver has pending DMA allocations while released from device\""),
    };

    /// A DMA call names a device that was already released (a driver using its device after
    /// unbind). The call is refused: maps fail, releases and syncs do nothing.
    pub static DEVICE_RELEASED = {
        id: "device-released",
        summary: "DMA call on a device after it was released",
        level: Warn,
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ia, dev must be the device the memory was allocated for)",
        kernel: None,
    };

    /// A DMA call named no device dmacheck made: NULL, or (from C) a pointer that no
    /// `dmacheck_device_create` returned. The call is refused: maps fail, releases and syncs do
    /// nothing.
    pub static INVALID_DEVICE = {
        id: "invalid-device",
        summary: "DMA call on NULL or an unknown device",
        level: Warn,
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, every call names the device the memory is mapped for)",
        kernel: None,
    };

    /// `kfree`, `free_pages` or `__free_pages` was given memory that is not a live allocation of
    /// the DMA-able heap or page allocator: never allocated, already freed, or freed with another
    /// order. Nothing is freed.
    pub static INVALID_FREE = {
        id: "invalid-free",
        summary: "kfree or free_pages of memory that is not a live allocation",
        level: Warn,
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
