//! The backing allocator: real memory at simulated physical addresses ([`PhysMemory`]), and the
//! backends that turn it into DMA addresses a device can use. The crate root re-exports what a
//! test chooses ([`Backend`], the backends, [`MemoryConfig`], [`Page`], the errors); this module
//! adds what a custom backend or a look at the memory needs ([`PhysMemory`], the bounce
//! backend's [`GUARD_BYTE`]s).
//!
//! Backends know nothing of the tracker or the rules: they map, unmap, sync and allocate, and
//! say why when they refuse. The shim decides what a refusal means.

mod arena;
mod bounce;
mod direct;
mod fingerprint;
mod iommu;
mod memory;
pub(crate) mod ranges;

pub use bounce::BounceBackend;
pub use direct::DirectBackend;
pub use iommu::IommuBackend;
pub(crate) use memory::Alias;
pub use memory::{FreeError, GUARD_BYTE, GUARD_BYTES, MemoryConfig, Page, PhysMemory};

use std::ptr::NonNull;

use crate::types::DeviceParams;
use crate::types::{Direction, DmaAddr, DmaAttrs, Gfp, PhysAddr};

/// Why a backend could not map or allocate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The CPU address was null.
    NullPointer,
    /// The CPU range is not inside memory the backend can map (`cpu_addr` is its start).
    NotDmaMemory {
        /// The start of the refused range.
        cpu_addr: u64,
    },
    /// The device's mask does not reach the end of the buffer.
    AboveMask {
        /// The last byte's DMA address.
        dma_end: DmaAddr,
        /// The mask in force.
        mask: u64,
    },
    /// No memory (or address space) is left that the device can reach.
    OutOfMemory,
}

impl std::fmt::Display for MapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            MapError::NullPointer => f.write_str("the CPU address is NULL"),
            MapError::NotDmaMemory { cpu_addr } => {
                write!(f, "{cpu_addr:#x} is not DMA-able memory")
            }
            MapError::AboveMask { dma_end, mask } => {
                write!(
                    f,
                    "the buffer ends at {dma_end:#x}, above the mask {mask:#x}"
                )
            }
            MapError::OutOfMemory => f.write_str("no memory the device can reach is left"),
        }
    }
}

impl std::error::Error for MapError {}

/// Guard bytes after a bounce slot or a coherent allocation were found overwritten when it was
/// released: something wrote past the end of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overrun;

/// How a device's DMA addresses relate to memory. Implementations must be thread-safe: the
/// shim calls them from every thread that does DMA.
pub trait Backend: Send + Sync {
    /// A short name for reports (`direct`).
    fn name(&self) -> &'static str;

    /// Make `size` bytes at physical address `phys` reachable by the device; return the DMA
    /// address the device must use.
    fn map(
        &self,
        dev: &DeviceParams,
        phys: PhysAddr,
        size: u64,
        dir: Direction,
        attrs: DmaAttrs,
    ) -> Result<DmaAddr, MapError>;

    /// End a mapping made by [`Backend::map`], with the values it was made with. An `Err` says
    /// the mapping's guard bytes (where the backend has any) were overwritten.
    fn unmap(
        &self,
        dev: &DeviceParams,
        dma: DmaAddr,
        size: u64,
        dir: Direction,
        attrs: DmaAttrs,
    ) -> Result<(), Overrun>;

    /// Map a scatter-gather list given as `(physical address, length)` segments; return the DMA
    /// segments, possibly fewer (merged). All or nothing: on failure nothing stays mapped.
    /// By default each segment is mapped on its own.
    fn map_sg(
        &self,
        dev: &DeviceParams,
        segs: &[(PhysAddr, u64)],
        dir: Direction,
        attrs: DmaAttrs,
    ) -> Result<Vec<(DmaAddr, u64)>, MapError> {
        let mut mapped: Vec<(DmaAddr, u64)> = Vec::with_capacity(segs.len());
        for &(phys, len) in segs {
            match self.map(dev, phys, len, dir, attrs) {
                Ok(dma) => mapped.push((dma, len)),
                Err(e) => {
                    for &(dma, len) in &mapped {
                        // Nothing can have written to these yet; guards are intact.
                        let _ = self.unmap(dev, dma, len, dir, attrs);
                    }
                    return Err(e);
                }
            }
        }
        Ok(mapped)
    }

    /// Give the CPU a consistent view of `size` bytes at `dma` (no-op on coherent platforms).
    fn sync_for_cpu(&self, _dev: &DeviceParams, _dma: DmaAddr, _size: u64, _dir: Direction) {}

    /// Give the device a consistent view of `size` bytes at `dma` (no-op on coherent platforms).
    fn sync_for_device(&self, _dev: &DeviceParams, _dma: DmaAddr, _size: u64, _dir: Direction) {}

    /// Allocate `size` bytes of zeroed coherent memory the device can reach.
    fn alloc_coherent(
        &self,
        dev: &DeviceParams,
        size: u64,
        gfp: Gfp,
    ) -> Result<(NonNull<u8>, DmaAddr), MapError>;

    /// Free memory from [`Backend::alloc_coherent`], named by the handle and size it returned.
    /// An `Err` says the guard bytes after it were overwritten.
    fn free_coherent(&self, dev: &DeviceParams, dma: DmaAddr, size: u64) -> Result<(), Overrun>;

    /// Whether the platform this backend models keeps CPU caches and device coherent. A
    /// non-coherent one (bounce buffering) gives `dma_alloc_noncoherent` memory whose CPU and
    /// device views differ until `dma_cache_sync`.
    fn is_coherent(&self) -> bool {
        true
    }

    /// The physical address behind a DMA address of the device, as the hardware would see it,
    /// or `None` if the device cannot reach anything there.
    fn dma_to_phys(&self, dev: &DeviceParams, dma: DmaAddr) -> Option<PhysAddr>;

    /// Reserve I/O virtual address space for `size` bytes starting `offset` bytes into a page
    /// (`dma_iova_try_alloc`): its first address. Only an IOMMU has such a space; by default
    /// there is none, and the driver uses the streaming calls.
    fn iova_reserve(&self, _dev: &DeviceParams, _offset: u64, _size: u64) -> Option<DmaAddr> {
        None
    }

    /// Map `len` bytes at `phys` at `iova`, inside a reservation (`dma_iova_link`). `unmap`
    /// undoes it, leaving the reservation in place.
    fn iova_link(&self, _dev: &DeviceParams, _iova: DmaAddr, _phys: PhysAddr, _len: u64) {}

    /// Give back the reservation starting at `iova`, unmapping what is still linked in it.
    fn iova_free(&self, _dev: &DeviceParams, _iova: DmaAddr) {}
}

#[cfg(test)]
mod tests {
    use super::{FreeError, MapError};

    /// Callers can box and `?` them like any error, and the message says what went wrong.
    #[test]
    fn map_and_free_errors_are_std_errors_with_their_reason() {
        let errors: [Box<dyn std::error::Error>; 3] = [
            Box::new(MapError::AboveMask {
                dma_end: 0x1_0000_0fff,
                mask: 0xffff_ffff,
            }),
            Box::new(MapError::NotDmaMemory { cpu_addr: 0x1000 }),
            Box::new(FreeError::WrongOrder { allocated: 2 }),
        ];
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "the buffer ends at 0x100000fff, above the mask 0xffffffff",
                "0x1000 is not DMA-able memory",
                "the pages were allocated with order 2",
            ]
        );
    }
}
