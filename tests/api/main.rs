//! The API families and what they carry out: CMA, declared memory, user mappings, noncoherent
//! memory, IOMMU, pools and sg lists (with properties), fault injection, the checker's
//! assertions, many threads at once, model drivers (`fake_block`, `fake_nic`), events from other
//! sources (`replay`), and the README's promises (`readme`).

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod checker_asserts;
mod cma;
mod concurrency;
mod declared_memory;
mod fake_block;
mod fake_nic;
mod fault_injection;
mod iommu;
mod mmap;
mod modern_api;
mod noncoherent;
mod pool_properties;
mod readme;
mod replay;
mod sg_properties;
