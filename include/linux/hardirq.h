/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* <linux/hardirq.h>: in_interrupt() and friends live in <linux/preempt.h>. */
#ifndef _DMACHECK_LINUX_HARDIRQ_H
#define _DMACHECK_LINUX_HARDIRQ_H

#include <linux/preempt.h>

#endif /* _DMACHECK_LINUX_HARDIRQ_H */
