/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/jiffies.h>: the tick count. Nothing ticks on its own in a test: jiffies moves only
 * when the harness advances it (dmacheck_advance_jiffies() in <linux/timer.h>, which also runs
 * the timers that expire) or a wait times out (<linux/completion.h>). It starts, as the
 * kernel's does, five minutes before it wraps, so comparisons that are not time_after() safe
 * show up. HZ is 250. A waiting driver lets the harness act through dmacheck_set_idle_hook().
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

/*
 * While a driver waits (on a completion, or polling a register), the rest of the system would
 * run: the harness can be that rest with an idle hook, which a wait calls once before giving
 * up (and a poll before each read after the first), to let the device do its part (write its
 * results, raise its interrupt, run the scheduled work). The hook is not re-entered: a wait
 * inside it gives up at once. NULL (the default): waits find the world as it is.
 */
struct dmacheck_idle {
	void (*hook)(void *arg);
	void *arg;
	bool running;
};

__attribute__((weak)) struct dmacheck_idle dmacheck_idle_state;

static inline void dmacheck_set_idle_hook(void (*hook)(void *arg), void *arg)
{
	dmacheck_idle_state.hook = hook;
	dmacheck_idle_state.arg = arg;
}

/* Run the idle hook, if there is one and it is not running already. */
static inline void dmacheck_idle(void)
{
	if (!dmacheck_idle_state.hook || dmacheck_idle_state.running)
		return;
	dmacheck_idle_state.running = true;
	dmacheck_idle_state.hook(dmacheck_idle_state.arg);
	dmacheck_idle_state.running = false;
}

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
