//! Trap mode (`DMACHECK=trap`, [`CheckerBuilder::trap`](crate::CheckerBuilder::trap)): a
//! driver's plain-pointer accesses to memory the device owns fault, and are reported at the
//! faulting instruction.
//!
//! - **Placement.** Each `kmalloc`/`kzalloc` buffer gets pages of its own, placed against the
//!   end of them (8-byte aligned, as `ARCH_KMALLOC_MINALIGN`), followed by a guard page that is
//!   never accessible: a read or write past the end faults
//!   ([`cpu-access-overrun`](crate::rules::CPU_ACCESS_OVERRUN)). Page allocations are already
//!   pages of their own and get no guard.
//! - **Protection.** The engine calls `hand_over` after every transition that leaves part of
//!   a streaming mapping device-owned (map, `sync_for_device`) and `lift` before every hand
//!   back (`sync_for_cpu`, unmap). A page is protected only when every byte of it that belongs
//!   to the buffer is device-owned (a page half synced for the CPU stays open: no false report):
//!   no access for `FROM_DEVICE`/`BIDIRECTIONAL`, read-only for `TO_DEVICE`. Each page counts
//!   its protections, so two mappings of one page compose. Coherent memory is never protected.
//! - **Faults.** A `SIGSEGV` handler (`SA_SIGINFO|SA_ONSTACK`) looks the faulting page up in a
//!   fixed table read with atomics only; a fault elsewhere goes to the previous handler
//!   unchanged. It records the address, the instruction pointer and read/write (the page-fault
//!   error code) in a preallocated ring, opens the page, and sets the trap flag; the `SIGTRAP`
//!   after the one instruction closes the page again and clears the flag. The program runs on.
//! - **Reports** are made outside the handler, through the engine's usual path, judged against
//!   the ownership at that time: at the checker's next sync or unmap (before ownership moves),
//!   at [`Checker::trap_flush`]. The instruction is symbolized to
//!   file:line then. A deny level panics there, never in the handler.
//! - **The device side** (the device model's reads and writes, bounce copies, checked
//!   `cpu_read`/`cpu_write`) runs under `device_side`: a fault then opens the page until the
//!   access ends, unrecorded.
//!
//! Faults are filed under the checker whose memory they hit and reported by that checker's
//! calls only, so tests running in parallel, each with its own checker, see their own.
//!
//! Limits: while a page is open for one instruction or a device access, another thread's access
//! to it is not seen; the handler's table holds 65536 pages (more are left unprotected, counted
//! by [`Checker::trap_unprotected`]); the ring holds 256 faults between drains (more are counted
//! as lost). After `fork` the child inherits the protections and the handler, and works the same.
//! A fault inside the handler itself is not possible: it touches only its own statics. Linux on
//! x86_64 only; on aarch64 the same design needs the `ESR_EL1` write bit (from the `esr_context`
//! record in the signal frame) and a breakpoint after the instruction instead of the trap flag.

use crate::checker::{Checker, CheckerInner};
use crate::tracker::Entry;

/// The message of a checker asked for trap mode where it cannot run.
pub const UNSUPPORTED: &str = "dmacheck: trap mode (DMACHECK=trap) needs Linux on x86_64; it is not available on this platform";

/// Whether trap mode works in this build.
pub const SUPPORTED: bool = cfg!(all(
    target_os = "linux",
    target_arch = "x86_64",
    not(miri),
    not(loom)
));

impl Checker {
    /// In trap mode, report the plain-pointer accesses to this checker's memory recorded since
    /// the last report (faults in other checkers' memory wait for theirs). Syncs and unmaps
    /// do this themselves; call it to see accesses to buffers still device-owned. Does nothing
    /// outside trap mode.
    #[track_caller]
    pub fn trap_flush(&self) {
        if self.config().trap {
            imp::drain(self.inner());
        }
    }

    /// How many device-owned pages trap mode could not protect (its table was full), and how
    /// many faults it lost (its ring was full between two reports).
    pub fn trap_unprotected(&self) -> (u64, u64) {
        imp::lost()
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64", not(miri), not(loom)))]
mod imp;

#[cfg(not(all(target_os = "linux", target_arch = "x86_64", not(miri), not(loom))))]
mod imp {
    use super::*;
    pub(super) fn register(_: &Checker) {
        panic!("{}", super::UNSUPPORTED);
    }
    pub(super) fn drain(_: &CheckerInner) {}
    pub(super) fn lost() -> (u64, u64) {
        (0, 0)
    }
    pub(super) fn kmalloc(_: &Checker, _: usize, _: crate::Gfp) -> *mut u8 {
        unreachable!("no trap-mode checker is made here")
    }
    pub(super) fn kfree(_: &Checker, _: *const u8) -> bool {
        false
    }
    pub(super) fn protect(_: &CheckerInner, _: &Entry, _: bool) {}
    pub(super) fn forget(_: &CheckerInner) {}
}

/// A new checker: in trap mode, install the handlers (once) and remember it. Panics with
/// [`UNSUPPORTED`] where trap mode cannot run.
#[inline]
pub(crate) fn register(checker: &Checker) {
    if checker.config().trap {
        imp::register(checker);
    }
}

/// `kmalloc` in trap mode: pages of its own, the buffer against their end, a guard page after.
/// `None` outside trap mode (the ordinary heap serves).
#[inline]
pub(crate) fn kmalloc(checker: &Checker, size: usize, gfp: crate::Gfp) -> Option<*mut u8> {
    checker
        .config()
        .trap
        .then(|| imp::kmalloc(checker, size, gfp))
}

/// `kfree` in trap mode: whether `ptr` was a trap-mode buffer, now freed.
#[inline]
pub(crate) fn kfree(checker: &Checker, ptr: *const u8) -> bool {
    checker.config().trap && imp::kfree(checker, ptr)
}

/// After a transition: protect the pages of the entry's device-owned part.
#[inline]
pub(crate) fn hand_over(c: &CheckerInner, e: &Entry) {
    if c.config.trap {
        imp::protect(c, e, true);
    }
}

/// Before a hand-back: open what [`hand_over`] protected for this entry.
#[inline]
pub(crate) fn lift(c: &CheckerInner, e: &Entry) {
    if c.config.trap {
        imp::protect(c, e, false);
    }
}

/// Report the faults recorded so far. Called where no lock of the engine is held (before a
/// sync or an unmap looks its entry up).
#[inline]
pub(crate) fn report_pending(c: &CheckerInner) {
    if c.config.trap {
        imp::drain(c);
    }
}

/// The checker is dropping: open every page of its memory (faults not reported by then are
/// dropped with it).
#[inline]
pub(crate) fn forget(c: &CheckerInner) {
    if c.config.trap {
        imp::forget(c);
    }
}
