//! A simulated execution context per thread, as the kernel has: whether interrupts are
//! disabled, whether preemption is disabled (a spinlock is held), and whether the code runs in a
//! hard or soft interrupt handler.
//!
//! User-space code has no interrupts, so drivers under test mark the regions where the real
//! driver would be in such a context: with the guards here, with [`SpinLock`], or by running a
//! handler through [`run_in_hardirq`]/[`run_in_softirq`]. Rules then judge calls by the context
//! they were made in (a sleeping allocation under a spinlock, a coherent free with IRQs off).
//!
//! ```
//! use dmacheck::*;
//! assert!(!in_atomic());
//! let lock = SpinLock::new(0u32);
//! {
//!     let mut guard = lock.lock_irqsave();
//!     *guard += 1;
//!     assert!(in_atomic() && irqs_disabled());
//! }
//! assert!(!in_atomic());
//! run_in_hardirq(|| assert!(in_interrupt() && in_hardirq() && irqs_disabled()));
//! ```

use std::cell::Cell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use crate::sync::{Mutex, MutexGuard};

#[derive(Clone, Copy, Default)]
struct State {
    irqs_disabled: bool,
    /// Spinlocks held and `preempt_disable` depth.
    preempt: u32,
    /// Soft interrupt handlers entered and `local_bh_disable` depth.
    softirq: u32,
    /// Hard interrupt handlers entered.
    hardirq: u32,
}

crate::sync::thread_local_const! {
    static STATE: Cell<State> =
        Cell::new(State { irqs_disabled: false, preempt: 0, softirq: 0, hardirq: 0 });
}

fn state() -> State {
    STATE.with(Cell::get)
}

fn update(f: impl FnOnce(&mut State)) {
    STATE.with(|c| {
        let mut s = c.get();
        f(&mut s);
        c.set(s);
    });
}

/// Whether local interrupts are disabled on this thread.
pub fn irqs_disabled() -> bool {
    state().irqs_disabled
}

/// Disable local interrupts on this thread. Not nesting, as in the kernel: one
/// [`local_irq_enable`] turns them back on.
pub fn local_irq_disable() {
    update(|s| s.irqs_disabled = true);
}

/// Enable local interrupts on this thread.
pub fn local_irq_enable() {
    update(|s| s.irqs_disabled = false);
}

/// Disable preemption (nesting, as `preempt_disable`).
pub fn preempt_disable() {
    update(|s| s.preempt += 1);
}

/// Enable preemption again (`preempt_enable`); unbalanced calls are ignored.
pub fn preempt_enable() {
    update(|s| s.preempt = s.preempt.saturating_sub(1));
}

/// Disable softirqs on this thread (`local_bh_disable`, nesting).
pub fn local_bh_disable() {
    update(|s| s.softirq += 1);
}

/// Enable softirqs again (`local_bh_enable`); unbalanced calls are ignored.
pub fn local_bh_enable() {
    update(|s| s.softirq = s.softirq.saturating_sub(1));
}

/// Whether the thread runs in a hard interrupt handler (`in_hardirq`, formerly `in_irq`).
pub fn in_hardirq() -> bool {
    state().hardirq > 0
}

/// Whether the thread runs in a soft interrupt handler or with softirqs disabled
/// (`in_softirq`).
pub fn in_softirq() -> bool {
    state().softirq > 0
}

/// Whether the thread runs in interrupt context, hard or soft (`in_interrupt`).
pub fn in_interrupt() -> bool {
    let s = state();
    s.hardirq > 0 || s.softirq > 0
}

/// Whether the thread may not sleep: a spinlock is held, preemption or interrupts are
/// disabled, or it runs in interrupt context (`in_atomic`, plus `irqs_disabled`, as
/// `might_sleep` checks).
pub fn in_atomic() -> bool {
    let s = state();
    s.preempt > 0 || s.irqs_disabled || s.hardirq > 0 || s.softirq > 0
}

/// Run `handler` as a hard interrupt handler: in interrupt context, with IRQs disabled.
pub fn run_in_hardirq<R>(handler: impl FnOnce() -> R) -> R {
    let saved = state();
    update(|s| {
        s.hardirq += 1;
        s.irqs_disabled = true;
    });
    let restore = RestoreOnDrop(saved);
    let r = handler();
    drop(restore);
    r
}

/// Run `handler` as a soft interrupt handler (a tasklet, NAPI poll): in interrupt context, IRQs
/// enabled.
pub fn run_in_softirq<R>(handler: impl FnOnce() -> R) -> R {
    let saved = state();
    update(|s| s.softirq += 1);
    let restore = RestoreOnDrop(saved);
    let r = handler();
    drop(restore);
    r
}

