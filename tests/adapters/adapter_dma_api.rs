//! dma-api's `DmaOp`, checked: `CheckedDmaOp` wraps the shipped heap-backed `HeapDmaOp` and
//! records every call in dmacheck.

use std::num::NonZeroUsize;
use std::ptr::NonNull;

use dma_api::{
    DeviceDma, DmaCoherency, DmaConstraints, DmaDeviceInfo, DmaDirection, DmaDomainId, DmaOp,
};
use dmacheck::adapters::dma_api::{CheckedDmaOp, HeapDmaOp};
use dmacheck::{Checker, Device, rules};

fn setup(
    coherency: DmaCoherency,
) -> (Checker, Device, &'static CheckedDmaOp<HeapDmaOp>, DeviceDma) {
    let checker = Checker::builder().env(false).print(false).build();
    let dev = checker.device("dma-api-dev").driver("dma-api").build();
    let op: &'static CheckedDmaOp<HeapDmaOp> =
        Box::leak(Box::new(CheckedDmaOp::new(HeapDmaOp, &dev)));
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

/// dma-api calls the op through a trait object, where `#[track_caller]` stops at the adapter;
/// reports must still name the driver's line, with no `DMACHECK=stacks`.
#[test]
fn reports_name_the_drivers_call_without_stacks() {
    let (checker, dev, _op, dma) = setup(DmaCoherency::Coherent);
    assert_eq!(checker.config().stack_depth, 0);
    let mut buf = vec![0u8; 64];
    let map = dma.map_streaming_slice(&mut buf, 1, DmaDirection::ToDevice);
    let line = line!() - 1;
    let map = map.unwrap();
    std::mem::forget(map);
    dev.release();
    let leak = &checker.violations()[0];
    assert_eq!(leak.rule.id, rules::LEAK.id);
    let mapped_at = dmacheck::report::ReportSite::from(leak.mapped_at.as_ref().unwrap());
    assert!(
        mapped_at
            .file
            .ends_with("tests/adapters/adapter_dma_api.rs"),
        "{mapped_at}"
    );
    assert_eq!(mapped_at.line, line);
    let text = leak.to_string();
    assert!(
        text.contains(&format!("tests/adapters/adapter_dma_api.rs:{line}")),
        "{text}"
    );
}
