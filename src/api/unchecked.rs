//! The DMA API carried out on the backend alone: nothing recorded, checked or reported. What a
//! real kernel does, invalid arguments included (within what memory safety allows).

use std::ptr::{self};

use crate::device::Device;
use crate::event::Op;
use crate::sg::{SgState, SgTable};
use crate::types::{DMA_MAPPING_ERROR, Direction, DmaAddr, DmaAttrs, Gfp};

#[inline]
pub(super) fn map(
    dev: &Device,
    cpu: *const u8,
    size: usize,
    dir: Direction,
    attrs: DmaAttrs,
) -> DmaAddr {
    dev.checker()
        .memory()
        .phys_of(cpu, size as u64)
        .and_then(|phys| {
            dev.backend()
                .map(dev.params_ref(), phys, size as u64, dir, attrs)
        })
        .unwrap_or(DMA_MAPPING_ERROR)
}

#[inline]
pub(super) fn unmap(dev: &Device, dma: DmaAddr, size: usize, dir: Direction, attrs: DmaAttrs) {
    if dma != DMA_MAPPING_ERROR {
        let _ = dev
            .backend()
            .unmap(dev.params_ref(), dma, size as u64, dir, attrs);
    }
}

pub(super) fn sync(dev: &Device, op: Op, dma: DmaAddr, size: usize, dir: Direction) {
    match op {
        Op::SyncForCpu => dev
            .backend()
            .sync_for_cpu(dev.params_ref(), dma, size as u64, dir),
        _ => dev
            .backend()
            .sync_for_device(dev.params_ref(), dma, size as u64, dir),
    }
}

pub(super) fn map_sg(
    dev: &Device,
    sgl: &mut SgTable,
    nents: usize,
    dir: Direction,
    attrs: DmaAttrs,
) -> usize {
    let memory = dev.checker().memory();
    let segs: Option<Vec<(u64, u64)>> = sgl
        .entries()
        .get(..nents)
        .unwrap_or(&[])
        .iter()
        .map(|e| {
            memory
                .phys_of(e.virt(), e.length() as u64)
                .ok()
                .map(|p| (p, e.length() as u64))
        })
        .collect();
    let mapped = segs.filter(|s| !s.is_empty()).and_then(|segs| {
        dev.backend()
            .map_sg(dev.params_ref(), &segs, dir, attrs)
            .ok()
    });
    let Some(dma_segs) = mapped else {
        sgl.state = SgState::Failed;
        return 0;
    };
    sgl.store_dma(&dma_segs);
    sgl.state = SgState::Mapped {
        nents,
        count: dma_segs.len(),
        dir,
    };
    dma_segs.len()
}

pub(super) fn unmap_sg(dev: &Device, sgl: &mut SgTable, dir: Direction, attrs: DmaAttrs) {
    if let SgState::Mapped { count, .. } = sgl.state {
        for (dma, len) in sgl.dma_segments(count) {
            let _ = dev.backend().unmap(dev.params_ref(), dma, len, dir, attrs);
        }
        sgl.state = SgState::Released { count };
    }
}

pub(super) fn alloc(dev: &Device, size: usize, handle: &mut DmaAddr, gfp: Gfp) -> *mut u8 {
    match dev
        .backend()
        .alloc_coherent(dev.params_ref(), size as u64, gfp)
    {
        Ok((cpu, dma)) if size > 0 => {
            *handle = dma;
            cpu.as_ptr()
        }
        _ => {
            *handle = DMA_MAPPING_ERROR;
            ptr::null_mut()
        }
    }
}
