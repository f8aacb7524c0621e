//! A simulated execution context per thread: whether interrupts are disabled.
//!
//! The kernel forbids some calls (freeing coherent memory) with IRQs off. User-space code has no
//! interrupts, so drivers under test mark the regions where the real driver would have them off.
//!
//! ```
//! use dmacheck::{irqs_disabled, local_irq_save};
//! assert!(!irqs_disabled());
//! {
//!     let _flags = local_irq_save();
//!     assert!(irqs_disabled());
//! }
//! assert!(!irqs_disabled());
//! ```

use std::cell::Cell;
use std::marker::PhantomData;

thread_local! {
    static IRQS_DISABLED: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread is (simulated) running with local interrupts disabled.
pub fn irqs_disabled() -> bool {
    IRQS_DISABLED.with(Cell::get)
}

/// Disable local interrupts on this thread. Not nesting, as in the kernel: one
/// [`local_irq_enable`] turns them back on.
pub fn local_irq_disable() {
    IRQS_DISABLED.with(|c| c.set(true));
}

/// Enable local interrupts on this thread.
pub fn local_irq_enable() {
    IRQS_DISABLED.with(|c| c.set(false));
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
        IRQS_DISABLED.with(|c| c.set(self.was_disabled));
    }
}

/// Save the interrupt state and disable interrupts (`local_irq_save`).
pub fn local_irq_save() -> IrqSaveGuard {
    let was_disabled = IRQS_DISABLED.with(|c| c.replace(true));
    IrqSaveGuard {
        was_disabled,
        _not_send: PhantomData,
    }
}

/// The context of a call, captured when the call is recorded so rules can judge it later
/// (live, or replayed from a trace whose flags column says the same thing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallContext {
    /// Local interrupts were disabled.
    pub irqs_disabled: bool,
}

impl CallContext {
    /// The calling thread's context now.
    pub fn current() -> CallContext {
        CallContext {
            irqs_disabled: irqs_disabled(),
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
}
