//! The rules of `src/rules/context.rs`: nothing that may sleep where sleeping is forbidden.

use crate::common;

use common::{checker, device, rule_ids, single_violation};
use dmacheck::rules::SLEEPING_ALLOC_IN_ATOMIC;
use dmacheck::*;

#[test]
fn gfp_kernel_coherent_alloc_under_a_spinlock_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let lock = SpinLock::new(());
    let mut handle = 0;
    let guard = lock.lock();
    let line = line!() + 1;
    let ring = dma_alloc_coherent(&dev, 4096, &mut handle, Gfp::KERNEL);
    drop(guard);
    let v = single_violation(&checker, &SLEEPING_ALLOC_IN_ATOMIC);
    assert_eq!(v.call, "dma_alloc_coherent");
    assert_eq!(v.site.location().line(), line);
    assert!(v.message.contains("spinlock"), "{}", v.message);
    assert!(!ring.is_null(), "the allocation is still carried out");
    dma_free_coherent(&dev, 4096, ring, handle);
}

#[test]
fn gfp_kernel_kmalloc_in_a_hard_irq_handler_is_reported() {
    let checker = checker();
    let buf = run_in_hardirq(|| kmalloc(&checker, 128, Gfp::KERNEL));
    let v = single_violation(&checker, &SLEEPING_ALLOC_IN_ATOMIC);
    assert_eq!(v.call, "kmalloc");
    assert_eq!(v.detail_u64("size"), Some(128));
    assert!(v.message.contains("hard IRQ"), "{}", v.message);
    kfree(&checker, buf);
}

#[test]
fn gfp_kernel_pages_in_softirq_and_with_irqs_off_are_reported() {
    let checker = checker();
    let a = run_in_softirq(|| alloc_pages(&checker, Gfp::KERNEL, 0)).unwrap();
    let flags = local_irq_save();
    let b = alloc_pages(&checker, Gfp::KERNEL | Gfp::ZERO, 1).unwrap();
    drop(flags);
    assert_eq!(
        rule_ids(&checker),
        ["sleeping-alloc-in-atomic", "sleeping-alloc-in-atomic"]
    );
    free_pages(&checker, a, 0);
    free_pages(&checker, b, 1);
}

#[test]
fn gfp_atomic_allocations_in_interrupt_context_are_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let (ring, handle) = run_in_hardirq(|| {
        let mut handle = 0;
        let ring = dma_alloc_coherent(&dev, 4096, &mut handle, Gfp::ATOMIC);
        assert!(!ring.is_null());
        let buf = kmalloc(&checker, 64, Gfp::ATOMIC);
        let page = alloc_pages(&checker, Gfp::ATOMIC, 0).unwrap();
        kfree(&checker, buf);
        free_pages(&checker, page, 0);
        // Freeing coherent memory must wait until IRQs are on again, so hand it out.
        (ring, handle)
    });
    dma_free_coherent(&dev, 4096, ring, handle);
    checker.assert_clean();
}

#[test]
fn gfp_kernel_allocations_in_process_context_are_silent() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let lock = SpinLock::new(());
    drop(lock.lock_irqsave());
    let mut handle = 0;
    let ring = dma_alloc_coherent(&dev, 4096, &mut handle, Gfp::KERNEL);
    let buf = kzalloc(&checker, 64, Gfp::KERNEL);
    kfree(&checker, buf);
    dma_free_coherent(&dev, 4096, ring, handle);
    checker.assert_clean();
}

#[test]
fn coherent_free_inside_a_hard_irq_handler_is_reported() {
    let checker = checker();
    let dev = device(&checker, "eth0");
    let mut handle = 0;
    let ring = dma_alloc_coherent(&dev, 4096, &mut handle, Gfp::KERNEL);
    run_in_hardirq(|| dma_free_coherent(&dev, 4096, ring, handle));
    assert_eq!(rule_ids(&checker), ["free-coherent-irqs-disabled"]);
    assert_eq!(checker.stats().live_entries, 0);
}
