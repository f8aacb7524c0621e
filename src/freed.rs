//! Streaming mappings whose memory was freed while they were live (`free-while-mapped`): kept
//! until their unmap (or their device's release), so the device's later accesses to them are
//! reported too (`device-access-freed`). The list is in `state/freed.rs`; the mappings of a
//! free's memory are the tracker's to find.

use crate::checker::Checker;
use crate::event::{Event, Op};
use crate::rules;
use crate::rules::Finding;
use crate::state::freed::FreedMapping;
use crate::types::{DeviceId, MapKind};

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
    let end = (start.addr() as u64).checked_add(len as u64);
    if !checker.config().enabled || start.is_null() || len == 0 || end.is_none() {
        return MappedAtFree(Vec::new());
    }
    let site = checker.capture_site();
    let mut ev = Event::new(Op::MemoryFree, call, MapKind::Single, DeviceId::NONE, site);
    (ev.cpu_addr, ev.size) = (Some(start.addr() as u64), len as u64);
    let mut found = Vec::new();
    let start = start.addr() as u64;
    for m in c.tracker.cpu_mapped(start, start + ev.size) {
        if let Some(f) = rules::heap::check_free(&ev, &m) {
            let freed = FreedMapping {
                device: m.device,
                dma_addr: m.dma_addr,
                size: m.size,
                mapped_by: m.mapped_by(),
                mapped_at: m.site,
                freed_at: site,
                freed_by: call,
            };
            let mut ev = ev.clone();
            (ev.device, ev.kind) = (m.device, m.kind);
            found.push((ev, freed, f));
        }
    }
    MappedAtFree(found)
}
