//! The baseline every checked row is measured against: the direct backend alone, with the
//! device's parameters read once, no bookkeeping.

use std::hint::black_box;

use dmacheck::backend::PhysMemory;
use dmacheck::*;

/// Map `size` bytes at `cpu` on `backend`, test the address, unmap: what a checked
/// map + `dma_mapping_error` + unmap costs without the checking.
pub fn map_test_unmap(
    memory: &PhysMemory,
    backend: &dyn Backend,
    params: &DeviceParams,
    cpu: *const u8,
    size: u64,
    dir: Direction,
) {
    let phys = memory.phys_of(black_box(cpu), size).unwrap();
    let dma = backend
        .map(params, phys, size, dir, DmaAttrs::empty())
        .unwrap();
    black_box(dma == DMA_MAPPING_ERROR);
    backend
        .unmap(params, black_box(dma), size, dir, DmaAttrs::empty())
        .unwrap();
}
