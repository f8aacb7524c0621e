//! The physical ranges user space maps now, held by the checker; the calls are in
//! `src/mmap.rs`.

use crate::sync::Mutex;
use crate::types::PhysAddr;

/// The physical page ranges user space maps now (one element per live mapping).
#[derive(Default)]
pub(crate) struct UserMaps(pub(crate) Mutex<Vec<(PhysAddr, PhysAddr)>>);

impl UserMaps {
    /// Whether any user mapping covers part of the physical range `start..end`.
    pub(crate) fn mapped(&self, start: PhysAddr, end: PhysAddr) -> bool {
        self.0.lock().iter().any(|&(s, e)| s < end && start < e)
    }
}
