//! The state the optional API families keep in the checker or in a device: CMA areas
//! (`cma.rs`), declared coherent regions (`declared.rs`), user mappings (`mmap.rs`) and
//! noncoherent buffers (`noncoherent.rs`), managed resources and IOVA spaces (`managed.rs`). Below the checker and the device, which hold it; the
//! families' calls (`src/cma.rs`, `src/declared.rs`, `src/mmap.rs`, `src/noncoherent.rs`) sit
//! above both.

pub(crate) mod cma;
pub(crate) mod declared;
pub(crate) mod freed;
pub(crate) mod managed;
pub(crate) mod mmap;
pub(crate) mod noncoherent;
