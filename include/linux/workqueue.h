/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/workqueue.h>: work items on one list of scheduled work. Nothing runs on its own: work
 * runs, in process context, when the harness calls dmacheck_run_scheduled_work(), or when the
 * driver flushes it (flush_work(), flush_workqueue(), destroy_workqueue()). Scheduling work that
 * is already pending does nothing and returns false; cancel_work_sync() takes pending work off
 * the list without running it. Delayed work is a timer (<linux/timer.h>) that schedules the
 * work when jiffies passes its delay.
 *
 * The list is one for the whole program (a weak definition here).
 */
#ifndef _DMACHECK_LINUX_WORKQUEUE_H
#define _DMACHECK_LINUX_WORKQUEUE_H

#include <stdarg.h>
#include <stdlib.h>
#include <linux/types.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/timer.h>

struct work_struct;
typedef void (*work_func_t)(struct work_struct *work);

struct workqueue_struct {
	const char *name;
	bool dmacheck_allocated;	/* by alloc_workqueue(): destroy_workqueue() frees it */
};

struct work_struct {
	struct list_head entry;		/* on dmacheck_scheduled_work while pending */
	work_func_t func;
	struct workqueue_struct *dmacheck_wq;
	bool dmacheck_pending;
};

struct delayed_work {
	struct work_struct work;
	struct timer_list timer;
	struct workqueue_struct *wq;
};

#define WQ_UNBOUND		(1 << 1)
#define WQ_FREEZABLE		(1 << 2)
#define WQ_MEM_RECLAIM		(1 << 3)
#define WQ_HIGHPRI		(1 << 4)
#define WQ_CPU_INTENSIVE	(1 << 5)
#define WQ_SYSFS		(1 << 6)

__attribute__((weak)) struct list_head dmacheck_scheduled_work =
	LIST_HEAD_INIT(dmacheck_scheduled_work);
__attribute__((weak)) struct workqueue_struct dmacheck_system_wq = { "events", false };

#define system_wq		(&dmacheck_system_wq)
#define system_highpri_wq	(&dmacheck_system_wq)
#define system_long_wq		(&dmacheck_system_wq)
#define system_unbound_wq	(&dmacheck_system_wq)
#define system_freezable_wq	(&dmacheck_system_wq)

static inline void dmacheck_init_work(struct work_struct *work, work_func_t func)
{
	INIT_LIST_HEAD(&work->entry);
	work->func = func;
	work->dmacheck_wq = NULL;
	work->dmacheck_pending = false;
}

#define INIT_WORK(work, func)		dmacheck_init_work((work), (func))
#define INIT_WORK_ONSTACK(work, func)	dmacheck_init_work((work), (func))
#define DECLARE_WORK(n, f)						\
	struct work_struct n = { .entry = LIST_HEAD_INIT(n.entry), .func = (f) }
#define work_pending(work)		((work)->dmacheck_pending)

static inline bool queue_work(struct workqueue_struct *wq, struct work_struct *work)
{
	if (work->dmacheck_pending)
		return false;
	work->dmacheck_wq = wq;
	work->dmacheck_pending = true;
	list_add_tail(&work->entry, &dmacheck_scheduled_work);
	return true;
}

static inline bool schedule_work(struct work_struct *work)
{
	return queue_work(system_wq, work);
}

/* true if the work was pending. */
static inline bool cancel_work(struct work_struct *work)
{
	if (!work->dmacheck_pending)
		return false;
	list_del_init(&work->entry);
	work->dmacheck_pending = false;
	return true;
}

static inline bool cancel_work_sync(struct work_struct *work)
{
	return cancel_work(work);
}

/* Run the work now if it is pending; true if it was. */
static inline bool flush_work(struct work_struct *work)
{
	if (!cancel_work(work))
		return false;
	work->func(work);
	return true;
}

/*
 * Run the work scheduled on wq (NULL: on any queue) now; work scheduled while it runs waits
 * for the next call. Returns the number of items run.
 */
