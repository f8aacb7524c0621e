//! Bounce buffering, as swiotlb does: the device never sees the driver's buffer, only a copy in
//! a slot of a low-memory pool, and data moves between the two only where the DMA API says so.
//! A driver that skips a sync reads stale bytes here, as it would on non-coherent hardware.
//!
//! | call | copy |
//! |---|---|
//! | map | buffer → slot, every direction (so unwritten bytes come back unchanged) |
//! | sync for device | buffer → slot, for `TO_DEVICE` and `BIDIRECTIONAL` |
//! | sync for CPU, unmap | slot → buffer, for `FROM_DEVICE` and `BIDIRECTIONAL` |
//!
//! Each slot ends in guard bytes, checked when it is unmapped.

use std::collections::BTreeMap;
use std::ptr::NonNull;

use super::memory::{DMA32_ZONE_END, GUARD_BYTE, GUARD_BYTES};
use super::ranges::FreeRanges;
use crate::backend::{Backend, DirectBackend, MapError, Overrun, PhysMemory};
use crate::sync::{Arc, Mutex};
use crate::types::DeviceParams;
use crate::types::{Direction, DmaAddr, DmaAttrs, Gfp, PhysAddr};

/// Slot granularity, as swiotlb's `IO_TLB_SIZE`.
pub const SLOT_SIZE: u64 = 2048;
/// Size of the bounce pool.
pub const POOL_SIZE: u64 = 4 << 20;

#[derive(Clone, Copy, Debug)]
struct Slot {
    /// Where the driver's buffer is.
    orig: PhysAddr,
    /// Bytes mapped.
    size: u64,
    /// Slots (of `SLOT_SIZE`) taken, guard included.
    slots: u64,
}

struct Pool {
    free: FreeRanges,
    /// Live slots by their DMA (= physical) address.
    live: BTreeMap<DmaAddr, Slot>,
}

/// The bounce backend: streaming mappings go through a pool of slots; coherent memory is
/// allocated directly (it needs no bouncing).
pub struct BounceBackend {
    memory: Arc<PhysMemory>,
    direct: DirectBackend,
    /// Physical address of the pool's first byte.
    base: PhysAddr,
    pool: Mutex<Pool>,
}

impl BounceBackend {
    /// A bounce backend with its pool in 32-bit-addressable memory of `memory`.
    pub fn new(memory: Arc<PhysMemory>) -> BounceBackend {
        // Reserved, not written: a slot's pages are touched (committed) when it is first
        // mapped, so a checker that maps a few buffers pays for a few slots, not 4 MiB.
        let pool = memory
            .reserve_untouched(POOL_SIZE, DMA32_ZONE_END)
            .expect("memory for the bounce pool");
        let base = memory
            .phys_of(pool.as_ptr(), POOL_SIZE)
            .expect("inside the arena");
        BounceBackend {
            direct: DirectBackend::new(memory.clone()),
            memory,
            base,
            pool: Mutex::new(Pool {
                free: FreeRanges::new(0, POOL_SIZE / SLOT_SIZE),
                live: BTreeMap::new(),
            }),
        }
    }

    /// The live slot containing `dma`, with its start.
    fn slot_of(&self, dma: DmaAddr) -> Option<(DmaAddr, Slot)> {
        let pool = self.pool.lock();
        let (&start, &slot) = pool.live.range(..=dma).next_back()?;
        (dma < start + slot.size.max(1)).then_some((start, slot))
    }

    /// Copy `len` bytes at `dma` between the slot and the driver's buffer.
    fn bounce(&self, dma: DmaAddr, len: u64, to_device: bool) {
        let Some((start, slot)) = self.slot_of(dma) else {
            return;
        };
        let offset = dma - start;
        let len = len.min(slot.size - offset);
        let (from, to) = if to_device {
            (slot.orig + offset, dma)
        } else {
            (dma, slot.orig + offset)
        };
        let _device = crate::context::device_side();
        self.memory.copy(from, to, len);
    }
}

fn copies_to_device(dir: Direction) -> bool {
    matches!(dir, Direction::ToDevice | Direction::Bidirectional)
}

fn copies_to_cpu(dir: Direction) -> bool {
    matches!(dir, Direction::FromDevice | Direction::Bidirectional)
}

