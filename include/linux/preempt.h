/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/preempt.h>: preemption and the execution context of the calling thread, simulated per
 * thread. A thread is in hard interrupt context inside a handler run by dmacheck_run_in_irq()
 * (<dmacheck.h>), in softirq context with bottom halves disabled (local_bh_disable,
 * spin_lock_bh), and atomic while it holds a spinlock or has preemption or IRQs disabled.
 */
#ifndef _DMACHECK_LINUX_PREEMPT_H
#define _DMACHECK_LINUX_PREEMPT_H

/* Nesting, as in the kernel. */
void preempt_disable(void);
void preempt_enable(void);

/* Non-zero in interrupt context, hard or soft. */
int in_interrupt(void);
/* Non-zero in a hard interrupt handler. */
int in_hardirq(void);
/* Non-zero in softirq context (or with bottom halves disabled). */
int in_softirq(void);
/* Non-zero where the thread may not sleep. */
int in_atomic(void);

#define in_irq()	in_hardirq()
#define in_task()	(!in_interrupt())

#endif /* _DMACHECK_LINUX_PREEMPT_H */
