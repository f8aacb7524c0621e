//! Streaming mappings whose memory was freed while they were live (`free-while-mapped`): kept
//! until their unmap (or their device's release), so the device's later accesses to them are
//! reported too (`device-access-freed`).

use crate::checker::Checker;
use crate::event::{Event, Op};
use crate::rules;
use crate::rules::Finding;
use crate::site::Site;
use crate::sync::{AtomicBool, Mutex, Ordering};
use crate::tracker::Entry;
use crate::types::{DeviceId, DmaAddr, MapKind};

/// A live mapping whose memory was freed.
#[derive(Clone, Debug)]
pub(crate) struct FreedMapping {
    pub device: DeviceId,
    pub dma_addr: DmaAddr,
    pub size: u64,
    pub kind: MapKind,
    pub mapped_at: Site,
    pub freed_at: Site,
    pub freed_by: &'static str,
}

impl FreedMapping {
    fn is(&self, e: &Entry) -> bool {
        (self.device, self.dma_addr, self.size, self.mapped_at)
            == (e.device, e.dma_addr, e.size, e.site)
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
    fn add(&self, m: FreedMapping) {
        let mut list = self.list.lock();
        list.push(m);
        self.any.store(true, Ordering::Release);
    }

    /// The mapping `e` ended (unmapped): its memory is nobody's concern here any more.
    pub(crate) fn unmapped(&self, e: &Entry) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let mut list = self.list.lock();
        if let Some(i) = list.iter().position(|m| m.is(e)) {
            list.swap_remove(i);
        }
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

/// What a free found still mapped: reported (and remembered) once the free is carried out.
#[must_use]
pub(crate) struct MappedAtFree(Vec<(Event, FreedMapping, Finding)>);

impl MappedAtFree {
    /// The free was carried out: remember the mappings as freed and report them.
    pub(crate) fn report(self, checker: &Checker) {
        let c = checker.inner();
        for (ev, freed, f) in self.0 {
            c.freed.add(freed);
            c.finish(&ev, [f].into_iter().collect());
        }
    }
}

/// `call` is about to free `len` bytes at `start`: the live streaming mappings of them. Asked
/// before the free, while the memory is still the caller's, so no mapping of its next owner
/// is mistaken for one of it.
#[track_caller]
pub(crate) fn mapped(
    checker: &Checker,
    call: &'static str,
    start: *const u8,
    len: usize,
) -> MappedAtFree {
    let c = checker.inner();
    if !checker.config().enabled || start.is_null() || len == 0 || c.tracker.live() == 0 {
        return MappedAtFree(Vec::new());
    }
    let site = checker.capture_site();
    let mut ev = Event::new(Op::MemoryFree, call, MapKind::Single, DeviceId::NONE, site);
    (ev.cpu_addr, ev.size) = (Some(start.addr() as u64), len as u64);
    let mut found = Vec::new();
    c.tracker.for_each_mut(|e| {
        if let Some(f) = rules::heap::check_free(&ev, e) {
            let freed = FreedMapping {
                device: e.device,
                dma_addr: e.dma_addr,
                size: e.size,
                kind: e.kind,
                mapped_at: e.site,
                freed_at: site,
                freed_by: call,
            };
            let mut ev = ev.clone();
            (ev.device, ev.kind) = (e.device, e.kind);
            found.push((ev, freed, f));
        }
    });
    MappedAtFree(found)
}
