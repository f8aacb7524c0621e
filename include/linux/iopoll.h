/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/iopoll.h>: polling a register until a condition holds. No time passes in a test:
 * the poll reads as many times as the kernel's would at most (timeout_us / sleep_us + 1; sleeps
 * return at once), running the harness's idle hook (dmacheck_set_idle_hook(),
 * <linux/jiffies.h>) before each read after the first so the device can change the register,
 * and returns 0 when the condition holds, -ETIMEDOUT otherwise, with val the last value read.
 * A timeout of 0 (poll forever) reads twice, the hook between, and then returns -ETIMEDOUT
 * instead of hanging.
 */
#ifndef _DMACHECK_LINUX_IOPOLL_H
#define _DMACHECK_LINUX_IOPOLL_H

#include <linux/types.h>
#include <linux/errno.h>
#include <linux/io.h>
#include <linux/delay.h>
#include <linux/jiffies.h>

#define read_poll_timeout(op, val, cond, sleep_us, timeout_us, sleep_before_read, args...) \
({									\
	unsigned long long _poll_sleep = (sleep_us);			\
	unsigned long long _poll_timeout = (timeout_us);		\
	unsigned long long _poll_reads = !_poll_timeout ? 2 :		\
		_poll_timeout / (_poll_sleep ? _poll_sleep : 1) + 1;	\
	(void)(sleep_before_read);					\
	for (;;) {							\
		(val) = op(args);					\
		if ((cond) || !--_poll_reads)				\
			break;						\
		dmacheck_idle();					\
	}								\
	(cond) ? 0 : -ETIMEDOUT;					\
})

#define read_poll_timeout_atomic(op, val, cond, delay_us, timeout_us, delay_before_read, args...) \
	read_poll_timeout(op, val, cond, delay_us, timeout_us, delay_before_read, args)

#define readx_poll_timeout(op, addr, val, cond, sleep_us, timeout_us) \
	read_poll_timeout(op, val, cond, sleep_us, timeout_us, false, addr)
#define readx_poll_timeout_atomic(op, addr, val, cond, delay_us, timeout_us) \
	readx_poll_timeout(op, addr, val, cond, delay_us, timeout_us)

#define readb_poll_timeout(addr, val, cond, delay_us, timeout_us) \
	readx_poll_timeout(readb, addr, val, cond, delay_us, timeout_us)
#define readw_poll_timeout(addr, val, cond, delay_us, timeout_us) \
	readx_poll_timeout(readw, addr, val, cond, delay_us, timeout_us)
#define readl_poll_timeout(addr, val, cond, delay_us, timeout_us) \
	readx_poll_timeout(readl, addr, val, cond, delay_us, timeout_us)
#define readq_poll_timeout(addr, val, cond, delay_us, timeout_us) \
	readx_poll_timeout(readq, addr, val, cond, delay_us, timeout_us)
#define readl_poll_timeout_atomic(addr, val, cond, delay_us, timeout_us) \
	readl_poll_timeout(addr, val, cond, delay_us, timeout_us)
#define readl_relaxed_poll_timeout(addr, val, cond, delay_us, timeout_us) \
	readx_poll_timeout(readl_relaxed, addr, val, cond, delay_us, timeout_us)

#endif /* _DMACHECK_LINUX_IOPOLL_H */