static inline unsigned int dmacheck_run_work_of(struct workqueue_struct *wq)
{
	struct list_head batch = LIST_HEAD_INIT(batch);
	struct work_struct *work, *next;
	unsigned int ran = 0;

	list_for_each_entry_safe(work, next, &dmacheck_scheduled_work, entry) {
		if (!wq || work->dmacheck_wq == wq)
			list_move_tail(&work->entry, &batch);
	}
	while (!list_empty(&batch)) {
		work = list_first_entry(&batch, struct work_struct, entry);
		list_del_init(&work->entry);
		work->dmacheck_pending = false;
		work->func(work);
		ran++;
	}
	return ran;
}

/* Harness: run every work item scheduled now, as the kernel's workers would. */
static inline unsigned int dmacheck_run_scheduled_work(void)
{
	return dmacheck_run_work_of(NULL);
}

static inline void flush_workqueue(struct workqueue_struct *wq)
{
	dmacheck_run_work_of(wq);
}

#define flush_scheduled_work()	flush_workqueue(system_wq)

/* The name is the format, unformatted; the other arguments are evaluated and ignored. */
static inline struct workqueue_struct *dmacheck_alloc_workqueue(const char *fmt, ...)
{
	struct workqueue_struct *wq = (struct workqueue_struct *)calloc(1, sizeof(*wq));

	if (wq) {
		wq->name = fmt;
		wq->dmacheck_allocated = true;
	}
	return wq;
}

#define alloc_workqueue(fmt, flags, max_active, ...) \
	dmacheck_alloc_workqueue((fmt), (flags), (max_active), ##__VA_ARGS__)
#define alloc_ordered_workqueue(fmt, flags, ...) \
	dmacheck_alloc_workqueue((fmt), (flags), ##__VA_ARGS__)
#define create_workqueue(name)			dmacheck_alloc_workqueue((name))
#define create_singlethread_workqueue(name)	dmacheck_alloc_workqueue((name))

/* Runs the work still scheduled on wq, as the kernel's drains it, then frees it. */
static inline void destroy_workqueue(struct workqueue_struct *wq)
{
	flush_workqueue(wq);
	if (wq->dmacheck_allocated)
		free(wq);
}

/* ---- Delayed work: a timer that queues the work ---- */

#define to_delayed_work(w)	container_of(w, struct delayed_work, work)

static inline void dmacheck_delayed_work_timer(struct timer_list *t)
{
	struct delayed_work *dwork = from_timer(dwork, t, timer);

	queue_work(dwork->wq, &dwork->work);
}

static inline void dmacheck_init_delayed_work(struct delayed_work *dwork, work_func_t func)
{
	dmacheck_init_work(&dwork->work, func);
	timer_setup(&dwork->timer, dmacheck_delayed_work_timer, 0);
	dwork->wq = NULL;
}

#define INIT_DELAYED_WORK(dwork, func)	dmacheck_init_delayed_work((dwork), (func))

/* A delay of 0 schedules the work at once. false if it was pending already. */
static inline bool queue_delayed_work(struct workqueue_struct *wq, struct delayed_work *dwork,
				      unsigned long delay)
{
	if (dwork->work.dmacheck_pending || timer_pending(&dwork->timer))
		return false;
	dwork->wq = wq;
	if (!delay)
		return queue_work(wq, &dwork->work);
	mod_timer(&dwork->timer, jiffies + delay);
	return true;
}

static inline bool schedule_delayed_work(struct delayed_work *dwork, unsigned long delay)
{
	return queue_delayed_work(system_wq, dwork, delay);
}

static inline bool mod_delayed_work(struct workqueue_struct *wq, struct delayed_work *dwork,
				    unsigned long delay)
{
	bool was_pending = del_timer(&dwork->timer) | cancel_work(&dwork->work);

	queue_delayed_work(wq, dwork, delay);
	return was_pending;
}

static inline bool cancel_delayed_work(struct delayed_work *dwork)
{
	return del_timer(&dwork->timer) | cancel_work(&dwork->work);
}

static inline bool cancel_delayed_work_sync(struct delayed_work *dwork)
{
	return cancel_delayed_work(dwork);
}

/* Run the work now if it is waiting for its delay or scheduled; true if it was. */
static inline bool flush_delayed_work(struct delayed_work *dwork)
{
	if (del_timer(&dwork->timer))
		queue_work(dwork->wq, &dwork->work);
	return flush_work(&dwork->work);
}

#endif /* _DMACHECK_LINUX_WORKQUEUE_H */
