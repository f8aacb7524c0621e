//! A baseline for dmacheck's bookkeeping: the checker anyone would write first. One global lock
//! over one `std` HashMap (SipHash) keyed by DMA address, the same facts per entry that a checker
//! needs (device, address, size, direction, kind, call site, mapping-error flag), and the same
//! unchecked backend doing the real mapping. Shared by the benches with `#[path]`.

use std::collections::HashMap;
use std::panic::Location;
use std::sync::Mutex;

use dmacheck::{DMA_MAPPING_ERROR, Device, DeviceId, Direction, DmaAddr, DmaAttrs, MapKind};

/// What the naive checker keeps per live mapping.
#[derive(Clone, Copy, Debug)]
pub struct NaiveEntry {
    device: DeviceId,
    dma_addr: DmaAddr,
    size: u64,
    dir: Direction,
    kind: MapKind,
    site: &'static Location<'static>,
    error_checked: bool,
}

/// One lock for every device and thread: the design dmacheck's sharded table is measured
/// against.
#[derive(Default)]
pub struct NaiveChecker {
    entries: Mutex<HashMap<u64, NaiveEntry>>,
    violations: Mutex<Vec<String>>,
}

impl NaiveChecker {
    pub fn new() -> NaiveChecker {
        NaiveChecker::default()
    }

    /// Map `size` bytes at `cpu` on `dev`'s backend, unchecked, then record the entry.
    #[track_caller]
    pub fn map(
        &self,
        dev: &Device,
        cpu: *const u8,
        size: usize,
        dir: Direction,
        kind: MapKind,
    ) -> DmaAddr {
        let site = Location::caller();
        let Some(dma) = dev
            .checker()
            .memory()
            .phys_of(cpu, size as u64)
            .ok()
            .and_then(|phys| {
                dev.backend()
                    .map(&dev.params(), phys, size as u64, dir, DmaAttrs::empty())
                    .ok()
            })
        else {
            return DMA_MAPPING_ERROR;
        };
        let entry = NaiveEntry {
            device: dev.id(),
            dma_addr: dma,
            size: size as u64,
            dir,
            kind,
            site,
            error_checked: false,
        };
        self.entries.lock().unwrap().insert(dma, entry);
        dma
    }

    /// `dma_mapping_error`: mark the entry as checked.
    pub fn mapping_error(&self, dev: &Device, dma: DmaAddr) -> i32 {
        if let Some(e) = self.entries.lock().unwrap().get_mut(&dma) {
            if e.device == dev.id() {
                e.error_checked = true;
            }
        }
        i32::from(dma == DMA_MAPPING_ERROR)
    }

    /// Remove the entry, compare it with the unmap's arguments, then unmap on the backend with
    /// the entry's values.
    #[track_caller]
    pub fn unmap(&self, dev: &Device, dma: DmaAddr, size: usize, dir: Direction, kind: MapKind) {
        let site = Location::caller();
        let removed = self.entries.lock().unwrap().remove(&dma);
        let Some(e) = removed else {
            self.violation(format!("{site}: unmap of unknown dma_addr {dma:#x}"));
            return;
        };
        let (same_size, same_dir, same_kind) =
            (e.size == size as u64, e.dir == dir, e.kind == kind);
        if !(same_size && same_dir && same_kind && e.device == dev.id() && e.error_checked) {
            self.violation(format!(
                "{site}: unmap of {:#x} differs from its map at {} (size {same_size}, dir \
                 {same_dir}, kind {same_kind}, checked {})",
                e.dma_addr, e.site, e.error_checked
            ));
        }
        let _ = dev
            .backend()
            .unmap(&dev.params(), dma, e.size, e.dir, DmaAttrs::empty());
    }

    fn violation(&self, text: String) {
        self.violations.lock().unwrap().push(text);
    }

    /// The violations found so far.
    pub fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap().clone()
    }

    /// How many entries are live.
    pub fn live(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}
