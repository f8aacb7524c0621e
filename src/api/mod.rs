//! The DMA API, under its Linux names. Each call is a short sequence: describe the call as an
//! [`Event`], validate its arguments, carry it out on the backend, record it in the tracker
//! (where the rules judge it), and report what was found.
//!
//! All functions are `#[track_caller]`: the site of every entry and violation is the driver's
//! own call, at no cost.

use crate::backend::MapError;
use crate::device::Device;
use crate::event::{Event, Op};
use crate::faults::FaultKind;
use crate::rules;
use crate::rules::Findings;
use crate::tracker::Entry;
use crate::types::{Direction, DmaAddr, DmaAttrs, MapKind};

mod coherent;
mod heap;
mod iova;
mod limits;
mod managed;
mod modern;
mod sg;
mod sgtable;
mod streaming;
mod unchecked;

pub use coherent::*;
pub use heap::*;
pub use iova::{
    DmaIovaState, dma_iova_destroy, dma_iova_free, dma_iova_link, dma_iova_sync,
    dma_iova_try_alloc, dma_iova_unlink, dma_use_iova,
};
pub use limits::*;
pub(crate) use managed::keep;
#[cfg_attr(loom, allow(unused_imports))]
// only the C ABI, which loom builds leave out, uses it
pub(crate) use managed::release_devres;
pub use managed::{
    devm_kfree, devm_kmalloc, dmam_alloc_attrs, dmam_alloc_coherent, dmam_free_coherent,
};
pub use modern::*;
pub use sg::*;
pub use sgtable::*;
pub use streaming::*;

#[track_caller]
#[inline]
fn event(dev: &Device, op: Op, call: &'static str, kind: MapKind) -> Event {
    Event::new(op, call, kind, dev.id(), dev.checker().capture_site())
}

/// Report a refused map, finding out where memory that is not DMA-able came from.
fn report_refusal(dev: &Device, ev: &Event, err: &MapError, out: &mut Findings) {
    let origin = match *err {
        MapError::NotDmaMemory { cpu_addr } => {
            crate::origin::classify(&dev.checker().inner().vmalloc, cpu_addr)
        }
        _ => crate::origin::Origin::Unknown,
    };
    rules::map::check_refusal(ev, err, origin, out);
}

/// A failure injected into this call, as the backend refusing for want of memory.
fn injected_failure(dev: &Device, kind: FaultKind) -> Result<(), MapError> {
    let c = dev.checker().inner();
    if c.faults.should_fail(kind, dev.name()) {
        Err(MapError::OutOfMemory)
    } else {
        Ok(())
    }
}

#[track_caller]
#[inline]
fn release(dev: &Device, ev: &Event) {
    release_with(dev, ev, Findings::new());
}

/// [`release`], reporting `found` (what the caller found already) with the release's findings.
#[track_caller]
fn release_with(dev: &Device, ev: &Event, found: Findings) {
    let Some(admitted) = dev.admit_or_report(ev) else {
        return;
    };
    let c = dev.checker().inner();
    let mut out = found;
    if !ev.dir.is_valid() {
        rules::map::check_direction(ev, &mut out);
    }
    c.record_release_with(ev, &mut out, |entry, out| {
        carry_out_release(dev, entry, out);
    });
    drop(admitted);
    c.finish(ev, out);
}

/// Release what the entry says was made, whatever the call said: a mismatched release must not
/// leave the backend inconsistent. Reports guard bytes found overwritten.
fn carry_out_release(dev: &Device, e: &Entry, out: &mut Findings) {
    let params = dev.params_ref();
    // Only coherent buffers can be mapped into user space; don't take the lock for the rest.
    let user_mapped = || {
        let memory = dev.checker().memory();
        memory
            .phys_of_addr(e.cpu_addr, e.size)
            .is_ok_and(|phys| dev.checker().inner().user_maps.mapped(phys, phys + e.size))
    };
    rules::regions::check_free_unmapped(e, user_mapped, out);
    let released = match e.kind {
        // MMIO (`dma_map_resource`) took no backend mapping unless behind an IOMMU.
        MapKind::Page if e.attrs.contains(DmaAttrs::MMIO) && !modern::mmio_translated(dev) => {
            Ok(())
        }
        MapKind::Single | MapKind::Page | MapKind::Sg => dev
            .backend()
            .unmap(params, e.dma_addr, e.size, e.dir, e.attrs),
        MapKind::Coherent if crate::declared::free(dev, e.dma_addr) => Ok(()),
        MapKind::Coherent => dev.backend().free_coherent(params, e.dma_addr, e.size),
        MapKind::Noncoherent => return crate::noncoherent::release(dev, e, out),
    };
    if released.is_err() {
        out.push(rules::ownership::overrun(e));
    }
}

