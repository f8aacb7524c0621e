//! The vocabulary of the DMA API: addresses, directions, attributes, GFP flags and the kinds of
//! mapping. Values match the Linux ones so the C ABI and trace replay can pass them through.

use std::fmt;

use serde::Serialize;

/// A bus address as the device sees it (`dma_addr_t`).
pub type DmaAddr = u64;

/// A simulated physical address (`phys_addr_t`): where memory sits in dmacheck's physical map.
pub type PhysAddr = u64;

/// The address every failed `dma_map_single`/`dma_map_page` returns, as in Linux since 5.0.
/// Test it with [`dma_mapping_error`](crate::dma_mapping_error), never by comparing with 0.
pub const DMA_MAPPING_ERROR: DmaAddr = !0;

/// Size of a page of the simulated machine.
pub const PAGE_SIZE: usize = 4096;
/// `log2(PAGE_SIZE)`.
pub const PAGE_SHIFT: u32 = 12;

/// The cache line size `dma_get_cache_alignment` reports (x86 and most arm64 parts).
pub const DMA_CACHE_ALIGNMENT: i32 = 64;

/// `EIO`, returned negated by the mask setters when a mask is not supported.
pub const EIO: i32 = 5;
/// `EINVAL`.
pub const EINVAL: i32 = 22;
/// `EBUSY`.
pub const EBUSY: i32 = 16;
/// `ENXIO`, what `dma_mmap_coherent` returns for a mapping beyond the buffer.
pub const ENXIO: i32 = 6;
/// `ENOMEM`.
pub const ENOMEM: i32 = 12;

/// The mask of the low `n` bits, as Linux's `DMA_BIT_MASK(n)`; `n >= 64` gives all ones.
///
/// ```
/// assert_eq!(dmacheck::dma_bit_mask(32), 0xffff_ffff);
/// assert_eq!(dmacheck::dma_bit_mask(64), u64::MAX);
/// ```
pub const fn dma_bit_mask(n: u32) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// `enum dma_data_direction`, with the kernel's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[repr(u8)]
pub enum Direction {
    /// The device may read and write the buffer (`DMA_BIDIRECTIONAL`).
    #[serde(rename = "BIDIRECTIONAL")]
    Bidirectional = 0,
    /// Data moves from memory to the device; the device only reads (`DMA_TO_DEVICE`).
    #[serde(rename = "TO_DEVICE")]
    ToDevice = 1,
    /// Data moves from the device to memory; the device only writes (`DMA_FROM_DEVICE`).
    #[serde(rename = "FROM_DEVICE")]
    FromDevice = 2,
    /// No direction: only for debugging, never valid in a call (`DMA_NONE`).
    #[serde(rename = "NONE")]
    None = 3,
}

impl Direction {
    /// The direction with the kernel's numeric value, if there is one.
    pub fn from_raw(raw: u32) -> Option<Direction> {
        Some(match raw {
            0 => Direction::Bidirectional,
            1 => Direction::ToDevice,
            2 => Direction::FromDevice,
            3 => Direction::None,
            _ => return None,
        })
    }

    /// The name as the kernel's traces print it (`TO_DEVICE`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Direction::Bidirectional => "BIDIRECTIONAL",
            Direction::ToDevice => "TO_DEVICE",
            Direction::FromDevice => "FROM_DEVICE",
            Direction::None => "NONE",
        }
    }

    /// Whether the direction may be used in a map or sync call.
    pub fn is_valid(self) -> bool {
        self != Direction::None
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

bitflags::bitflags! {
    /// `DMA_ATTR_*` flags of the `*_attrs` calls, with the kernel's bit values.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct DmaAttrs: u64 {
        /// `DMA_ATTR_WEAK_ORDERING`.
        const WEAK_ORDERING = 1 << 1;
        /// `DMA_ATTR_WRITE_COMBINE`.
        const WRITE_COMBINE = 1 << 2;
        /// `DMA_ATTR_NO_KERNEL_MAPPING`.
        const NO_KERNEL_MAPPING = 1 << 4;
        /// `DMA_ATTR_SKIP_CPU_SYNC`: the map/unmap does not sync caches; the driver syncs itself.
        const SKIP_CPU_SYNC = 1 << 5;
        /// `DMA_ATTR_FORCE_CONTIGUOUS`.
        const FORCE_CONTIGUOUS = 1 << 6;
        /// `DMA_ATTR_ALLOC_SINGLE_PAGES`.
        const ALLOC_SINGLE_PAGES = 1 << 7;
        /// `DMA_ATTR_NO_WARN`: a failure is expected and not worth a warning.
        const NO_WARN = 1 << 8;
        /// `DMA_ATTR_PRIVILEGED`.
        const PRIVILEGED = 1 << 9;
        /// `DMA_ATTR_MMIO`: the address is MMIO, not memory (Linux 6.18+).
        const MMIO = 1 << 10;
        /// `DMA_ATTR_CPU_CACHE_CLEAN`: the CPU will not dirty these cache lines.
        const CPU_CACHE_CLEAN = 1 << 11;
    }
}