impl Backend for BounceBackend {
    fn name(&self) -> &'static str {
        "bounce"
    }

    fn map(
        &self,
        dev: &DeviceParams,
        phys: PhysAddr,
        size: u64,
        _dir: Direction,
        _attrs: DmaAttrs,
    ) -> Result<DmaAddr, MapError> {
        let slots = (size + GUARD_BYTES).div_ceil(SLOT_SIZE);
        let dma = {
            let mut pool = self.pool.lock();
            let first = pool
                .free
                .take_lowest(slots, 1, 0, u64::MAX)
                .ok_or(MapError::OutOfMemory)?;
            let dma = self.base + first * SLOT_SIZE;
            if dma + size.max(1) - 1 > dev.dma_mask {
                pool.free.give(first, slots);
                return Err(MapError::AboveMask {
                    dma_end: dma + size.max(1) - 1,
                    mask: dev.dma_mask,
                });
            }
            pool.live.insert(
                dma,
                Slot {
                    orig: phys,
                    size,
                    slots,
                },
            );
            dma
        };
        self.memory.mark_dirty(dma, slots * SLOT_SIZE);
        self.memory
            .fill(dma + size, slots * SLOT_SIZE - size, GUARD_BYTE);
        // Whatever the direction, the slot starts as a copy of the buffer (as swiotlb does
        // since Linux 5.18): bytes the device does not write must come back unchanged at the
        // unmap, not as what the slot held for an earlier mapping.
        self.memory.copy(phys, dma, size);
        Ok(dma)
    }

    fn unmap(
        &self,
        _dev: &DeviceParams,
        dma: DmaAddr,
        size: u64,
        dir: Direction,
        _: DmaAttrs,
    ) -> Result<(), Overrun> {
        if copies_to_cpu(dir) {
            self.bounce(dma, size, false);
        }
        let mut pool = self.pool.lock();
        let Some(slot) = pool.live.remove(&dma) else {
            return Ok(());
        };
        let intact = self.memory.is_filled(
            dma + slot.size,
            slot.slots * SLOT_SIZE - slot.size,
            GUARD_BYTE,
        );
        pool.free.give((dma - self.base) / SLOT_SIZE, slot.slots);
        if intact == Some(true) {
            Ok(())
        } else {
            Err(Overrun)
        }
    }

    fn sync_for_cpu(&self, _dev: &DeviceParams, dma: DmaAddr, size: u64, dir: Direction) {
        if copies_to_cpu(dir) {
            self.bounce(dma, size, false);
        }
    }

    fn sync_for_device(&self, _dev: &DeviceParams, dma: DmaAddr, size: u64, dir: Direction) {
        if copies_to_device(dir) {
            self.bounce(dma, size, true);
        }
    }

    fn alloc_coherent(
        &self,
        dev: &DeviceParams,
        size: u64,
        gfp: Gfp,
    ) -> Result<(NonNull<u8>, DmaAddr), MapError> {
        self.direct.alloc_coherent(dev, size, gfp)
    }

    fn free_coherent(&self, dev: &DeviceParams, dma: DmaAddr, size: u64) -> Result<(), Overrun> {
        self.direct.free_coherent(dev, dma, size)
    }

    fn dma_to_phys(&self, dev: &DeviceParams, dma: DmaAddr) -> Option<PhysAddr> {
        self.direct.dma_to_phys(dev, dma)
    }

    fn is_coherent(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MemoryConfig;
    use crate::types::DeviceId;

    fn setup() -> (Arc<PhysMemory>, BounceBackend, DeviceParams) {
        let memory = Arc::new(PhysMemory::new(MemoryConfig {
            size: 24 << 20,
            phys_base: 1 << 20,
        }));
        let backend = BounceBackend::new(memory.clone());
        let dev = DeviceParams {
            id: DeviceId(0),
            dma_mask: u64::MAX,
            coherent_dma_mask: u64::MAX,
            max_segment_size: 65536,
            segment_boundary_mask: u64::MAX,
        };
        (memory, backend, dev)
    }

    #[test]
    fn data_moves_only_at_map_sync_and_unmap() {
        let (m, b, dev) = setup();
        let buf = m.kmalloc(100, Gfp::KERNEL).unwrap();
        let phys = m.phys_of(buf.as_ptr(), 100).unwrap();
        m.write(phys, b"tx!").unwrap();
        let dma = b
            .map(&dev, phys, 100, Direction::Bidirectional, DmaAttrs::empty())
            .unwrap();
        assert_ne!(dma, phys, "the device sees a slot, not the buffer");
        let mut seen = [0u8; 3];
        m.read(dma, &mut seen).unwrap();
        assert_eq!(&seen, b"tx!", "map copied towards the device");
        m.write(dma, b"rx!").unwrap();
        m.read(phys, &mut seen).unwrap();
        assert_eq!(
            &seen, b"tx!",
            "the device's write is not visible before a sync"
        );
        b.sync_for_cpu(&dev, dma, 100, Direction::Bidirectional);
        m.read(phys, &mut seen).unwrap();
        assert_eq!(&seen, b"rx!");
        assert_eq!(
            b.unmap(&dev, dma, 100, Direction::Bidirectional, DmaAttrs::empty()),
            Ok(())
        );
        assert_eq!(
            b.pool.lock().free,
            FreeRanges::new(0, POOL_SIZE / SLOT_SIZE)
        );
    }

    #[test]
    fn a_write_past_the_mapped_bytes_is_found_in_the_guard() {
        let (m, b, dev) = setup();
        let buf = m.kmalloc(64, Gfp::KERNEL).unwrap();
        let phys = m.phys_of(buf.as_ptr(), 64).unwrap();
        let dma = b
            .map(&dev, phys, 64, Direction::FromDevice, DmaAttrs::empty())
            .unwrap();
        m.write(dma + 64, &[0]).unwrap();
        assert_eq!(
            b.unmap(&dev, dma, 64, Direction::FromDevice, DmaAttrs::empty()),
            Err(Overrun)
        );
    }
}
