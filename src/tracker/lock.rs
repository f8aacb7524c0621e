//! The lock of a table shard: spins briefly, then yields, and unlocks with a plain store.
//!
//! A shard is held for tens of nanoseconds, and three times per mapping (map, error check,
//! unmap). On this kind of machine a locked instruction costs about 10 ns, and a parking
//! mutex needs one to lock and another to unlock (it must look for parked waiters); this lock
//! needs one only to lock, which the benchmarks show as a sixth of a checked map+unmap. A
//! waiter spins a little, then yields its time slice rather than parking: held this briefly, the
//! lock is free again long before a parked thread could be woken.
//!
//! Under loom, it is loom's mutex (models check the table, not this lock).

#[cfg(not(loom))]
pub(crate) use spin::ShardLock;

#[cfg(loom)]
pub(crate) type ShardLock<T> = crate::sync::Mutex<T>;

#[cfg(not(loom))]
mod spin {
    use std::cell::UnsafeCell;
    use std::ops::{Deref, DerefMut};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A spin-then-yield lock over a `T`.
    #[derive(Default)]
    pub(crate) struct ShardLock<T> {
        locked: AtomicBool,
        value: UnsafeCell<T>,
    }

    // SAFETY: the value is reached only through a guard, and `locked` lets one guard exist at
    // a time (acquired with `Acquire`, released with `Release`, so the guard holder sees every
    // write of the previous holder): the lock hands `T` from thread to thread, which needs
    // `T: Send` and nothing more, as for `std::sync::Mutex`.
    unsafe impl<T: Send> Sync for ShardLock<T> {}
    // SAFETY: sending the lock sends the `T` it owns.
    unsafe impl<T: Send> Send for ShardLock<T> {}

    /// Spins before a waiter yields.
    const SPINS: u32 = 64;

    impl<T> ShardLock<T> {
        #[inline]
        pub(crate) fn lock(&self) -> ShardGuard<'_, T> {
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                self.lock_contended();
            }
            ShardGuard { lock: self }
        }

        #[cold]
        fn lock_contended(&self) {
            let mut spins = 0;
            loop {
                // Wait reading (no locked instruction) until it looks free, then try.
                while self.locked.load(Ordering::Relaxed) {
                    if spins < SPINS {
                        spins += 1;
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
                if self
                    .locked
                    .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
            }
        }
    }

    /// Access to a locked value; unlocks when dropped.
    pub(crate) struct ShardGuard<'a, T> {
        lock: &'a ShardLock<T>,
    }

    impl<T> Deref for ShardGuard<'_, T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            // SAFETY: this guard holds the lock, so no other reference to the value exists.
            unsafe { &*self.lock.value.get() }
        }
    }

    impl<T> DerefMut for ShardGuard<'_, T> {
        #[inline]
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: as for `deref`; `&mut self` makes this the only reference through the guard.
            unsafe { &mut *self.lock.value.get() }
        }
    }

    impl<T> Drop for ShardGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            self.lock.locked.store(false, Ordering::Release);
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_lock_excludes_and_hands_over_every_write() {
            let lock = std::sync::Arc::new(ShardLock::<u64>::default());
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let lock = lock.clone();
                    std::thread::spawn(move || {
                        for _ in 0..if cfg!(miri) { 50 } else { 20_000 } {
                            *lock.lock() += 1;
                        }
                    })
                })
                .collect();
            threads.into_iter().for_each(|t| t.join().unwrap());
            assert_eq!(*lock.lock(), if cfg!(miri) { 200 } else { 80_000 });
        }
    }
}