impl Serialize for DmaAttrs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.bits())
    }
}

bitflags::bitflags! {
    /// `gfp_t` allocation flags, with the meanings (not the bit values) of the kernel's.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct Gfp: u32 {
        /// `__GFP_DMA`: memory below 16 MiB (ISA-style devices).
        const DMA = 1 << 0;
        /// `__GFP_DMA32`: memory below 4 GiB.
        const DMA32 = 1 << 2;
        /// `__GFP_HIGH`: may use reserves; part of `GFP_ATOMIC`.
        const HIGH = 1 << 5;
        /// `__GFP_IO`.
        const IO = 1 << 6;
        /// `__GFP_FS`.
        const FS = 1 << 7;
        /// `__GFP_ZERO`: zero the memory.
        const ZERO = 1 << 8;
        /// `__GFP_DIRECT_RECLAIM`: the allocation may sleep.
        const DIRECT_RECLAIM = 1 << 10;
        /// `__GFP_KSWAPD_RECLAIM`.
        const KSWAPD_RECLAIM = 1 << 11;
        /// `__GFP_NOWARN`: a failure is expected.
        const NOWARN = 1 << 13;
        /// `GFP_KERNEL`: may sleep.
        const KERNEL = Self::DIRECT_RECLAIM.bits() | Self::KSWAPD_RECLAIM.bits() | Self::IO.bits() | Self::FS.bits();
        /// `GFP_ATOMIC`: never sleeps.
        const ATOMIC = Self::HIGH.bits() | Self::KSWAPD_RECLAIM.bits();
    }
}

/// The family of call that made an entry. One entry type serves every kind; the kind is a
/// field (as in the kernel's dma-debug), so new API families add a variant, not a type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MapKind {
    /// `dma_map_single` and `dma_map_single_attrs`.
    Single,
    /// `dma_map_page` and `dma_map_page_attrs`.
    Page,
    /// `dma_alloc_coherent` and `dma_alloc_attrs`.
    Coherent,
    /// One DMA segment of `dma_map_sg`.
    Sg,
    /// `dma_alloc_noncoherent`: memory the driver keeps consistent with `dma_cache_sync`.
    Noncoherent,
}

/// The calls that make entries besides each kind's own ([`MapKind::map_call`]), so that a
/// report names the call the driver made ("mapped by dma_map_resource"); an entry keeps its
/// call's place here in 5 bits (see the tracker's record).
const OTHER_MAP_CALLS: [&str; 22] = [
    "dma_map_single_attrs",
    "dma_map_page_attrs",
    "dma_map_phys",
    "dma_map_resource",
    "dma_iova_try_alloc",
    "dma_iova_link",
    "dma_alloc",
    "dma_alloc_attrs",
    "dma_alloc_wc",
    "dma_zalloc_coherent",
    "dmam_alloc_coherent",
    "dmam_alloc_attrs",
    "dma_alloc_pages",
    "dma_alloc_noncontiguous",
    "dma_alloc_sgt",
    "dma_alloc_from_contiguous",
    "dma_map_sgtable",
    "dma_map_sg_attrs",
    "dma_pool_alloc",
    "dma_pool_zalloc",
    "dma_vmap_noncontiguous",
    "dma_map_sg_err",
];
const _: () = assert!(OTHER_MAP_CALLS.len() < 31);

impl MapKind {
    /// Every kind, in declaration order (an index into it is a compact encoding of a kind).
    pub const ALL: [MapKind; 5] = [
        MapKind::Single,
        MapKind::Page,
        MapKind::Coherent,
        MapKind::Sg,
        MapKind::Noncoherent,
    ];

