/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/spinlock.h>: real locks whose holder is in atomic context, as in the kernel, so the
 * rules see a GFP_KERNEL allocation under a spinlock (`sleeping-alloc-in-atomic`) or a
 * dma_free_coherent under spin_lock_irqsave (`free-coherent-irqs-disabled`).
 *
 * A thread that takes a spinlock it already holds would deadlock; dmacheck says so on stderr and
 * aborts instead.
 */
#ifndef _DMACHECK_LINUX_SPINLOCK_H
#define _DMACHECK_LINUX_SPINLOCK_H

#include <linux/bottom_half.h>
#include <linux/irqflags.h>
#include <linux/preempt.h>

typedef struct spinlock {
	unsigned int dmacheck_locked;	/* 1 while held */
	unsigned int dmacheck_owner;	/* the holder's dmacheck thread number */
} spinlock_t;

#define __SPIN_LOCK_UNLOCKED(name)	{ 0, 0 }
#define DEFINE_SPINLOCK(name)		spinlock_t name = __SPIN_LOCK_UNLOCKED(name)

void spin_lock_init(spinlock_t *lock);
void spin_lock(spinlock_t *lock);
void spin_unlock(spinlock_t *lock);
/* 1 if the lock was taken, 0 if it is held. */
int spin_trylock(spinlock_t *lock);
int spin_is_locked(spinlock_t *lock);
/* With softirqs disabled. */
void spin_lock_bh(spinlock_t *lock);
void spin_unlock_bh(spinlock_t *lock);
/* With interrupts disabled; spin_unlock_irq enables them. */
void spin_lock_irq(spinlock_t *lock);
void spin_unlock_irq(spinlock_t *lock);
/* With interrupts disabled, saving their state in flags (an unsigned long). */
unsigned long dmacheck_spin_lock_irqsave(spinlock_t *lock);
void spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags);
#define spin_lock_irqsave(lock, flags)				\
	do {							\
		(flags) = dmacheck_spin_lock_irqsave(lock);	\
	} while (0)

/* ---- Call sites (see <dmacheck_call_site.h>) ---- */
#include <dmacheck_call_site.h>
#ifdef DMACHECK_CALL_SITES
#define spin_lock(a0) __extension__ ({ \
	spinlock_t *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); spin_lock(dmacheck_a0); })
#define spin_lock_bh(a0) __extension__ ({ \
	spinlock_t *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); spin_lock_bh(dmacheck_a0); })
#define spin_lock_irq(a0) __extension__ ({ \
	spinlock_t *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); spin_lock_irq(dmacheck_a0); })
#define dmacheck_spin_lock_irqsave(a0) __extension__ ({ \
	spinlock_t *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_spin_lock_irqsave(dmacheck_a0); })
#endif
/* ---- End of call sites ---- */

#endif /* _DMACHECK_LINUX_SPINLOCK_H */
