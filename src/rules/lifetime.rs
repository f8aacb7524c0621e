//! Lifetimes: of devices, and of the memory behind DMA.

use std::collections::HashMap;

use smallvec::SmallVec;

use super::declare_rules;
use crate::rules::{Finding, Findings, Value};
use crate::site::Site;
use crate::tracker::Entry;
use crate::types::{DmaAddr, MapKind, PAGE_SIZE};

declare_rules! {
    family: "lifetime";

    /// A mapping or allocation is still live when its device is released (the driver unbinds)
    /// or when the checker is asked for leaks. Every map must be unmapped and every allocation
    /// freed before the device goes away; the report names where each leaked entry was made.
    /// The entries of one device made at one site (call site and stack) by one call are one
    /// violation: it counts them (each counted in the checker's counters), sums their bytes and
    /// lists the first four by address.
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

/// How many entries of a leak group its violation lists (address, size, direction).
pub(crate) const LEAK_EXAMPLES: usize = 4;

/// Leaked entries of one device made at one site (call site and stack) by one call.
pub(crate) struct LeakGroup {
    pub site: Site,
    pub kind: MapKind,
    /// The call that made its entries (one site makes one call).
    pub mapped_by: &'static str,
    pub entries: u64,
    pub bytes: u64,
    /// The [`LEAK_EXAMPLES`] entries of lowest address, in address order: (address, index
    /// into the grouped slice), the index breaking ties so that equal addresses (a buffer
    /// mapped twice) keep their order.
    examples: SmallVec<[(DmaAddr, usize); LEAK_EXAMPLES]>,
}

/// Group the leaked entries of one device (in any order) by the site and call that made them,
/// the groups in the order of their lowest address (then of their first entry).
pub(crate) fn group_leaks(leaked: &[Entry]) -> Vec<LeakGroup> {
    let mut index: HashMap<(Site, MapKind), usize, rustc_hash::FxBuildHasher> = HashMap::default();
    let mut groups: Vec<LeakGroup> = Vec::new();
    let mut last = usize::MAX;
    for (n, e) in leaked.iter().enumerate() {
        // Neighbours are mostly made by one loop: the last group first, no hash.
        let i = match groups.get(last) {
            Some(g) if g.site == e.site && g.kind == e.kind => last,
            _ => *index.entry((e.site, e.kind)).or_insert_with(|| {
                groups.push(LeakGroup {
                    site: e.site,
                    kind: e.kind,
                    mapped_by: e.mapped_by(),
                    entries: 0,
                    bytes: 0,
                    examples: SmallVec::new(),
                });
                groups.len() - 1
            }),
        };
        last = i;
        let g = &mut groups[i];
        g.entries += 1;
        g.bytes += e.size;
        // Keep the lowest addresses, sorted (entries come in table order, not address order):
        // most entries lie above a full group's highest listed one.
        let key = (e.dma_addr, n);
        let full = g.examples.len() == LEAK_EXAMPLES;
        if !full || g.examples.last().is_some_and(|&highest| key < highest) {
            let at = g.examples.partition_point(|&x| x < key);
            if full {
                g.examples.pop();
            }
            g.examples.insert(at, key);
        }
    }
    groups.sort_by_key(|g| g.examples[0]);
    groups
}

/// The `leak` findings of grouped entries (`leaked`, as [`group_leaks`] was given them): one
/// per group. A group of one entry is that entry's finding; a bigger one names its count and
/// bytes, stands for its entries (its [`count`](Finding::count)), and lists the
/// [`LEAK_EXAMPLES`] of lowest address. A release of a million entries made at a few sites
/// reports a few violations, each counting its entries.
pub(crate) fn leak_findings(groups: &[LeakGroup], leaked: &[Entry]) -> Findings {
    groups
        .iter()
        .map(|g| {
            let mut examples = g.examples.iter().map(|&(_, i)| &leaked[i]);
            if g.entries == 1 {
                return leak(examples.next().expect("a group has an entry"));
            }
            let mut f = Finding::new(&LEAK, group_message(g.kind, g.entries))
                .with("entries", Value::Num(g.entries))
                .with("bytes", Value::Num(g.bytes));
            for e in examples {
                f = f
                    .with("dma_addr", Value::Addr(e.dma_addr))
                    .with("size", Value::Num(e.size))
                    .with("dir", Value::Dir(e.dir));
            }
            f.mapped_at(&g.site, g.mapped_by).count(g.entries)
        })
        .collect()
}

/// The `leak` findings of the leaked entries of one device (see [`leak_findings`]).
pub(crate) fn leaks(leaked: &[Entry]) -> Findings {
    leak_findings(&group_leaks(leaked), leaked)
}

/// One leaked entry.
fn leak(e: &Entry) -> Finding {
    let message = match e.kind {
        MapKind::Coherent => "coherent allocation still live",
        MapKind::Single => "single mapping still live",
        MapKind::Page => "page mapping still live",
        MapKind::Sg => "sg segment mapping still live",
        MapKind::Noncoherent => "noncoherent allocation still live",
    };
    Finding::new(&LEAK, message)
        .with("dma_addr", Value::Addr(e.dma_addr))
        .with("size", Value::Num(e.size))
        .with("dir", Value::Dir(e.dir))
        .mapped_at(&e.site, e.mapped_by())
}

/// The message of a group of `n` (more than one) leaked entries of `kind`.
fn group_message(kind: MapKind, n: u64) -> String {
    let what = match kind {
        MapKind::Coherent => "coherent allocations",
        MapKind::Single => "single mappings",
        MapKind::Page => "page mappings",
        MapKind::Sg => "sg segment mappings",
        MapKind::Noncoherent => "noncoherent allocations",
    };
    if n as usize > LEAK_EXAMPLES {
        format!("{n} {what} still live (the first {LEAK_EXAMPLES} by address listed)")
    } else {
        format!("{n} {what} still live")
    }
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
