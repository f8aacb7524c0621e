//! The one place dmacheck takes its synchronization primitives from, so a `cfg(loom)` build can
//! swap in loom's model-checked versions without touching the rest of the crate.

pub(crate) use dashmap::DashMap;
pub(crate) use parking_lot::{Mutex, RwLock};
pub(crate) use std::sync::Arc;
pub(crate) use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
