//! Who may touch DMA memory, and when: the device through its mappings only, the CPU only while
//! it owns a streaming buffer, neither past the end. The kernel cannot see any of this; the
//! device model and the ownership tracking make it visible.

use super::declare_rules;
use crate::event::{Event, Op};
use crate::rules::{Finding, Findings, Value};
use crate::tracker::{Entry, Tombstone};
use crate::types::{Direction, MapKind};

declare_rules! {
    family: "ownership";

    /// The device accessed an address that no live mapping of its own covers — an IOMMU fault
    /// on real hardware, silent corruption without one. Often the driver handed the device a
    /// CPU pointer instead of the DMA address (the report says so when the address is one).
    /// The access is refused.
    pub static DEVICE_ACCESS_UNMAPPED = {
        id: "device-access-unmapped",
        summary: "device access to an address not mapped for it",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, the device accesses memory through the handle the map returns)",
        kernel: None,
    };

    /// The device accessed a mapping after it was unmapped or freed: the memory may already
    /// belong to someone else. The access is refused.
    pub static DEVICE_ACCESS_AFTER_UNMAP = {
        id: "device-access-after-unmap",
        summary: "device access to a mapping already unmapped or freed",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, dma_unmap_single ends the device's access)",
        kernel: None,
    };

    /// A device access starts inside a mapping but runs past its end. The access is refused.
    pub static DEVICE_ACCESS_OVERRUN = {
        id: "device-access-overrun",
        summary: "device access running past the end of its mapping",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Parts Ia and Id, a mapping covers <size> bytes)",
        kernel: None,
    };

    /// The device wrote a `DMA_TO_DEVICE` mapping or read a `DMA_FROM_DEVICE` one. Map with
    /// the direction the device really uses (`DMA_BIDIRECTIONAL` if both). The access is refused,
    /// as an IOMMU with permission bits refuses it.
    pub static DEVICE_ACCESS_DIRECTION = {
        id: "device-access-direction",
        summary: "device writes a TO_DEVICE mapping or reads a FROM_DEVICE one",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, TO_DEVICE memory is read-only for the device, FROM_DEVICE memory is the device's to write)",
        kernel: None,
    };

    /// The device accessed a streaming mapping the CPU owns (after `dma_sync_*_for_cpu`, before
    /// `dma_sync_*_for_device`). On non-coherent hardware the CPU's caches and the device
    /// disagree here. The access is carried out.
    pub static DEVICE_ACCESS_CPU_OWNED = {
        id: "device-access-cpu-owned",
        summary: "device access to a streaming mapping the CPU owns",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, memory is synced before it is handed to the device)",
        kernel: None,
    };

    /// The CPU changed a streaming buffer while the device owned it (between the map or
    /// `dma_sync_*_for_device` and the next sync for the CPU or unmap). The device may have
    /// seen the old bytes; on non-coherent hardware the CPU's write can also be lost. Reported
    /// at the hand-back, naming the hand-off.
    pub static CPU_WRITE_DEVICE_OWNED = {
        id: "cpu-write-device-owned",
        summary: "CPU wrote a streaming buffer while the device owned it",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, sync for the device after the last modification by the CPU)",
        kernel: None,
    };

    /// The CPU accessed a streaming buffer through a checked accessor while the device owned it:
    /// a write, or a read of memory the device may write. Sync for the CPU first: without it
    /// the CPU reads stale data (with bounce buffering, it really does).
    pub static CPU_ACCESS_DEVICE_OWNED = {
        id: "cpu-access-device-owned",
        summary: "CPU access to a streaming buffer the device owns",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, sync for the CPU before reading what the device may have changed)",
        kernel: None,
    };

    /// The guard bytes after a bounce slot were overwritten by the time it was unmapped:
    /// something wrote past the end of the mapping on the device's side.
    pub static BOUNCE_OVERRUN = {
        id: "bounce-overrun",
        summary: "write past the end of a bounce-buffered mapping",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Id, a mapping covers <size> bytes)",
        kernel: None,
    };

    /// In trap mode, the CPU read or wrote past the end of a DMA-able heap buffer through a
    /// plain pointer: the buffer is placed against the end of its pages, so the first byte
    /// past it lies in a guard page, and the faulting instruction is reported.
    pub static CPU_ACCESS_OVERRUN = {
        id: "cpu-access-overrun",
        summary: "CPU access past the end of a DMA-able heap buffer (trap mode)",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ia, the allocation is a region of <size> bytes)",
        kernel: None,
    };

    /// The guard bytes after a coherent allocation were overwritten by the time it was freed:
    /// the CPU (or something else) wrote past its end.
    pub static COHERENT_OVERRUN = {
        id: "coherent-overrun",
        summary: "write past the end of a coherent allocation",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ia, the allocation is a region of <size> bytes)",
        kernel: None,
    };
}

