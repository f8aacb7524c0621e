/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/jiffies.h>: the tick count. Nothing ticks on its own in a test: jiffies moves only
 * when the harness advances it (dmacheck_advance_jiffies() in <linux/timer.h>, which also runs
 * the timers that expire) or a wait times out (<linux/completion.h>). It starts, as the
 * kernel's does, five minutes before it wraps, so comparisons that are not time_after() safe
 * show up. HZ is 250.
 *
 * jiffies is one variable shared by every file of the program (a weak definition here).
 */
#ifndef _DMACHECK_LINUX_JIFFIES_H
#define _DMACHECK_LINUX_JIFFIES_H

#include <linux/types.h>

#define HZ		250
#define MAX_JIFFY_OFFSET ((long)(~0UL >> 1) - 1)
#define INITIAL_JIFFIES	((unsigned long)(unsigned int)(-300 * HZ))

__attribute__((weak)) volatile unsigned long jiffies = INITIAL_JIFFIES;

#define time_after(a, b)	((long)((b) - (a)) < 0)
#define time_before(a, b)	time_after(b, a)
#define time_after_eq(a, b)	((long)((a) - (b)) >= 0)
#define time_before_eq(a, b)	time_after_eq(b, a)
#define time_in_range(a, b, c)	(time_after_eq(a, b) && time_before_eq(a, c))
#define time_is_before_jiffies(a)	time_after(jiffies, a)
#define time_is_after_jiffies(a)	time_before(jiffies, a)
#define time_is_before_eq_jiffies(a)	time_after_eq(jiffies, a)
#define time_is_after_eq_jiffies(a)	time_before_eq(jiffies, a)

/* Rounded up, as the kernel's: a wait of 1 ms is at least one tick. */
static inline unsigned long msecs_to_jiffies(unsigned int m)
{
	return ((unsigned long)m * HZ + 999) / 1000;
}

static inline unsigned long usecs_to_jiffies(unsigned int u)
{
	return ((unsigned long)u * HZ + 999999) / 1000000;
}

static inline unsigned int jiffies_to_msecs(unsigned long j)
{
	return (unsigned int)(j * (1000 / HZ));
}

static inline unsigned int jiffies_to_usecs(unsigned long j)
{
	return (unsigned int)(j * (1000000 / HZ));
}

#endif /* _DMACHECK_LINUX_JIFFIES_H */
