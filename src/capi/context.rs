//! `<linux/irqflags.h>`, `<linux/preempt.h>`, `<linux/bottom_half.h>`, `<linux/spinlock.h>`:
//! the simulated execution context of the calling thread, and spinlocks over C memory.

use crate::sync::Ordering;
use crate::sync::process::AtomicU32;
use std::ffi::{c_int, c_uint, c_ulong};

use super::ffi;

#[unsafe(no_mangle)]
extern "C" fn local_irq_disable() {
    crate::local_irq_disable();
}

#[unsafe(no_mangle)]
extern "C" fn local_irq_enable() {
    crate::local_irq_enable();
}

#[unsafe(no_mangle)]
extern "C" fn irqs_disabled() -> c_int {
    c_int::from(crate::irqs_disabled())
}

/// `local_irq_save(flags)`: 1 if interrupts were disabled, 0 if not; now they are.
#[unsafe(no_mangle)]
extern "C" fn dmacheck_local_irq_save() -> c_ulong {
    let was = crate::irqs_disabled();
    crate::local_irq_disable();
    c_ulong::from(was)
}

#[unsafe(no_mangle)]
extern "C" fn local_irq_restore(flags: c_ulong) {
    if flags != 0 {
        crate::local_irq_disable();
    } else {
        crate::local_irq_enable();
    }
}

#[unsafe(no_mangle)]
extern "C" fn preempt_disable() {
    crate::preempt_disable();
}

#[unsafe(no_mangle)]
extern "C" fn preempt_enable() {
    crate::preempt_enable();
}

#[unsafe(no_mangle)]
extern "C" fn local_bh_disable() {
    crate::local_bh_disable();
}

#[unsafe(no_mangle)]
extern "C" fn local_bh_enable() {
    crate::local_bh_enable();
}

#[unsafe(no_mangle)]
extern "C" fn in_interrupt() -> c_int {
    c_int::from(crate::in_interrupt())
}

#[unsafe(no_mangle)]
extern "C" fn in_hardirq() -> c_int {
    c_int::from(crate::in_hardirq())
}

#[unsafe(no_mangle)]
extern "C" fn in_softirq() -> c_int {
    c_int::from(crate::in_softirq())
}

#[unsafe(no_mangle)]
extern "C" fn in_atomic() -> c_int {
    c_int::from(crate::in_atomic())
}

/// A C `spinlock_t` (`<linux/spinlock.h>`): locked with atomics on its own two words.
#[repr(C)]
#[derive(Debug, Default)]
pub struct CSpinlock {
    /// 1 while held.
    pub locked: c_uint,
    /// The holder's thread number (dmacheck's, from 1).
    pub owner: c_uint,
}

/// This thread's number, for spotting a lock taken twice by its holder.
fn thread_number() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    thread_local! {
        static NUMBER: u32 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    NUMBER.with(|n| *n)
}

/// The lock's words as atomics.
///
/// # Safety
/// `lock` points to a live `spinlock_t` that C code touches only through these calls.
unsafe fn words<'a>(lock: *mut CSpinlock) -> (&'a AtomicU32, &'a AtomicU32) {
    // SAFETY: `c_uint` and `AtomicU32` have the same size and alignment; the words are live and
    // accessed atomically from here on (the caller's contract).
    unsafe {
        (
            AtomicU32::from_ptr(&raw mut (*lock).locked),
            AtomicU32::from_ptr(&raw mut (*lock).owner),
        )
    }
}

/// Take the lock, spinning (and yielding) while another thread holds it. NULL takes nothing.
fn acquire(lock: *mut CSpinlock) {
    if lock.is_null() {
        return;
    }
    // SAFETY: the C contract: a live, initialized lock.
    let (locked, owner) = unsafe { words(lock) };
    let me = thread_number();
    while locked
        .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        if owner.load(Ordering::Relaxed) == me {
            eprintln!(
                "dmacheck: spin_lock: this thread already holds the lock at {lock:p}: a deadlock; \
                 aborting"
            );
            let _ = std::panic::catch_unwind(crate::Checker::write_exit_report_now);
            std::process::abort();
        }
        std::thread::yield_now();
    }
    owner.store(me, Ordering::Relaxed);
}

/// Release the lock. NULL releases nothing.
fn release(lock: *mut CSpinlock) {
    if lock.is_null() {
        return;
    }
    // SAFETY: the C contract: a live, initialized lock.
    let (locked, owner) = unsafe { words(lock) };
    owner.store(0, Ordering::Relaxed);
    locked.store(0, Ordering::Release);
}

#[unsafe(no_mangle)]
unsafe extern "C" fn spin_lock_init(lock: *mut CSpinlock) {
    if !lock.is_null() {
        // SAFETY: the C contract: `lock` points to a spinlock_t, not held by anyone.
        unsafe { lock.write(CSpinlock::default()) };
    }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn spin_lock(lock: *mut CSpinlock) {
    ffi("spin_lock", || {
        acquire(lock);
        crate::preempt_disable();
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn spin_unlock(lock: *mut CSpinlock) {
    crate::preempt_enable();
    release(lock);
}

#[unsafe(no_mangle)]
unsafe extern "C" fn spin_trylock(lock: *mut CSpinlock) -> c_int {
    if lock.is_null() {
        return 0;
    }
    // SAFETY: the C contract: a live, initialized lock.
    let (locked, owner) = unsafe { words(lock) };
    if locked
        .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return 0;
    }
    owner.store(thread_number(), Ordering::Relaxed);
    crate::preempt_disable();
    1
}

#[unsafe(no_mangle)]
unsafe extern "C" fn spin_is_locked(lock: *mut CSpinlock) -> c_int {
    if lock.is_null() {
        return 0;
    }
    // SAFETY: the C contract: a live, initialized lock.
    let (locked, _) = unsafe { words(lock) };
    c_int::from(locked.load(Ordering::Relaxed) != 0)
}

#[unsafe(no_mangle)]
unsafe extern "C" fn spin_lock_bh(lock: *mut CSpinlock) {
    ffi("spin_lock_bh", || {
        crate::local_bh_disable();
        acquire(lock);
        crate::preempt_disable();
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn spin_unlock_bh(lock: *mut CSpinlock) {
    crate::preempt_enable();
    release(lock);
    crate::local_bh_enable();
}

#[unsafe(no_mangle)]
unsafe extern "C" fn spin_lock_irq(lock: *mut CSpinlock) {
    ffi("spin_lock_irq", || {
        crate::local_irq_disable();
        acquire(lock);
        crate::preempt_disable();
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn spin_unlock_irq(lock: *mut CSpinlock) {
    crate::preempt_enable();
    release(lock);
    crate::local_irq_enable();
}

/// `spin_lock_irqsave(lock, flags)`: the saved interrupt state (as `local_irq_save`).
#[unsafe(no_mangle)]
unsafe extern "C" fn dmacheck_spin_lock_irqsave(lock: *mut CSpinlock) -> c_ulong {
    ffi("spin_lock_irqsave", || {
        let flags = dmacheck_local_irq_save();
        acquire(lock);
        crate::preempt_disable();
        flags
    })
}

#[unsafe(no_mangle)]
unsafe extern "C" fn spin_unlock_irqrestore(lock: *mut CSpinlock, flags: c_ulong) {
    crate::preempt_enable();
    release(lock);
    local_irq_restore(flags);
}
