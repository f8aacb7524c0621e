//! The live noncoherent allocations, held by the checker; the calls are in
//! `src/noncoherent.rs`.

use std::collections::HashMap;

use crate::event::DeviceId;
use crate::sync::Mutex;
use crate::types::{DmaAddr, PhysAddr};

/// One noncoherent allocation: where the CPU's and the device's bytes are.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Buffer {
    pub(crate) device: DeviceId,
    pub(crate) dma: DmaAddr,
    pub(crate) size: u64,
    pub(crate) cpu_phys: PhysAddr,
    /// The device's copy (the same as `cpu_phys` on a coherent platform).
    pub(crate) dev_phys: PhysAddr,
}

/// The live noncoherent allocations of a checker, by the CPU address of their first byte.
#[derive(Default)]
pub(crate) struct NoncoherentBuffers(pub(crate) Mutex<HashMap<u64, Buffer>>);

impl NoncoherentBuffers {
    /// The buffer containing CPU address `cpu`: its start and description.
    pub(crate) fn containing(&self, cpu: u64) -> Option<(u64, Buffer)> {
        self.0
            .lock()
            .iter()
            .find(|(start, b)| (**start..**start + b.size).contains(&cpu))
            .map(|(s, b)| (*s, *b))
    }
}
