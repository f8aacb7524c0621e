//! A recorded operation: everything the rules need to judge one DMA API call, independent of
//! where the call came from (the live shim, a replayed kernel trace, a model).

use crate::context::CallContext;
use crate::site::Site;
pub use crate::types::DeviceId;
use crate::types::{Direction, DmaAddr, DmaAttrs, MapKind};

/// What an event does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// A mapping or allocation begins (`dma_map_*`, `dma_alloc_*`).
    Map,
    /// A mapping or allocation ends (`dma_unmap_*`, `dma_free_*`).
    Unmap,
    /// Ownership moves to the CPU (`dma_sync_*_for_cpu`).
    SyncForCpu,
    /// Ownership moves to the device (`dma_sync_*_for_device`).
    SyncForDevice,
    /// The driver tests a mapping for failure (`dma_mapping_error`).
    MappingErrorCheck,
    /// The device goes away (driver unbind) or the checker is asked for leaks.
    Release,
    /// The driver reads the DMA address or length of a scatter-gather entry.
    SgAccess,
    /// The device (through the device model) reads memory at a DMA address.
    DeviceRead,
    /// The device (through the device model) writes memory at a DMA address.
    DeviceWrite,
    /// The CPU reads mapped memory through a checked accessor.
    CpuRead,
    /// The CPU writes mapped memory through a checked accessor.
    CpuWrite,
    /// Memory of the DMA-able heap or page allocator is allocated (`kmalloc`, `alloc_pages`).
    MemoryAlloc,
    /// An allocation of the DMA-able heap or page allocator is freed (`kfree`, `free_pages`).
    MemoryFree,
    /// The driver sets a DMA parameter of the device (`dma_set_mask`, `dma_set_max_seg_size`).
    Configure,
}

/// One DMA API operation as the rules see it.
#[derive(Clone, Debug)]
pub struct Event {
    /// What the operation does.
    pub op: Op,
    /// The API function called, for reports (`dma_unmap_page`).
    pub call: &'static str,
    /// The family of the call (for a release, the family the call belongs to, which the rules
    /// compare with the family of the entry it ends).
    pub kind: MapKind,
    /// The device named in the call.
    pub device: DeviceId,
    /// The DMA address named in (or returned by) the call.
    pub dma_addr: DmaAddr,
    /// For range syncs, the offset of the synced range from `dma_addr` (the mapping's handle);
    /// otherwise 0.
    pub offset: u64,
    /// The size in bytes named in the call.
    pub size: u64,
    /// The direction named in the call (`BIDIRECTIONAL` for coherent calls, which have none).
    pub dir: Direction,
    /// The `DMA_ATTR_*` flags of the call.
    pub attrs: DmaAttrs,
    /// For scatter-gather calls, the entry count the call passed (`nents`), where known.
    pub nents: Option<u32>,
    /// For `dma_map_sg`, the number of DMA segments it returned; otherwise 0.
    pub mapped_ents: u32,
    /// The CPU address named in the call, where it has one.
    pub cpu_addr: Option<u64>,
    /// The physical address of the memory mapped, where the source knows it (a kernel trace);
    /// otherwise the checker finds it from `cpu_addr`.
    pub phys_addr: Option<u64>,
    /// The execution context of the call.
    pub context: CallContext,
    /// Where the call was made.
    pub site: Site,
}

impl Event {
    /// An event of `op` by `call` on `device`, with the calling thread's context; the other
    /// fields start empty and are set by the caller.
    #[inline]
    pub fn new(op: Op, call: &'static str, kind: MapKind, device: DeviceId, site: Site) -> Event {
        Event::in_context(op, call, kind, device, site, CallContext::current())
    }

    /// The same in context `context` (an event read from a trace, which shows its context):
    /// the calling thread's is not read.
    #[inline]
    pub(crate) fn in_context(
        op: Op,
        call: &'static str,
        kind: MapKind,
        device: DeviceId,
        site: Site,
        context: CallContext,
    ) -> Event {
        Event {
            op,
            call,
            kind,
            device,
            dma_addr: 0,
            offset: 0,
            size: 0,
            dir: Direction::Bidirectional,
            attrs: DmaAttrs::empty(),
            nents: None,
            mapped_ents: 0,
            cpu_addr: None,
            phys_addr: None,
            context,
            site,
        }
    }

    /// The DMA range the event touches, `start..end` (`dma_addr + offset`, plus `size`), or
    /// `None` if it overflows.
    pub fn dma_range(&self) -> Option<std::ops::Range<u64>> {
        let start = self.dma_addr.checked_add(self.offset)?;
        Some(start..start.checked_add(self.size)?)
    }
}
