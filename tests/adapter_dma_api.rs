//! dma-api's `DmaOp`, checked: `CheckedDmaOp` wraps a simple heap-backed implementation and
//! records every call in dmacheck.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::num::NonZeroUsize;
use std::ptr::NonNull;

use dma_api::{
    DeviceDma, DmaAddr, DmaAllocHandle, DmaCoherency, DmaConstraints, DmaDeviceInfo, DmaDirection,
    DmaDomainId, DmaError, DmaMapHandle, DmaOp,
};
use dmacheck::adapters::dma_api::CheckedDmaOp;
use dmacheck::{Checker, Device, rules};

/// A platform op for tests: heap memory, DMA address = CPU address, no cache maintenance.
struct HeapOp;

impl DmaOp for HeapOp {
    fn page_size(&self) -> usize {
        4096
    }

    unsafe fn alloc_contiguous(
        &self,
        _constraints: DmaConstraints,
        layout: Layout,
    ) -> Option<DmaAllocHandle> {
        // SAFETY: dma-api never asks for a zero-sized layout.
        let p = NonNull::new(unsafe { alloc_zeroed(layout) })?;
        // SAFETY: a live allocation of `layout`, its address as the DMA address.
        Some(unsafe { DmaAllocHandle::new(p, p, DmaAddr::from(p.as_ptr() as u64), layout) })
    }

    unsafe fn dealloc_contiguous(&self, handle: DmaAllocHandle) {
        // SAFETY: allocated by alloc_contiguous with this layout.
        unsafe { dealloc(handle.allocation_ptr().as_ptr(), handle.layout()) }
    }

    unsafe fn alloc_coherent(
        &self,
        constraints: DmaConstraints,
        layout: Layout,
    ) -> Option<DmaAllocHandle> {
        // SAFETY: forwarded.
        unsafe { self.alloc_contiguous(constraints, layout) }
    }

    unsafe fn dealloc_coherent(&self, handle: DmaAllocHandle) -> Result<(), DmaError> {
        // SAFETY: forwarded.
        unsafe { self.dealloc_contiguous(handle) };
        Ok(())
    }

    unsafe fn map_streaming(
        &self,
        _constraints: DmaConstraints,
        addr: NonNull<u8>,
        size: NonZeroUsize,
        _direction: DmaDirection,
    ) -> Result<DmaMapHandle, DmaError> {
        let layout = Layout::from_size_align(size.get(), 1)?;
        // SAFETY: the caller's buffer, its address as the DMA address, no bounce buffer.
        Ok(unsafe { DmaMapHandle::new(addr, DmaAddr::from(addr.as_ptr() as u64), layout, None) })
    }

    unsafe fn unmap_streaming(&self, _handle: DmaMapHandle) {}
}

fn setup(coherency: DmaCoherency) -> (Checker, Device, &'static CheckedDmaOp<HeapOp>, DeviceDma) {
    let checker = Checker::builder().env(false).print(false).build();
    let dev = checker.device("dma-api-dev").driver("dma-api").build();
    let op: &'static CheckedDmaOp<HeapOp> = Box::leak(Box::new(CheckedDmaOp::new(HeapOp, &dev)));
    let info = DmaDeviceInfo::new(
        DmaDomainId::Direct,
        coherency,
        DmaConstraints::new(u64::MAX),
    );
    let dma = DeviceDma::new(info, op);
    (checker, dev, op, dma)
}

fn fired(checker: &Checker) -> Vec<&'static str> {
    checker.violations().iter().map(|v| v.rule.id).collect()
}

#[test]
fn a_correct_driver_is_clean_and_every_call_is_recorded() {
    for coherency in [DmaCoherency::Coherent, DmaCoherency::NonCoherent] {
        let (checker, dev, _op, dma) = setup(coherency);
        {
            let mut ring = dma.coherent_array_zero::<u32>(64).unwrap();
            ring.set_cpu(0, 7);
            let mut bounce = dma
                .contiguous_array_zero::<u8>(256, DmaDirection::Bidirectional)
                .unwrap();
            bounce.set_cpu(3, 1);
            let mut buf = vec![0u8; 1500];
            let map = dma
                .map_streaming_slice_for_device(&mut buf, 1, DmaDirection::FromDevice)
                .unwrap();
            assert_eq!(checker.live_entries().len(), 3, "{coherency:?}");
            map.complete_for_cpu(0..map.bytes_len());
            drop(map);
        }
        assert!(checker.live_entries().is_empty());
        dev.release();
        checker.assert_clean();
    }
}

#[test]
fn a_forgotten_streaming_map_leaks_at_release() {
    let (checker, dev, _op, dma) = setup(DmaCoherency::Coherent);
    let mut buf = vec![0u8; 64];
    let map = dma
        .map_streaming_slice(&mut buf, 1, DmaDirection::ToDevice)
        .unwrap();
    std::mem::forget(map);
    checker.assert_no_violations();
    dev.release();
    assert_eq!(fired(&checker), ["leak"]);
}

#[test]
fn misuse_through_the_op_is_reported() {
    let (checker, _dev, op, _dma) = setup(DmaCoherency::NonCoherent);
    let mut buf = [0u8; 128];
    let addr = NonNull::from(&mut buf[..]).cast::<u8>();
    let size = NonZeroUsize::new(128).unwrap();
    let c = DmaConstraints::new(u64::MAX);
    // SAFETY: the buffer outlives the mapping; HeapOp's unmap does nothing.
    let h = unsafe { op.map_streaming(c, addr, size, DmaDirection::ToDevice) }.unwrap();
    // Syncing a device-read-only mapping for the CPU with FROM_DEVICE, past its end.
    op.sync_map_for_cpu(
        &h,
        0,
        256,
        DmaDirection::FromDevice,
        DmaCoherency::NonCoherent,
    );
    // SAFETY: as above.
    unsafe { op.unmap_streaming(h) };
    // SAFETY: a double unmap is what is tested; HeapOp ignores it.
    unsafe { op.unmap_streaming(h) };
    assert_eq!(
        fired(&checker),
        [
            rules::SYNC_OUT_OF_RANGE.id,
            rules::SYNC_DIRECTION_MISMATCH.id,
            "double-unmap"
        ]
    );
}
