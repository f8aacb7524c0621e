/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/completion.h>: completions, as a count of complete() calls not yet waited for.
 *
 * A test is one thread, so nothing else runs while a task waits: the harness does the device's
 * part (dmacheck_pci_raise_irq(), dmacheck_run_scheduled_work()) before the driver waits, or in
 * the idle hook (dmacheck_set_idle_hook(), <linux/jiffies.h>) that a wait on a completion not
 * done calls once. Still not done, a wait with a timeout times out at once, jiffies advancing
 * by the timeout (it returns 0; -ERESTARTSYS never: no signals here), and a wait without a
 * timeout would sleep forever: it prints the hung task and aborts.
 */
#ifndef _DMACHECK_LINUX_COMPLETION_H
#define _DMACHECK_LINUX_COMPLETION_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/jiffies.h>

struct completion {
	unsigned int done;
};

#define COMPLETION_INITIALIZER(work)		{ 0 }
#define DECLARE_COMPLETION(work)		struct completion work = COMPLETION_INITIALIZER(work)
#define DECLARE_COMPLETION_ONSTACK(work)	DECLARE_COMPLETION(work)

static inline void init_completion(struct completion *x)
{
	x->done = 0;
}

static inline void reinit_completion(struct completion *x)
{
	x->done = 0;
}

static inline void complete(struct completion *x)
{
	if (x->done != UINT_MAX)
		x->done++;
}

/* Every wait from now on succeeds. */
static inline void complete_all(struct completion *x)
{
	x->done = UINT_MAX;
}

static inline bool completion_done(struct completion *x)
{
	return x->done != 0;
}

static inline bool try_wait_for_completion(struct completion *x)
{
	if (!x->done)
		return false;
	if (x->done != UINT_MAX)
		x->done--;
	return true;
}

/* The jiffies left (at least 1) when done; 0 after the timeout has passed. */
static inline unsigned long wait_for_completion_timeout(struct completion *x,
							 unsigned long timeout)
{
	if (!x->done)
		dmacheck_idle();
	if (!try_wait_for_completion(x)) {
		jiffies += timeout;
		return 0;
	}
	return timeout ? timeout : 1;
}

static inline long wait_for_completion_interruptible_timeout(struct completion *x,
							      unsigned long timeout)
{
	return (long)wait_for_completion_timeout(x, timeout);
}

static inline long wait_for_completion_killable_timeout(struct completion *x,
							 unsigned long timeout)
{
	return (long)wait_for_completion_timeout(x, timeout);
}

static inline void wait_for_completion(struct completion *x)
{
	if (!x->done)
		dmacheck_idle();
	if (!try_wait_for_completion(x)) {
		fprintf(stderr, "INFO: task blocked forever in wait_for_completion(%p): nothing "
			"left to complete it\n", (void *)x);
		abort();
	}
}

static inline int wait_for_completion_interruptible(struct completion *x)
{
	wait_for_completion(x);
	return 0;
}

static inline int wait_for_completion_killable(struct completion *x)
{
	wait_for_completion(x);
	return 0;
}

#endif /* _DMACHECK_LINUX_COMPLETION_H */
