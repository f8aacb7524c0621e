//! Arguments of a map or sync call: direction, size, range, reachability by the device.

use super::declare_rules;
use crate::backend::MapError;
use crate::event::Event;
use crate::origin::Origin;
use crate::rules::{Finding, Findings, Value};
use crate::types::Direction;

declare_rules! {
    family: "map";

    /// `DMA_NONE` exists only for debugging; a map or sync must say which way data moves.
    /// The call is refused: a map returns `DMA_MAPPING_ERROR`, a sync does nothing. Pass
    /// `DMA_TO_DEVICE`, `DMA_FROM_DEVICE` or `DMA_BIDIRECTIONAL`.
    pub static DIRECTION_NONE = {
        id: "direction-none",
        summary: "DMA_NONE (or no valid direction) given to a map or sync call",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, the direction enumerator: DMA_NONE is for debugging)",
        kernel: Some("BUG_ON(!valid_dma_direction(dir)) in the map and sync wrappers"),
    };

    /// A mapping of zero bytes gives the device nothing to access and leaves the driver with an
    /// address that names no memory; it is almost always a length computed wrongly. dmacheck
    /// refuses it and returns `DMA_MAPPING_ERROR`.
    pub static MAP_ZERO_SIZE = {
        id: "map-zero-size",
        summary: "a map call of zero bytes",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, dma_map_single maps a piece of memory of <size> bytes)",
        kernel: None,
    };

    /// The buffer's end (CPU address or page offset plus size) does not fit in the address
    /// space: the size is garbage, often a negative length converted to `size_t`. The map is
    /// refused with `DMA_MAPPING_ERROR`.
    pub static MAP_RANGE_OVERFLOW = {
        id: "map-range-overflow",
        summary: "the mapped range wraps around the end of the address space",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, a mapping must be one contiguous piece of memory)",
        kernel: None,
    };

    /// Part of the buffer lies above the device's DMA mask, so the device cannot reach it. The
    /// direct backend has no bounce buffers: the map fails with `DMA_MAPPING_ERROR`, as Linux's
    /// dma-direct does without swiotlb. Allocate with `GFP_DMA`/`GFP_DMA32`, or set a wider
    /// mask if the hardware allows it.
    pub static MAP_ABOVE_MASK = {
        id: "map-above-mask",
        summary: "the buffer lies above the device's DMA mask",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, the physical address must lie within the device's dma_mask)",
        kernel: Some("dma-direct: \"DMA addr ... overflow mask\" warning when no swiotlb can bounce"),
    };

    /// The memory handed to a map call is not memory a device can reach: a null pointer, a
    /// pointer that did not come from the DMA-able heap or page allocator (`kmalloc`,
    /// `alloc_pages`) — the Rust heap, say — or a range running off its end. The map fails with
    /// `DMA_MAPPING_ERROR`. (Stack, read-only and `vmalloc` memory have rules of their own.)
    pub static MAP_INVALID_MEMORY = {
        id: "map-invalid-memory",
        summary: "null, foreign or out-of-range memory given to a map call",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, map memory from sources that guarantee physical contiguity, like kmalloc)",
        kernel: None,
    };

    /// The buffer lies on the calling thread's stack. Stacks are not DMA-able (in the kernel
    /// they may be virtually mapped, and the buffer dies with the function). Allocate it with
    /// `kmalloc`. The map fails with `DMA_MAPPING_ERROR`.
    pub static MAP_STACK_MEMORY = {
        id: "map-stack-memory",
        summary: "a map of memory on the thread's stack",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, map only memory from sources that guarantee physical contiguity, like kmalloc); Documentation/DMA-mapping.txt, Linux 2.4.4 (What memory is DMA'able?: no vmalloc, kernel image or stack addresses)",
        kernel: Some("check_for_stack(): \"device driver maps memory from stack\""),
    };

    /// The buffer lies in the program's code or read-only data (a `static` table, a string
    /// literal). Copy it into a `kmalloc` buffer first. The map fails with `DMA_MAPPING_ERROR`.
    pub static MAP_RODATA_MEMORY = {
        id: "map-rodata-memory",
        summary: "a map of code or read-only data",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, map only memory from sources that guarantee physical contiguity, like kmalloc); Documentation/DMA-mapping.txt, Linux 2.4.4 (What memory is DMA'able?: no vmalloc, kernel image or stack addresses)",
        kernel: Some("check_for_illegal_area(): \"device driver maps memory from kernel text or rodata\""),
    };

    /// The buffer came from `vmalloc`, which is only virtually contiguous: no single DMA
    /// address covers it. Use `kmalloc`/`alloc_pages`, or map its pages one by one (an sg
    /// list). The map fails with `DMA_MAPPING_ERROR`.
    pub static MAP_VMALLOC_MEMORY = {
        id: "map-vmalloc-memory",
        summary: "a map of vmalloc memory",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, memory that is not physically contiguous cannot be mapped by this API)",
        kernel: Some("debug_dma_map_single(): \"device driver maps memory from vmalloc area\""),
    };
}

