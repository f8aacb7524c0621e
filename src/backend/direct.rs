//! Direct mapping: the DMA address is the physical address, as on a machine without an IOMMU.
//! A buffer the device's mask cannot reach is refused (there are no bounce buffers here).

use std::ptr::NonNull;

use crate::backend::{Backend, MapError, Overrun, PhysMemory};
use crate::sync::Arc;
use crate::types::DeviceParams;
use crate::types::{Direction, DmaAddr, DmaAttrs, Gfp, PhysAddr};

/// The default backend: bus address = physical address.
pub struct DirectBackend {
    memory: Arc<PhysMemory>,
}

impl DirectBackend {
    /// A direct backend over `memory`.
    pub fn new(memory: Arc<PhysMemory>) -> DirectBackend {
        DirectBackend { memory }
    }
}

impl Backend for DirectBackend {
    fn name(&self) -> &'static str {
        "direct"
    }

    fn map(
        &self,
        dev: &DeviceParams,
        phys: PhysAddr,
        size: u64,
        _dir: Direction,
        _attrs: DmaAttrs,
    ) -> Result<DmaAddr, MapError> {
        let last = phys + size.max(1) - 1;
        if last > dev.dma_mask {
            return Err(MapError::AboveMask {
                dma_end: last,
                mask: dev.dma_mask,
            });
        }
        Ok(phys)
    }

    fn unmap(
        &self,
        _: &DeviceParams,
        _: DmaAddr,
        _: u64,
        _: Direction,
        _: DmaAttrs,
    ) -> Result<(), Overrun> {
        Ok(())
    }

    fn alloc_coherent(
        &self,
        dev: &DeviceParams,
        size: u64,
        gfp: Gfp,
    ) -> Result<(NonNull<u8>, DmaAddr), MapError> {
        let mut limit = dev.coherent_dma_mask.saturating_add(1);
        if gfp.contains(Gfp::DMA) {
            limit = limit.min(super::memory::DMA_ZONE_END);
        }
        let cpu = self
            .memory
            .alloc_coherent(size, limit)
            .ok_or(MapError::OutOfMemory)?;
        let phys = self
            .memory
            .phys_of(cpu.as_ptr(), size)
            .expect("coherent memory lies inside the arena");
        Ok((cpu, phys))
    }

    fn free_coherent(&self, _: &DeviceParams, dma: DmaAddr, size: u64) -> Result<(), Overrun> {
        // The shim frees only what the tracker says was allocated, so a refusal here is a
        // dmacheck bug, not the driver's.
        let cpu = self
            .memory
            .cpu_of(dma, size)
            .expect("tracked coherent memory");
        let intact = self
            .memory
            .free_coherent(cpu, size)
            .expect("coherent free of a tracked allocation");
        if intact { Ok(()) } else { Err(Overrun) }
    }

    fn dma_to_phys(&self, dev: &DeviceParams, dma: DmaAddr) -> Option<PhysAddr> {
        (dma <= dev.dma_mask && self.memory.cpu_of(dma, 1).is_some()).then_some(dma)
    }
}