    /// The call that creates an entry of this kind.
    pub fn map_call(self) -> &'static str {
        match self {
            MapKind::Single => "dma_map_single",
            MapKind::Page => "dma_map_page",
            MapKind::Coherent => "dma_alloc_coherent",
            MapKind::Sg => "dma_map_sg",
            MapKind::Noncoherent => "dma_alloc_noncoherent",
        }
    }

    /// The name of the call `index` ([`MapKind::call_index`]) that made an entry of this kind.
    pub(crate) fn call_name(self, index: u8) -> &'static str {
        match index {
            0 => self.map_call(),
            i => OTHER_MAP_CALLS
                .get(usize::from(i) - 1)
                .copied()
                .unwrap_or(self.map_call()),
        }
    }

    /// What an entry keeps of the call `call` that made it: 0 for this kind's own call (or a
    /// call not listed, named as this kind's), else its place in the other map calls.
    #[inline]
    pub(crate) fn call_index(self, call: &str) -> u8 {
        if call == self.map_call() {
            return 0;
        }
        OTHER_MAP_CALLS
            .iter()
            .position(|&other| other == call)
            .map_or(0, |i| i as u8 + 1)
    }

    /// The call that must end an entry of this kind.
    pub fn release_call(self) -> &'static str {
        match self {
            MapKind::Single => "dma_unmap_single",
            MapKind::Page => "dma_unmap_page",
            MapKind::Coherent => "dma_free_coherent",
            MapKind::Sg => "dma_unmap_sg",
            MapKind::Noncoherent => "dma_free_noncoherent",
        }
    }

    /// Whether the map call reports failure through `DMA_MAPPING_ERROR`, which the driver must
    /// test with `dma_mapping_error`. Allocation calls report failure with NULL instead.
    pub fn fails_with_mapping_error(self) -> bool {
        matches!(self, MapKind::Single | MapKind::Page)
    }
}

impl fmt::Display for MapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MapKind::Single => "single",
            MapKind::Page => "page",
            MapKind::Coherent => "coherent",
            MapKind::Sg => "sg",
            MapKind::Noncoherent => "noncoherent",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_masks_match_the_kernel_macro() {
        assert_eq!(dma_bit_mask(0), 0);
        assert_eq!(dma_bit_mask(24), 0x00ff_ffff);
        assert_eq!(dma_bit_mask(63), u64::MAX >> 1);
        assert_eq!(dma_bit_mask(64), u64::MAX);
    }

    #[test]
    fn directions_round_trip_through_raw_values() {
        for d in [
            Direction::Bidirectional,
            Direction::ToDevice,
            Direction::FromDevice,
            Direction::None,
        ] {
            assert_eq!(Direction::from_raw(d as u32), Some(d));
        }
        assert_eq!(Direction::from_raw(7), None);
    }
}

/// A device as the checker knows it: a small number, unique within one checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct DeviceId(pub u32);

impl DeviceId {
    /// Stands for "no device", in events of calls that name none (`kfree`).
    pub const NONE: DeviceId = DeviceId(u32::MAX);
}

/// The DMA parameters of a device at one moment, as the backend needs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceParams {
    /// The device within its checker.
    pub id: DeviceId,
    /// The streaming DMA mask (`*dev->dma_mask`).
    pub dma_mask: u64,
    /// The coherent DMA mask (`dev->coherent_dma_mask`).
    pub coherent_dma_mask: u64,
    /// The longest segment the device can take (`dma_get_max_seg_size`).
    pub max_segment_size: u64,
    /// No segment may cross an address where these bits change (`dma_get_seg_boundary`).
    pub segment_boundary_mask: u64,
}

/// Serde for an address as a hex string (`"0x1000000"`), as violations' details show them.
pub(crate) mod hex {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:#x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        text.strip_prefix("0x")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .ok_or_else(|| D::Error::custom(format!("`{text}` is not a hex address")))
    }
}

/// The state of a list's mapping, as the list itself records it (the map may rewrite the list).
#[derive(Clone, Debug)]
pub(crate) enum SgState {
    Unmapped,
    Mapped {
        nents: usize,
        count: usize,
        dir: Direction,
    },
    /// The last map returned 0.
    Failed,
    /// Unmapped after a map of `count` segments: the DMA fields are stale.
    Released {
        count: usize,
    },
}

/// The allocation from the region may be accessed directly (`DMA_MEMORY_MAP`).
pub const DMA_MEMORY_MAP: i32 = 0x01;
/// The allocation is accessed with I/O accessors (`DMA_MEMORY_IO`).
pub const DMA_MEMORY_IO: i32 = 0x02;
/// Child devices allocate from the region too (`DMA_MEMORY_INCLUDES_CHILDREN`).
pub const DMA_MEMORY_INCLUDES_CHILDREN: i32 = 0x04;
/// Never fall back to ordinary memory (`DMA_MEMORY_EXCLUSIVE`).
pub const DMA_MEMORY_EXCLUSIVE: i32 = 0x08;