/// The direction of a map or sync is usable; reports it otherwise.
#[inline]
pub(crate) fn check_direction(ev: &Event, out: &mut Findings) -> bool {
    if ev.dir.is_valid() {
        return true;
    }
    direction_none(ev, out);
    false
}

/// The finding of [`check_direction`], out of the calls' line (most calls pass).
#[cold]
#[inline(never)]
fn direction_none(ev: &Event, out: &mut Findings) {
    let finding = match GIVEN_DIRECTION.with(|given| given.get()) {
        Some(raw) => Finding::new(
            &DIRECTION_NONE,
            format!(
                "{} called with direction {raw}, no enum dma_data_direction value (taken as DMA_NONE)",
                ev.call
            ),
        )
        .with("dir", Value::Dir(Direction::None))
        .with("raw_dir", Value::Text(raw.to_string())),
        None => Finding::new(&DIRECTION_NONE, format!("{} called with DMA_NONE", ev.call))
            .with("dir", Value::Dir(Direction::None)),
    };
    out.push(finding);
}

// The value a C caller gave as a direction when it is none of `enum dma_data_direction`'s (the
// C ABI calls it `DMA_NONE`), so the report shows what was passed.
crate::sync::thread_local_const! {
    static GIVEN_DIRECTION: std::cell::Cell<Option<i64>> = std::cell::Cell::new(None);
}

/// Remember the raw direction of this thread's C call (`None`: a valid one, or the call ended).
#[cfg_attr(loom, allow(dead_code))] // only the C ABI, which loom builds leave out, calls it
pub(crate) fn set_given_direction(raw: Option<i64>) {
    GIVEN_DIRECTION.with(|given| given.set(raw));
}

/// The size and range of a map are usable; reports them otherwise. `base` is the start of the
/// range in the caller's terms (CPU address, or page offset).
#[inline]
pub(crate) fn check_map_range(ev: &Event, base: u64, out: &mut Findings) -> bool {
    if ev.size != 0 && base.checked_add(ev.size).is_some() {
        return true;
    }
    bad_map_range(ev, base, out);
    false
}

/// The finding of [`check_map_range`], out of the calls' line.
#[cold]
#[inline(never)]
fn bad_map_range(ev: &Event, base: u64, out: &mut Findings) {
    if ev.size == 0 {
        out.push(
            Finding::new(&MAP_ZERO_SIZE, "mapping of zero bytes refused")
                .with("size", Value::Num(0)),
        );
        return;
    }
    if base.checked_add(ev.size).is_none() {
        out.push(
            Finding::new(&MAP_RANGE_OVERFLOW, "the end of the range overflows")
                .with("start", Value::Addr(base))
                .with("size", Value::Num(ev.size)),
        );
    }
}

/// The direction, size and range of a recorded map (whose DMA address is its start) are
/// usable; reports them otherwise.
pub(crate) fn check_map_args(ev: &Event, out: &mut Findings) -> bool {
    check_direction(ev, out) && check_map_range(ev, ev.dma_addr, out)
}

/// Report why the backend refused a mapping, where the refusal is the driver's fault. `origin`
/// says where memory that is not DMA-able came from.
pub(crate) fn check_refusal(ev: &Event, err: &MapError, origin: Origin, out: &mut Findings) {
    match *err {
        MapError::NullPointer => out.push(
            Finding::new(&MAP_INVALID_MEMORY, "null pointer").with("size", Value::Num(ev.size)),
        ),
        MapError::NotDmaMemory { cpu_addr } => {
            let (rule, message) = match origin {
                Origin::Stack => (&MAP_STACK_MEMORY, "memory on the thread's stack"),
                Origin::ReadOnly => (&MAP_RODATA_MEMORY, "code or read-only data"),
                Origin::Vmalloc => (
                    &MAP_VMALLOC_MEMORY,
                    "vmalloc memory (only virtually contiguous)",
                ),
                Origin::Unknown => (
                    &MAP_INVALID_MEMORY,
                    "memory not from the DMA-able heap or page allocator (or running past its end)",
                ),
            };
            out.push(
                Finding::new(rule, message)
                    .with("cpu_addr", Value::Addr(cpu_addr))
                    .with("size", Value::Num(ev.size)),
            );
        }
        MapError::AboveMask { dma_end, mask } => out.push(
            Finding::new(&MAP_ABOVE_MASK, "buffer above the device's DMA mask")
                .with("dma_end", Value::Addr(dma_end))
                .with("size", Value::Num(ev.size))
                .with("mask", Value::Addr(mask)),
        ),
        // Running out of memory is the platform's answer, not a misuse.
        MapError::OutOfMemory => {}
    }
}

/// The size of an allocation is usable; reports it otherwise.
pub(crate) fn check_alloc_size(size: usize, out: &mut Findings) -> bool {
    if size != 0 {
        return true;
    }
    out.push(
        Finding::new(&MAP_ZERO_SIZE, "allocation of zero bytes refused")
            .with("size", Value::Num(0)),
    );
    false
}
