/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/timer.h>: timers on a list of pending timers. Nothing ticks on its own: a timer runs
 * when the harness advances jiffies past its expiry with dmacheck_advance_jiffies(), which runs
 * each expired callback once, in softirq context (local_bh_disable()), as the timer softirq
 * would. A callback that re-arms its timer runs again at a later advance. del_timer_sync() and
 * del_timer() are the same here (no callback can be running on another CPU).
 *
 * The pending list is one for the whole program (a weak definition here).
 */
#ifndef _DMACHECK_LINUX_TIMER_H
#define _DMACHECK_LINUX_TIMER_H

#include <linux/types.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/jiffies.h>
#include <linux/bottom_half.h>

struct timer_list {
	struct list_head entry;		/* on dmacheck_pending_timers while pending */
	unsigned long expires;
	void (*function)(struct timer_list *);
	u32 flags;
	bool dmacheck_pending;
};

#define TIMER_DEFERRABLE	0x00080000
#define TIMER_PINNED		0x00100000
#define TIMER_IRQSAFE		0x00200000

__attribute__((weak)) struct list_head dmacheck_pending_timers =
	LIST_HEAD_INIT(dmacheck_pending_timers);

static inline void timer_setup(struct timer_list *timer,
			       void (*callback)(struct timer_list *), unsigned int flags)
{
	INIT_LIST_HEAD(&timer->entry);
	timer->expires = 0;
	timer->function = callback;
	timer->flags = flags;
	timer->dmacheck_pending = false;
}

#define DEFINE_TIMER(_name, _function)					\
	struct timer_list _name = {					\
		.entry = LIST_HEAD_INIT(_name.entry),			\
		.function = (_function),				\
	}

#define from_timer(var, callback_timer, timer_fieldname) \
	container_of(callback_timer, __typeof__(*var), timer_fieldname)
#define timer_container_of(var, callback_timer, timer_fieldname) \
	from_timer(var, callback_timer, timer_fieldname)

static inline int timer_pending(const struct timer_list *timer)
{
	return timer->dmacheck_pending;
}

/* 1 if the timer was pending (and is now re-armed), 0 if it is armed now. */
static inline int mod_timer(struct timer_list *timer, unsigned long expires)
{
	int was_pending = timer->dmacheck_pending;

	if (!timer->function)	/* shut down */
		return 0;
	timer->expires = expires;
	if (!was_pending) {
		list_add_tail(&timer->entry, &dmacheck_pending_timers);
		timer->dmacheck_pending = true;
	}
	return was_pending;
}

static inline void add_timer(struct timer_list *timer)
{
	mod_timer(timer, timer->expires);
}

/* 1 if the timer was pending. */
static inline int del_timer(struct timer_list *timer)
{
	if (!timer->dmacheck_pending)
		return 0;
	list_del_init(&timer->entry);
	timer->dmacheck_pending = false;
	return 1;
}

#define del_timer_sync(timer)		del_timer(timer)
#define timer_delete(timer)		del_timer(timer)
#define timer_delete_sync(timer)	del_timer(timer)

/* The timer stays off: later mod_timer() calls do nothing, as after the kernel's. */
static inline int timer_shutdown_sync(struct timer_list *timer)
{
	int was_pending = del_timer(timer);

	timer->function = NULL;
	return was_pending;
}

/*
 * Harness: advance jiffies by ticks, one at a time, running the timers that expire at each
 * tick. Returns the number of callbacks run.
 */
static inline unsigned int dmacheck_advance_jiffies(unsigned long ticks)
{
	unsigned int ran = 0;

	while (ticks--) {
		struct list_head expired = LIST_HEAD_INIT(expired);
		struct timer_list *timer, *next;

		jiffies++;
		/* Collected first: a callback that re-arms its timer runs at a later tick. */
		list_for_each_entry_safe(timer, next, &dmacheck_pending_timers, entry) {
			if (time_after_eq(jiffies, timer->expires))
				list_move_tail(&timer->entry, &expired);
		}
		while (!list_empty(&expired)) {
			timer = list_first_entry(&expired, struct timer_list, entry);
			list_del_init(&timer->entry);
			timer->dmacheck_pending = false;
			if (!timer->function)
				continue;
			local_bh_disable();
			timer->function(timer);
			local_bh_enable();
			ran++;
		}
	}
	return ran;
}

#endif /* _DMACHECK_LINUX_TIMER_H */
