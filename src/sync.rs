//! Where the state the loom models check takes its synchronization primitives from, so a
//! `cfg(loom)` build can swap in loom's model-checked versions without touching the rest of the
//! crate (as tokio does). What no model checks names `std`'s directly: trap mode's signal-handler
//! state, the arena's spare list and dirty-page bitmap, the exit status count, `trace --live`'s
//! reader thread; the tracker's shard lock and counter stripes have loom forms of their own.
//!
//! - Normally: `parking_lot`'s locks, `std`'s atomics and `OnceLock`.
//! - Under `RUSTFLAGS="--cfg loom"`: loom's `Mutex`, `RwLock` and atomics behind the same
//!   (parking_lot-style, non-poisoning) interface, and a `OnceLock` whose initialization is a
//!   loom lock. parking_lot cannot run under loom: loom sees nothing of its internal
//!   synchronization, and a real lock held across a modeled thread switch would block
//!   the one OS thread loom runs every modeled thread on. Thread-locals become loom's, one per
//!   modeled thread.
//!
//! Two things stay real under loom. `Arc` is `std`'s: the crate relies on unsized coercions
//! (`Arc<dyn Backend>`, `Arc<str>`) that loom's `Arc` cannot do, and reference counts are not
//! what the models check. And [`process`] holds the primitives of process-wide statics (the
//! global checker, the exit report, the symbol cache), which outlive any one loom execution and
//! so must never be loom objects.

pub(crate) use std::sync::Arc;

#[cfg(not(loom))]
pub(crate) use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::OnceLock;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
#[cfg(loom)]
pub(crate) use loom_lock::{Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard};

/// Primitives for process-wide statics: always the real ones, also under loom, because a static
/// lives across all of loom's executions while a loom object belongs to one. Nothing a model
/// checks may live here.
pub(crate) mod process {
    pub(crate) use parking_lot::Mutex;
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32};
    pub(crate) use std::sync::{LazyLock, OnceLock};
}

/// `thread_local!` with a `const` initializer normally; under loom, one value per modeled thread
/// (loom runs all of them on one OS thread, so `std`'s thread-locals would be shared).
macro_rules! thread_local_const {
    ($vis:vis static $name:ident: $t:ty = $init:expr;) => {
        #[cfg(not(loom))]
        std::thread_local! { $vis static $name: $t = const { $init }; }
        #[cfg(loom)]
        loom::thread_local! { $vis static $name: $t = $init; }
    };
}
pub(crate) use thread_local_const;

/// loom's locks behind `parking_lot`'s interface (no poisoning: `lock()` returns the guard).
#[cfg(loom)]
mod loom_lock {
    use loom::sync::RwLockWriteGuard;
    pub(crate) use loom::sync::{MutexGuard, RwLockReadGuard};
    use std::sync::PoisonError;

    /// A loom mutex with `parking_lot::Mutex`'s interface.
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Mutex<T> {
            Mutex(loom::sync::Mutex::new(value))
        }

        #[track_caller]
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }

        #[allow(dead_code)]
        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner().unwrap_or_else(PoisonError::into_inner)
        }

        #[allow(dead_code)]
        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.0.get_mut().unwrap_or_else(PoisonError::into_inner)
        }
    }

    /// A loom reader-writer lock with `parking_lot::RwLock`'s interface.
    #[derive(Debug, Default)]
    pub(crate) struct RwLock<T>(loom::sync::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> RwLock<T> {
            RwLock(loom::sync::RwLock::new(value))
        }

        #[track_caller]
        pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(PoisonError::into_inner)
        }

        #[track_caller]
        pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(PoisonError::into_inner)
        }
    }

    /// `std::sync::OnceLock` whose initialization is serialized by a loom lock, so racing
    /// initializers are modeled (and never block loom's one OS thread in `std`'s wait).
    #[derive(Debug)]
    pub(crate) struct OnceLock<T> {
        value: std::sync::OnceLock<T>,
        init: Mutex<()>,
    }

    impl<T> Default for OnceLock<T> {
        fn default() -> OnceLock<T> {
            OnceLock::new()
        }
    }

    impl<T> From<T> for OnceLock<T> {
        fn from(value: T) -> OnceLock<T> {
            OnceLock {
                value: std::sync::OnceLock::from(value),
                init: Mutex::new(()),
            }
        }
    }

    impl<T> OnceLock<T> {
        pub(crate) fn new() -> OnceLock<T> {
            OnceLock {
                value: std::sync::OnceLock::new(),
                init: Mutex::new(()),
            }
        }

        #[allow(dead_code)]
        pub(crate) fn get(&self) -> Option<&T> {
            let _init = self.init.lock();
            self.value.get()
        }

        #[allow(dead_code)]
        pub(crate) fn set(&self, value: T) -> Result<(), T> {
            let _init = self.init.lock();
            self.value.set(value)
        }

        pub(crate) fn get_or_init(&self, f: impl FnOnce() -> T) -> &T {
            let _init = self.init.lock();
            self.value.get_or_init(f)
        }
    }
}
