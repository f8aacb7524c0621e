//! # dmacheck
//!
//! A checker for code that uses the Linux DMA API, in user space: what the kernel's
//! `CONFIG_DMA_API_DEBUG` does for drivers, in your tests, fuzzers and model checkers.
//!
//! Every DMA call goes through a thin shim with the Linux name ([`dma_map_single`],
//! [`dma_unmap_page`], [`dma_alloc_coherent`], [`dma_sync_single_for_cpu`], ...). The shim records
//! the call in a concurrent table (one entry per live mapping, with the site that made it),
//! checks it against the [`rules`], and carries it out on a real backing allocator: real memory
//! at simulated physical addresses, with DMA addresses a device can use.
//!
//! ## The model
//!
//! - A [`Checker`] holds all state: memory, devices, entries, violations. Each test makes its
//!   own; [`Checker::global`] serves C code and adapters.
//! - A [`Device`] is made from a checker, with masks and segment limits like `struct device`.
//!   Releasing it is a driver unbind: what is still mapped is reported as a leak.
//! - DMA-able memory comes from [`kmalloc`] and [`alloc_pages`]; coherent memory from
//!   [`dma_alloc_coherent`]. DMA addresses are never CPU pointers.
//! - A violation names the rule, the call and its site, and the site that made the mapping
//!   ("mapped at"). Each rule has a [`Level`]: deny (panic at the call), warn (report, go on)
//!   or allow. Set levels with [`CheckerBuilder`] or the `DMACHECK` variable ([`config`]).
//!
//! ## A test
//!
//! ```
//! use dmacheck::*;
//!
//! let checker = Checker::builder().env(false).print(false).build();
//! let dev = checker.device("0000:00:03.0").driver("e1000").build();
//!
//! let buf = kmalloc(&checker, 2048, Gfp::KERNEL);
//! let dma = dma_map_single(&dev, buf, 2048, Direction::ToDevice);
//! // A bug: the driver never tests `dma` with dma_mapping_error, and unmaps with a wrong size.
//! dma_unmap_single(&dev, dma, 1024, Direction::ToDevice);
//!
//! let found: Vec<_> = checker.violations().iter().map(|v| v.rule.id).collect();
//! assert_eq!(found, ["unmap-size-mismatch", "unmap-unchecked"]);
//! kfree(&checker, buf);
//! ```
//!
//! A correct driver ends its test with [`Checker::assert_clean`]: no violation, no leak.

#![warn(missing_docs)]
// docs.rs builds with every feature and `--cfg docsrs`: mark what needs a feature.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(feature = "virtio", feature = "dma-api"))]
pub mod adapters;
mod api;
pub mod backend;
// The C ABI's functions, for C programs (`include/`); Rust code uses the Rust API.
#[doc(hidden)]
pub mod capi;
mod checker;
mod cma;
pub mod config;
mod context;
mod declared;
mod device;
mod device_model;
mod event;
pub mod faults;
mod frames;
mod freed;
mod mmap;
mod noncoherent;
mod origin;
mod pool;
mod pool_redzone;
pub mod report;
pub mod rules;
mod sg;
mod site;
mod state;
mod sync;
pub mod trace;
mod tracker;
mod types;

pub use api::*;
pub use backend::{
    Backend, BounceBackend, DirectBackend, FreeError, IommuBackend, MapError, MemoryConfig,
    Overrun, Page,
};
pub use checker::{Checker, CheckerBuilder, trap};
pub use cma::{
    CMA_ALIGNMENT, dma_alloc_from_contiguous, dma_declare_contiguous, dma_release_from_contiguous,
};
pub use config::{Config, ConfigError};
pub use context::{
    CallContext, IrqSaveGuard, SpinLock, SpinLockGuard, in_atomic, in_hardirq, in_interrupt,
    in_softirq, irqs_disabled, local_bh_disable, local_bh_enable, local_irq_disable,
    local_irq_enable, local_irq_save, preempt_disable, preempt_enable, run_in_hardirq,
    run_in_softirq,
};
pub use declared::{
    DMA_MEMORY_EXCLUSIVE, DMA_MEMORY_INCLUDES_CHILDREN, DMA_MEMORY_IO, DMA_MEMORY_MAP,
    dma_declare_coherent_memory, dma_mark_declared_memory_occupied, dma_release_declared_memory,
};
pub use device::{Device, DeviceBuilder, DeviceParams};
pub use device_model::DmaFault;
pub use event::{DeviceId, Event, Op};
pub use faults::{FaultKind, FaultSpec};
pub use mmap::{UserMapping, dma_mmap_coherent, remap_pfn_range};
pub use noncoherent::{
    dma_alloc_noncoherent, dma_cache_sync, dma_free_noncoherent, dma_is_consistent,
};
pub use pool::{
    DmaPool, POOL_POISON_ALLOCATED, POOL_POISON_FREED, dma_pool_alloc, dma_pool_create,
    dma_pool_destroy, dma_pool_free, dma_pool_zalloc, dmam_pool_create,
};
pub use report::{Detail, Related, Stats, Value, Violation};
pub use rules::{Level, Rule};
pub use sg::{
    Scatterlist, Sg, SgTable, for_each_sg, sg_chain, sg_dma_address, sg_dma_len, sg_first,
    sg_init_one, sg_init_table, sg_set_buf, sg_set_page,
};
pub use site::{Frame, Site, Stack};
pub use state::cma::CmaArea;
pub use tracker::{Entry, Owner};
pub use types::*;

// The README's examples are compiled and run as doctests, so they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