/// Puts the context back as it was, even if a handler panics.
struct RestoreOnDrop(State);

impl Drop for RestoreOnDrop {
    fn drop(&mut self) {
        STATE.with(|c| c.set(self.0));
    }
}

/// The interrupt state saved by [`local_irq_save`]; restores it when dropped, or explicitly with
/// [`IrqSaveGuard::restore`]. Tied to its thread, like the flags word in the kernel.
#[must_use = "dropping the guard restores the interrupt state at once"]
pub struct IrqSaveGuard {
    was_disabled: bool,
    _not_send: PhantomData<*const ()>,
}

impl IrqSaveGuard {
    /// Whether interrupts were disabled when the state was saved (the kernel's `flags`).
    pub fn flags(&self) -> bool {
        self.was_disabled
    }

    /// Restore the saved interrupt state now (`local_irq_restore`).
    pub fn restore(self) {}
}

impl Drop for IrqSaveGuard {
    fn drop(&mut self) {
        update(|s| s.irqs_disabled = self.was_disabled);
    }
}

/// Save the interrupt state and disable interrupts (`local_irq_save`).
pub fn local_irq_save() -> IrqSaveGuard {
    let mut was_disabled = false;
    update(|s| {
        was_disabled = s.irqs_disabled;
        s.irqs_disabled = true;
    });
    IrqSaveGuard {
        was_disabled,
        _not_send: PhantomData,
    }
}

/// A spinlock: a real lock whose holder is in atomic context (preemption disabled), as in the
/// kernel. `lock_irqsave` also disables interrupts, `lock_bh` softirqs.
#[derive(Default)]
pub struct SpinLock<T> {
    inner: Mutex<T>,
}

/// What a [`SpinLock`] guard undoes when dropped.
enum Undo {
    Preempt,
    Irq(IrqSaveGuard),
    Bh,
}

/// Holds a [`SpinLock`]; the context is restored and the lock released when dropped.
pub struct SpinLockGuard<'a, T> {
    guard: MutexGuard<'a, T>,
    undo: Option<Undo>,
}

impl<T> SpinLock<T> {
    /// A new, unlocked spinlock (`spin_lock_init`).
    #[cfg(not(loom))]
    pub const fn new(value: T) -> SpinLock<T> {
        SpinLock {
            inner: Mutex::new(value),
        }
    }

    /// A new, unlocked spinlock (`spin_lock_init`): a loom lock, so a loom model explores the
    /// driver's own locking too (not `const` under loom).
    #[cfg(loom)]
    pub fn new(value: T) -> SpinLock<T> {
        SpinLock {
            inner: Mutex::new(value),
        }
    }

    /// Take the lock (`spin_lock`): preemption is disabled while it is held.
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        preempt_disable();
        SpinLockGuard {
            guard: self.inner.lock(),
            undo: Some(Undo::Preempt),
        }
    }

    /// Take the lock with interrupts disabled (`spin_lock_irqsave`); the guard restores them.
    pub fn lock_irqsave(&self) -> SpinLockGuard<'_, T> {
        let irq = local_irq_save();
        preempt_disable();
        SpinLockGuard {
            guard: self.inner.lock(),
            undo: Some(Undo::Irq(irq)),
        }
    }

    /// Take the lock with softirqs disabled (`spin_lock_bh`).
    pub fn lock_bh(&self) -> SpinLockGuard<'_, T> {
        local_bh_disable();
        preempt_disable();
        SpinLockGuard {
            guard: self.inner.lock(),
            undo: Some(Undo::Bh),
        }
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    fn drop(&mut self) {
        preempt_enable();
        match self.undo.take() {
            Some(Undo::Irq(irq)) => drop(irq),
            Some(Undo::Bh) => local_bh_enable(),
            Some(Undo::Preempt) | None => {}
        }
    }
}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// The context of a call, captured when the call is recorded so rules can judge it later
/// (live, or replayed from a trace whose flags column says part of the same thing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallContext {
    /// Local interrupts were disabled.
    pub irqs_disabled: bool,
    /// The call could not sleep: a spinlock held, preemption or IRQs disabled, or in an
    /// interrupt handler.
    pub atomic: bool,
    /// The call ran in a hard interrupt handler.
    pub hardirq: bool,
    /// The call ran in a soft interrupt handler (or with softirqs disabled).
    pub softirq: bool,
}

