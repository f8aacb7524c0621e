//! The state behind `device-access-freed`: the mappings whose memory was freed while they
//! were live (`free-while-mapped`), kept until their unmap (or their device's release). A free
//! finds the mappings of its memory through the tracker (`Tracker::cpu_mapped`); its check is
//! in `src/freed.rs`, its rules in `src/rules/heap.rs`.

use crate::site::Site;
use crate::sync::{AtomicBool, Mutex, Ordering};
use crate::tracker::Entry;
use crate::types::{DeviceId, DmaAddr};

/// A live mapping whose memory was freed.
#[derive(Clone, Debug)]
pub(crate) struct FreedMapping {
    pub device: DeviceId,
    pub dma_addr: DmaAddr,
    pub size: u64,
    pub mapped_by: &'static str,
    pub mapped_at: Site,
    pub freed_at: Site,
    pub freed_by: &'static str,
}

impl FreedMapping {
    fn is(&self, e: &Entry) -> bool {
        (self.device, self.dma_addr, self.size, self.mapped_at)
            == (e.device, e.dma_addr, e.size, e.site)
    }

    fn same_mapping(&self, other: &FreedMapping) -> bool {
        (self.device, self.dma_addr, self.size, self.mapped_at)
            == (other.device, other.dma_addr, other.size, other.mapped_at)
    }
}

/// The mappings of one checker whose memory was freed. Empty in a correct program, so every
/// look-up first reads one flag.
#[derive(Default)]
pub(crate) struct FreedMappings {
    any: AtomicBool,
    list: Mutex<Vec<FreedMapping>>,
}

impl FreedMappings {
    /// The memory of a live mapping was freed. Once per mapping: its memory freed again
    /// (allocated and freed anew while the mapping lives) keeps the first free, where the
    /// mapping stopped being the driver's memory.
    pub(crate) fn add(&self, m: FreedMapping) {
        let mut list = self.list.lock();
        if !list.iter().any(|known| known.same_mapping(&m)) {
            list.push(m);
        }
        self.any.store(true, Ordering::Release);
    }

    /// The mapping `e` ended (unmapped): its memory is nobody's concern here any more.
    pub(crate) fn unmapped(&self, e: &Entry) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let mut list = self.list.lock();
        list.retain(|m| !m.is(e));
        self.any.store(!list.is_empty(), Ordering::Release);
    }

    /// The device was released: its mappings are gone.
    pub(crate) fn device_released(&self, device: DeviceId) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let mut list = self.list.lock();
        list.retain(|m| m.device != device);
        self.any.store(!list.is_empty(), Ordering::Release);
    }

    /// The freed mapping `e` is, if its memory was freed.
    pub(crate) fn find(&self, e: &Entry) -> Option<FreedMapping> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        self.list.lock().iter().find(|m| m.is(e)).cloned()
    }
}