/// Whether ownership applies to the entry: streaming mappings only.
pub(crate) fn is_streaming(e: &Entry) -> bool {
    e.kind != MapKind::Coherent
}

/// At a hand-back to the CPU (sync for CPU, unmap): did the CPU change the bytes while the
/// device owned them? `now` is the fingerprint of the CPU's bytes before any copy-back.
#[inline]
pub(crate) fn check_handback(e: &Entry, now: Option<u64>, out: &mut Findings) {
    let changed = e.digest.zip(now).is_some_and(|(before, now)| before != now);
    if is_streaming(e) && (e.cpu_wrote || changed) {
        cpu_wrote_device_owned(e, out);
    }
}

/// The finding of [`check_handback`], out of the calls' line.
#[cold]
#[inline(never)]
fn cpu_wrote_device_owned(e: &Entry, out: &mut Findings) {
    out.push(
        Finding::new(
            &CPU_WRITE_DEVICE_OWNED,
            "the buffer changed on the CPU side while the device owned it",
        )
        .with("dma_addr", Value::Addr(e.dma_addr))
        .with("size", Value::Num(e.size))
        .with("dir", Value::Dir(e.dir))
        .mapped_at(&e.site, e.mapped_by())
        .related("handed to the device at", &e.handed_at),
    );
}

/// Judge a device access of `len` bytes at the event's address against the mapping that
/// contains its start. Returns whether the access may be carried out.
pub(crate) fn check_device_access(ev: &Event, e: &Entry, out: &mut Findings) -> bool {
    let write = ev.op == Op::DeviceWrite;
    let what = if write { "write" } else { "read" };
    let with_entry = |f: Finding| {
        f.with("dma_addr", Value::Addr(ev.dma_addr))
            .with("size", Value::Num(ev.size))
            .mapped_at(&e.site, e.mapped_by())
    };
    let end = ev.dma_addr.checked_add(ev.size);
    if end.is_none_or(|end| end > e.dma_addr.saturating_add(e.size)) {
        out.push(
            with_entry(Finding::new(
                &DEVICE_ACCESS_OVERRUN,
                format!("device {what} runs past the end of the mapping"),
            ))
            .with("mapped_dma_addr", Value::Addr(e.dma_addr))
            .with("mapped_size", Value::Num(e.size)),
        );
        return false;
    }
    if !is_streaming(e) {
        return true;
    }
    let forbidden = match (write, e.dir) {
        (true, Direction::ToDevice) => Some("device write to a TO_DEVICE mapping"),
        (false, Direction::FromDevice) => Some("device read of a FROM_DEVICE mapping"),
        _ => None,
    };
    if let Some(message) = forbidden {
        out.push(
            with_entry(Finding::new(&DEVICE_ACCESS_DIRECTION, message))
                .with("mapped_dir", Value::Dir(e.dir)),
        );
        return false;
    }
    let rel_start = ev.dma_addr - e.dma_addr;
    if e.cpu_ranges.overlaps(rel_start, rel_start + ev.size.max(1)) {
        out.push(with_entry(Finding::new(
            &DEVICE_ACCESS_CPU_OWNED,
            format!("device {what} while the CPU owns the buffer (no sync for the device since the sync for the CPU)"),
        )));
    }
    true
}