impl CallContext {
    /// The calling thread's context now.
    #[inline]
    pub fn current() -> CallContext {
        let s = state();
        // The usual case, a plain thread context, without computing each flag.
        if s.preempt | s.softirq | s.hardirq == 0 && !s.irqs_disabled {
            return CallContext::default();
        }
        CallContext {
            irqs_disabled: s.irqs_disabled,
            atomic: s.preempt > 0 || s.irqs_disabled || s.hardirq > 0 || s.softirq > 0,
            hardirq: s.hardirq > 0,
            softirq: s.softirq > 0,
        }
    }

    /// A short description, for reports (`hard IRQ handler`, `spinlock held`, ...).
    pub fn describe(&self) -> &'static str {
        if self.hardirq {
            "in a hard IRQ handler"
        } else if self.softirq {
            "in softirq context"
        } else if self.irqs_disabled {
            "with IRQs disabled"
        } else if self.atomic {
            "with a spinlock held (preemption disabled)"
        } else {
            "in process context"
        }
    }
}

// ---- the device side (trap mode) ----

// How deep the current thread is inside `device_side` guards.
crate::sync::thread_local_const! {
    static DEVICE_DEPTH: Cell<u32> = Cell::new(0);
}

/// What trap mode does when a thread leaves the device side: protect again the pages its
/// accesses opened. Set when trap mode installs its handlers; before that no page is protected.
static ON_LEAVING_DEVICE_SIDE: crate::sync::process::OnceLock<fn()> =
    crate::sync::process::OnceLock::new();

/// The guard of [`device_side`].
pub(crate) struct DeviceSide(PhantomData<*const ()>);

/// Mark the current thread as the device (or a checked accessor) until the guard drops: in trap
/// mode, its accesses to protected pages open them unrecorded. A thread-local count: cheap in
/// any mode. Here, below the backends, because bounce copies run under it.
#[inline]
pub(crate) fn device_side() -> DeviceSide {
    DEVICE_DEPTH.with(|d| d.set(d.get() + 1));
    DeviceSide(PhantomData)
}

/// Whether the current thread is inside a [`device_side`] guard (read by trap mode's handler:
/// a const-initialized thread-local without destructor).
// Read by trap mode, which only builds where it runs.
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64", not(miri), not(loom))),
    allow(dead_code)
)]
#[inline]
pub(crate) fn on_device_side() -> bool {
    DEVICE_DEPTH.with(Cell::get) > 0
}

/// Trap mode's action when a thread leaves the device side (set once).
// Read by trap mode, which only builds where it runs.
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64", not(miri), not(loom))),
    allow(dead_code)
)]
pub(crate) fn on_leaving_device_side(action: fn()) {
    let _ = ON_LEAVING_DEVICE_SIDE.set(action);
}

impl Drop for DeviceSide {
    fn drop(&mut self) {
        let depth = DEVICE_DEPTH.with(|d| {
            d.set(d.get() - 1);
            d.get()
        });
        if depth == 0 {
            if let Some(action) = ON_LEAVING_DEVICE_SIDE.get() {
                action();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_restores_the_previous_state_even_when_nested() {
        assert!(!irqs_disabled());
        let outer = local_irq_save();
        let inner = local_irq_save();
        assert!(inner.flags());
        drop(inner);
        assert!(irqs_disabled(), "inner restore keeps the outer disable");
        outer.restore();
        assert!(!irqs_disabled());
    }

    #[test]
    fn disable_and_enable_do_not_nest() {
        local_irq_disable();
        local_irq_disable();
        assert!(CallContext::current().irqs_disabled);
        local_irq_enable();
        assert!(!irqs_disabled());
    }

    #[test]
    fn spinlocks_make_the_holder_atomic_until_released() {
        let lock = SpinLock::new(());
        assert!(!CallContext::current().atomic);
        let a = lock.lock();
        assert!(in_atomic() && !irqs_disabled());
        drop(a);
        let b = lock.lock_irqsave();
        assert!(in_atomic() && irqs_disabled());
        drop(b);
        let c = lock.lock_bh();
        assert!(in_softirq());
        drop(c);
        assert!(!in_atomic() && !in_softirq() && !irqs_disabled());
    }

    #[test]
    fn handlers_restore_the_context_even_when_they_panic() {
        let r = std::panic::catch_unwind(|| run_in_hardirq(|| panic!("handler failed")));
        assert!(r.is_err());
        assert!(!in_interrupt() && !irqs_disabled());
        assert_eq!(
            run_in_softirq(|| (in_softirq(), irqs_disabled())),
            (true, false)
        );
        assert_eq!(CallContext::current().describe(), "in process context");
    }
}
