//! The context a call is made in: nothing that may sleep where sleeping is forbidden.

use super::declare_rules;
use crate::event::Event;
use crate::rules::{Finding, Findings, Value};
use crate::types::Gfp;

declare_rules! {
    family: "context";

    /// An allocation that may sleep (`GFP_KERNEL`: its flags allow direct reclaim) was made
    /// where sleeping is forbidden: with a spinlock held, with preemption or interrupts
    /// disabled, or in an interrupt handler. Use `GFP_ATOMIC` there, or allocate beforehand.
    /// `dma_alloc_coherent` with `GFP_ATOMIC` from interrupt context is allowed.
    pub static SLEEPING_ALLOC_IN_ATOMIC = {
        id: "sleeping-alloc-in-atomic",
        summary: "an allocation that may sleep (GFP_KERNEL) in atomic or interrupt context",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ib, GFP_KERNEL only where blocking is permitted: not in_interrupt, no SMP locks held); Documentation/DMA-mapping.txt, Linux 2.4.4 (pci_pool_create: pass SLAB_ATOMIC in a non-sleeping context)",
        kernel: Some("might_sleep(): \"BUG: sleeping function called from invalid context\""),
    };

    /// `dma_pool_create` or `dma_pool_destroy` was called where sleeping is forbidden (a
    /// spinlock held, IRQs or preemption off, an interrupt handler). Both may sleep; create pools
    /// at probe time and destroy them at remove time.
    pub static POOL_IN_ATOMIC = {
        id: "pool-in-atomic",
        summary: "dma_pool_create or dma_pool_destroy in atomic or interrupt context",
        seed: "Documentation/DMA-API.txt, Linux 2.6.27 (Part Ib, create and destroy must be called in a context which can sleep)",
        kernel: Some("might_sleep() in dma_pool_create()/dma_pool_destroy()"),
    };
}

/// An allocation with `gfp` in the event's context.
pub(crate) fn check_alloc(ev: &Event, gfp: Gfp, out: &mut Findings) {
    if gfp.contains(Gfp::DIRECT_RECLAIM) && ev.context.atomic {
        out.push(
            Finding::new(
                &SLEEPING_ALLOC_IN_ATOMIC,
                format!("{} may sleep, called {}", ev.call, ev.context.describe()),
            )
            .with("gfp", Value::Text(format!("{gfp:?}")))
            .with("size", Value::Num(ev.size)),
        );
    }
}

/// A pool create or destroy in the event's context.
pub(crate) fn check_pool_context(ev: &Event, out: &mut Findings) {
    if ev.context.atomic {
        out.push(Finding::new(
            &POOL_IN_ATOMIC,
            format!("{} may sleep, called {}", ev.call, ev.context.describe()),
        ));
    }
}