/// A device access that found no mapping of its device.
pub(crate) fn check_device_access_missing(
    ev: &Event,
    tomb: Option<&Tombstone>,
    is_cpu_pointer: bool,
    out: &mut Findings,
) {
    let f = match tomb {
        Some(t) => Finding::new(
            &DEVICE_ACCESS_AFTER_UNMAP,
            format!("the mapping was released by {}", t.released_by),
        )
        .mapped_at(&t.mapped_at, t.mapped_by)
        .related("released at", &t.released_at),
        None if ev.dma_addr == crate::types::DMA_MAPPING_ERROR => Finding::new(
            &DEVICE_ACCESS_UNMAPPED,
            "the address is DMA_MAPPING_ERROR: the driver gave the device a failed mapping",
        ),
        None if is_cpu_pointer => Finding::new(
            &DEVICE_ACCESS_UNMAPPED,
            "the address is a CPU pointer, not a DMA address: the device was given the wrong one",
        ),
        None => Finding::new(
            &DEVICE_ACCESS_UNMAPPED,
            "no mapping of this device covers the address",
        ),
    };
    out.push(
        f.with("dma_addr", Value::Addr(ev.dma_addr))
            .with("size", Value::Num(ev.size)),
    );
}

/// A checked CPU access to memory a mapping covers.
pub(crate) fn check_cpu_access(ev: &Event, e: &Entry, out: &mut Findings) {
    let cpu = ev.cpu_addr.unwrap_or(0);
    let rel_start = cpu.saturating_sub(e.cpu_addr);
    let rel_end = (rel_start + ev.size).min(e.size);
    if !is_streaming(e) || e.cpu_ranges.covers(rel_start, rel_end) {
        return;
    }
    let write = ev.op == Op::CpuWrite;
    // Reading a buffer the device only reads is harmless; anything else races the device.
    if !write && e.dir == Direction::ToDevice {
        return;
    }
    let what = if write { "write" } else { "read" };
    out.push(
        Finding::new(
            &CPU_ACCESS_DEVICE_OWNED,
            format!("CPU {what} while the device owns the buffer (no sync for the CPU since it was handed over)"),
        )
        .with("cpu_addr", Value::Addr(ev.cpu_addr.unwrap_or(0)))
        .with("size", Value::Num(ev.size))
        .with("dma_addr", Value::Addr(e.dma_addr))
        .with("dir", Value::Dir(e.dir))
        .mapped_at(&e.site, e.mapped_by())
        .related("handed to the device at", &e.handed_at),
    );
}

/// Guard bytes found overwritten when an entry was released.
pub(crate) fn overrun(e: &Entry) -> Finding {
    let (rule, message) = if e.kind == MapKind::Coherent {
        (
            &COHERENT_OVERRUN,
            "the guard bytes after the allocation were overwritten",
        )
    } else {
        (
            &BOUNCE_OVERRUN,
            "the guard bytes after the bounce slot were overwritten",
        )
    };
    Finding::new(rule, message)
        .with("dma_addr", Value::Addr(e.dma_addr))
        .with("size", Value::Num(e.size))
        .mapped_at(&e.site, e.mapped_by())
}

/// A plain-pointer CPU access (`write` or read) by the instruction at `ip` of the guard page at
/// `addr` after a `kmalloc` buffer (`buffer`: its address and size, when known).
#[cfg_attr(loom, allow(dead_code))] // only the C ABI, which loom builds leave out, calls it
pub(crate) fn kmalloc_overrun(
    write: bool,
    addr: usize,
    ip: usize,
    buffer: Option<(usize, usize)>,
) -> Finding {
    let what = if write { "write" } else { "read" };
    let mut f = Finding::new(
        &CPU_ACCESS_OVERRUN,
        format!("CPU {what} past the end of a kmalloc buffer"),
    )
    .with("cpu_addr", Value::Addr(addr as u64))
    .with("instruction", Value::Addr(ip as u64));
    if let Some((ptr, size)) = buffer {
        f = f
            .with("buffer", Value::Addr(ptr as u64))
            .with("size", Value::Num(size as u64))
            .with("offset", Value::Num((addr - ptr) as u64));
    }
    f
}