#[track_caller]
#[inline]
fn unmap_event(
    dev: &Device,
    call: &'static str,
    kind: MapKind,
    dma: DmaAddr,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
) -> Event {
    let mut ev = event(dev, Op::Unmap, call, kind);
    (ev.dma_addr, ev.size, ev.dir, ev.attrs) = (dma, size as u64, dir, attrs);
    ev
}

/// Whether the device's checker checks at all (`DMACHECK=off` turns it off).
#[inline]
fn checking(dev: &Device) -> bool {
    dev.checking()
}

#[cfg(test)]
mod tests {
    //! Small-memory round trips through the whole shim, sized to run under Miri too
    //! (`cargo +nightly miri test --lib`).

    use crate::*;

    fn small() -> Checker {
        Checker::builder()
            .env(false)
            .print(false)
            .memory(MemoryConfig {
                size: 20 << 20,
                phys_base: 1 << 20,
            })
            .build()
    }

    /// What a device sees at `dma`: the bytes behind the address, through the backend.
    fn device_view(checker: &Checker, dev: &Device, dma: DmaAddr, len: usize) -> Vec<u8> {
        let phys = checker
            .backend()
            .dma_to_phys(&dev.params(), dma)
            .expect("reachable");
        let cpu = checker
            .memory()
            .cpu_of(phys, len as u64)
            .expect("in memory");
        // SAFETY: `cpu` names `len` bytes of live memory inside the arena.
        unsafe { std::slice::from_raw_parts(cpu.as_ptr(), len).to_vec() }
    }

    #[test]
    fn mapped_bytes_are_what_the_device_reads_at_the_dma_address() {
        let checker = small();
        let dev = checker.device("dev").build();
        let buf = kzalloc(&checker, 100, Gfp::KERNEL);
        // SAFETY: buf is a live allocation of 100 bytes.
        unsafe { std::ptr::copy_nonoverlapping(b"hello".as_ptr(), buf, 5) };
        let dma = dma_map_single(&dev, buf, 100, Direction::ToDevice);
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        assert_ne!(
            dma,
            buf.addr() as u64,
            "the DMA address is not the CPU pointer"
        );
        assert_eq!(&device_view(&checker, &dev, dma, 5), b"hello");
        dma_unmap_single(&dev, dma, 100, Direction::ToDevice);
        kfree(&checker, buf);

        let mut handle = 0;
        let ring = dma_alloc_coherent(&dev, 300, &mut handle, Gfp::KERNEL);
        assert!(!ring.is_null());
        assert_eq!(device_view(&checker, &dev, handle, 300), vec![0; 300]);
        // SAFETY: ring is a live coherent allocation of at least 300 bytes.
        unsafe { ring.add(299).write(7) };
        assert_eq!(device_view(&checker, &dev, handle + 299, 1), [7]);
        dma_free_coherent(&dev, 300, ring, handle);

        let page = alloc_pages(&checker, Gfp::KERNEL, 1).unwrap();
        let dma = dma_map_page(&dev, page, PAGE_SIZE, 64, Direction::FromDevice);
        assert_eq!(dma_mapping_error(&dev, dma), 0);
        assert_eq!(
            checker
                .memory()
                .phys_of(page_address(page).wrapping_add(PAGE_SIZE), 64),
            Ok(dma)
        );
        dma_unmap_page(&dev, dma, 64, Direction::FromDevice);
        free_pages(&checker, page, 1);
        checker.assert_clean();
        assert_eq!(
            checker.memory().bytes_in_use(),
            PAGE_SIZE,
            "one slab page stays"
        );
    }
}
