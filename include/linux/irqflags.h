/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/irqflags.h>: the calling thread's interrupt state, simulated per thread. Rules judge
 * calls by it: dma_free_coherent with IRQs disabled (`free-coherent-irqs-disabled`), a GFP_KERNEL
 * allocation with IRQs disabled (`sleeping-alloc-in-atomic`).
 *
 * The flags word of local_irq_save is 1 if interrupts were disabled, 0 if not.
 */
#ifndef _DMACHECK_LINUX_IRQFLAGS_H
#define _DMACHECK_LINUX_IRQFLAGS_H

/* Disable local interrupts (not nesting: one local_irq_enable turns them back on). */
void local_irq_disable(void);
void local_irq_enable(void);
/* Non-zero while local interrupts are disabled. */
int irqs_disabled(void);

unsigned long dmacheck_local_irq_save(void);
/* Put the interrupt state back as local_irq_save found it. */
void local_irq_restore(unsigned long flags);

/* Save the interrupt state in flags (an unsigned long) and disable interrupts. */
#define local_irq_save(flags)					\
	do {							\
		(flags) = dmacheck_local_irq_save();		\
	} while (0)
#define local_save_flags(flags)					\
	do {							\
		(flags) = (unsigned long)(irqs_disabled() != 0);	\
	} while (0)
#define irqs_disabled_flags(flags) ((flags) != 0)

#endif /* _DMACHECK_LINUX_IRQFLAGS_H */
