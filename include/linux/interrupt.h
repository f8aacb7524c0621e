/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/interrupt.h>: the context calls, and the return type of IRQ handlers. Run a handler in
 * hard interrupt context with dmacheck_run_in_irq() (<dmacheck.h>).
 */
#ifndef _DMACHECK_LINUX_INTERRUPT_H
#define _DMACHECK_LINUX_INTERRUPT_H

#include <linux/bottom_half.h>
#include <linux/irqflags.h>
#include <linux/preempt.h>

typedef int irqreturn_t;
#define IRQ_NONE	0
#define IRQ_HANDLED	1
#define IRQ_WAKE_THREAD	2

#endif /* _DMACHECK_LINUX_INTERRUPT_H */
