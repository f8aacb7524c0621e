/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/interrupt.h>: the context calls, and IRQ handlers. Run a handler in hard interrupt
 * context with dmacheck_run_in_irq() (<dmacheck.h>).
 *
 * request_irq() and friends record the handler on a table of IRQ lines; the harness raises a
 * line with dmacheck_raise_irq() (or dmacheck_pci_raise_irq(), <dmacheck_pci.h>), which runs
 * each handler on it in hard interrupt context and then, for a handler that returned
 * IRQ_WAKE_THREAD, the thread function in process context. A second handler on a line needs
 * IRQF_SHARED on both (-EBUSY otherwise). free_irq() of a handler not requested prints the
 * kernel's warning and returns NULL. devm_ handlers are freed by dmacheck_pci_remove() (the
 * PCI unbind), or by dmacheck_free_device_irqs(dev). A line raised while disabled
 * (disable_irq()) is held pending and its handlers run at the enable_irq() that enables it
 * again; synchronize_irq() has nothing to wait for. After the handlers, as at the kernel's
 * irq_exit(), the scheduled tasklets run in softirq context (dmacheck_run_tasklets(), which the
 * harness also calls for tasklets scheduled outside an interrupt). The tables are one for the
 * whole program (weak definitions here): DMACHECK_MAX_IRQ_ACTIONS handlers, as many lines.
 */
#ifndef _DMACHECK_LINUX_INTERRUPT_H
#define _DMACHECK_LINUX_INTERRUPT_H

#include <linux/bottom_half.h>
#include <linux/irqflags.h>
#include <linux/preempt.h>
#include <linux/errno.h>
#include <linux/list.h>
#include <stdio.h>
#include <stdlib.h>

/* Declared in <dmacheck.h>; repeated so this header stands alone. */
void dmacheck_run_in_irq(void (*handler)(void *), void *arg);

typedef int irqreturn_t;
#define IRQ_NONE	0
#define IRQ_HANDLED	1
#define IRQ_WAKE_THREAD	2
#define IRQ_RETVAL(x)	((x) ? IRQ_HANDLED : IRQ_NONE)

typedef irqreturn_t (*irq_handler_t)(int irq, void *dev_id);

#define IRQF_TRIGGER_NONE	0x00000000
#define IRQF_TRIGGER_RISING	0x00000001
#define IRQF_TRIGGER_FALLING	0x00000002
#define IRQF_TRIGGER_HIGH	0x00000004
#define IRQF_TRIGGER_LOW	0x00000008
#define IRQF_SHARED		0x00000080
#define IRQF_PROBE_SHARED	0x00000100
#define IRQF_NO_SUSPEND		0x00004000
#define IRQF_ONESHOT		0x00002000
#define IRQF_NO_THREAD		0x00010000

struct device;

struct dmacheck_irq_action {
	unsigned int irq;
	irq_handler_t handler;		/* NULL: a free slot */
	irq_handler_t thread_fn;
	unsigned long flags;
	const char *name;
	void *dev_id;
	struct device *managed_by;	/* devm_request_irq()'s device, or NULL */
};

#define DMACHECK_MAX_IRQ_ACTIONS 64
__attribute__((weak)) struct dmacheck_irq_action dmacheck_irq_actions[DMACHECK_MAX_IRQ_ACTIONS];

/* The primary handler of a threaded IRQ requested without one. */
static inline irqreturn_t dmacheck_irq_default_primary(int irq, void *dev_id)
{
	(void)irq;
	(void)dev_id;
	return IRQ_WAKE_THREAD;
}

static inline int dmacheck_request_irq(struct device *managed_by, unsigned int irq,
				       irq_handler_t handler, irq_handler_t thread_fn,
				       unsigned long flags, const char *name, void *dev_id)
{
	struct dmacheck_irq_action *free_slot = NULL;

	if ((int)irq < 0 || (!handler && !thread_fn))	/* no such line (a negative errno) */
		return -EINVAL;
	if ((flags & IRQF_SHARED) && !dev_id)
		return -EINVAL;
	for (int i = 0; i < DMACHECK_MAX_IRQ_ACTIONS; i++) {
		struct dmacheck_irq_action *a = &dmacheck_irq_actions[i];

		if (!a->handler) {
			if (!free_slot)
				free_slot = a;
		} else if (a->irq == irq && !(a->flags & flags & IRQF_SHARED)) {
			return -EBUSY;
		}
	}
	if (!free_slot)
		return -ENOMEM;
	*free_slot = (struct dmacheck_irq_action){
		.irq = irq,
		.handler = handler ? handler : dmacheck_irq_default_primary,
		.thread_fn = thread_fn,
		.flags = flags,
		.name = name,
		.dev_id = dev_id,
		.managed_by = managed_by,
	};
	return 0;
}

static inline int request_threaded_irq(unsigned int irq, irq_handler_t handler,
				       irq_handler_t thread_fn, unsigned long flags,
				       const char *name, void *dev_id)
{
	return dmacheck_request_irq(NULL, irq, handler, thread_fn, flags, name, dev_id);
}

static inline int request_irq(unsigned int irq, irq_handler_t handler, unsigned long flags,
			      const char *name, void *dev_id)
{
	return dmacheck_request_irq(NULL, irq, handler, NULL, flags, name, dev_id);
}

static inline int devm_request_threaded_irq(struct device *dev, unsigned int irq,
					    irq_handler_t handler, irq_handler_t thread_fn,
					    unsigned long flags, const char *name, void *dev_id)
{
	return dmacheck_request_irq(dev, irq, handler, thread_fn, flags, name, dev_id);
}

static inline int devm_request_irq(struct device *dev, unsigned int irq, irq_handler_t handler,
				   unsigned long flags, const char *name, void *dev_id)
{
	return dmacheck_request_irq(dev, irq, handler, NULL, flags, name, dev_id);
}

static inline struct dmacheck_irq_action *dmacheck_find_irq_action(unsigned int irq,
								    void *dev_id)
{
	for (int i = 0; i < DMACHECK_MAX_IRQ_ACTIONS; i++) {
		struct dmacheck_irq_action *a = &dmacheck_irq_actions[i];

		if (a->handler && a->irq == irq && a->dev_id == dev_id)
			return a;
	}
	return NULL;
}

/* The name the handler was requested with; NULL (and the kernel's warning) if none was. */
static inline const void *free_irq(unsigned int irq, void *dev_id)
{
	struct dmacheck_irq_action *a = dmacheck_find_irq_action(irq, dev_id);
	const char *name;

	if (!a) {
		fprintf(stderr, "WARNING: Trying to free already-free IRQ %u\n", irq);
		return NULL;
	}
	name = a->name;
	*a = (struct dmacheck_irq_action){ 0 };
	return name;
}

static inline void devm_free_irq(struct device *dev, unsigned int irq, void *dev_id)
{
	struct dmacheck_irq_action *a = dmacheck_find_irq_action(irq, dev_id);

	if (!a || a->managed_by != dev) {
		fprintf(stderr, "WARNING: devm_free_irq of IRQ %u not requested by devm_ on this "
			"device\n", irq);
		return;
	}
	*a = (struct dmacheck_irq_action){ 0 };
}

/* Free the handlers devm_request_irq() requested for dev (its unbind). */
static inline void dmacheck_free_device_irqs(struct device *dev)
{
	for (int i = 0; i < DMACHECK_MAX_IRQ_ACTIONS; i++) {
		if (dmacheck_irq_actions[i].handler && dmacheck_irq_actions[i].managed_by == dev)
			dmacheck_irq_actions[i] = (struct dmacheck_irq_action){ 0 };
	}
}

/* ---- Tasklets ---- */

struct tasklet_struct {
	struct list_head entry;		/* on dmacheck_scheduled_tasklets while scheduled */
	bool use_callback;
	void (*callback)(struct tasklet_struct *t);	/* tasklet_setup() */
	void (*func)(unsigned long data);		/* tasklet_init() */
	unsigned long data;
	unsigned int disable_count;
	bool dmacheck_scheduled;
};

__attribute__((weak)) struct list_head dmacheck_scheduled_tasklets =
	LIST_HEAD_INIT(dmacheck_scheduled_tasklets);

#define DECLARE_TASKLET(name, _callback)					\
	struct tasklet_struct name = { .entry = LIST_HEAD_INIT(name.entry),	\
				       .use_callback = true, .callback = (_callback) }
#define DECLARE_TASKLET_OLD(name, _func)					\
	struct tasklet_struct name = { .entry = LIST_HEAD_INIT(name.entry),	\
				       .func = (_func) }
#define from_tasklet(var, callback_tasklet, tasklet_fieldname) \
	container_of(callback_tasklet, __typeof__(*var), tasklet_fieldname)

static inline void tasklet_setup(struct tasklet_struct *t,
				 void (*callback)(struct tasklet_struct *))
{
	*t = (struct tasklet_struct){ .use_callback = true, .callback = callback };
	INIT_LIST_HEAD(&t->entry);
}

static inline void tasklet_init(struct tasklet_struct *t, void (*func)(unsigned long),
				unsigned long data)
{
	*t = (struct tasklet_struct){ .func = func, .data = data };
	INIT_LIST_HEAD(&t->entry);
}

static inline void tasklet_schedule(struct tasklet_struct *t)
{
	if (t->dmacheck_scheduled)
		return;
	t->dmacheck_scheduled = true;
	list_add_tail(&t->entry, &dmacheck_scheduled_tasklets);
}

#define tasklet_hi_schedule(t)	tasklet_schedule(t)

/* Unschedules it: it cannot be running here. */
static inline void tasklet_kill(struct tasklet_struct *t)
{
	if (!t->dmacheck_scheduled)
		return;
	list_del_init(&t->entry);
	t->dmacheck_scheduled = false;
}

/* A disabled tasklet stays scheduled and runs once enabled again. */
static inline void tasklet_disable(struct tasklet_struct *t)
{
	t->disable_count++;
}

#define tasklet_disable_nosync(t)	tasklet_disable(t)

static inline void tasklet_enable(struct tasklet_struct *t)
{
	if (t->disable_count)
		t->disable_count--;
}

/* Harness: run the tasklets scheduled now and enabled, in softirq context. How many ran. */
static inline unsigned int dmacheck_run_tasklets(void)
{
	struct list_head batch = LIST_HEAD_INIT(batch);
	struct tasklet_struct *t, *next;
	unsigned int ran = 0;

	list_for_each_entry_safe(t, next, &dmacheck_scheduled_tasklets, entry) {
		if (!t->disable_count)
			list_move_tail(&t->entry, &batch);
	}
	while (!list_empty(&batch)) {
		t = list_first_entry(&batch, struct tasklet_struct, entry);
		list_del_init(&t->entry);
		t->dmacheck_scheduled = false;
		local_bh_disable();
		if (t->use_callback)
			t->callback(t);
		else
			t->func(t->data);
		local_bh_enable();
		ran++;
	}
	return ran;
}

/* ---- Raising a line ---- */

struct dmacheck_irq_line {
	unsigned int irq;
	bool used;
	unsigned int disable_depth;
	bool pending;			/* raised while disabled */
};

__attribute__((weak)) struct dmacheck_irq_line dmacheck_irq_lines[DMACHECK_MAX_IRQ_ACTIONS];

static inline struct dmacheck_irq_line *dmacheck_irq_line(unsigned int irq)
{
	struct dmacheck_irq_line *free_line = NULL;

	for (int i = 0; i < DMACHECK_MAX_IRQ_ACTIONS; i++) {
		if (dmacheck_irq_lines[i].used && dmacheck_irq_lines[i].irq == irq)
			return &dmacheck_irq_lines[i];
		if (!dmacheck_irq_lines[i].used && !free_line)
			free_line = &dmacheck_irq_lines[i];
	}
	if (!free_line) {
		fprintf(stderr, "dmacheck: more than %d IRQ lines\n", DMACHECK_MAX_IRQ_ACTIONS);
		abort();
	}
	*free_line = (struct dmacheck_irq_line){ .irq = irq, .used = true };
	return free_line;
}

struct dmacheck_irq_call {
	const struct dmacheck_irq_action *action;
	irqreturn_t ret;
};

static inline void dmacheck_irq_call_handler(void *arg)
{
	struct dmacheck_irq_call *call = (struct dmacheck_irq_call *)arg;

	call->ret = call->action->handler((int)call->action->irq, call->action->dev_id);
}

/*
 * Harness: the device raises IRQ line irq. Every handler on it runs in hard interrupt context
 * (a threaded one's thread function after, in process context), then the scheduled tasklets.
 * Returns IRQ_HANDLED if one of them handled it, IRQ_NONE if none did or none is requested, or
 * the line is disabled (then held pending until enable_irq()).
 */
static inline irqreturn_t dmacheck_raise_irq(unsigned int irq)
{
	irqreturn_t handled = IRQ_NONE;
	struct dmacheck_irq_line *line = dmacheck_irq_line(irq);

	if (line->disable_depth) {
		line->pending = true;
		return IRQ_NONE;
	}

	for (int i = 0; i < DMACHECK_MAX_IRQ_ACTIONS; i++) {
		struct dmacheck_irq_action action = dmacheck_irq_actions[i];
		struct dmacheck_irq_call call = { &action, IRQ_NONE };

		if (!action.handler || action.irq != irq)
			continue;
		dmacheck_run_in_irq(dmacheck_irq_call_handler, &call);
		if (call.ret == IRQ_WAKE_THREAD && action.thread_fn)
			call.ret = action.thread_fn((int)irq, action.dev_id);
		if (call.ret != IRQ_NONE)
			handled = IRQ_HANDLED;
	}
	dmacheck_run_tasklets();
	return handled;
}

static inline void disable_irq(unsigned int irq)
{
	dmacheck_irq_line(irq)->disable_depth++;
}

#define disable_irq_nosync(irq)	disable_irq(irq)

/* Enabling the line again runs its handlers if it was raised meanwhile. */
static inline void enable_irq(unsigned int irq)
{
	struct dmacheck_irq_line *line = dmacheck_irq_line(irq);

	if (!line->disable_depth) {
		fprintf(stderr, "WARNING: Unbalanced enable for IRQ %u\n", irq);
		return;
	}
	if (--line->disable_depth == 0 && line->pending) {
		line->pending = false;
		dmacheck_raise_irq(irq);
	}
}

/* No handler can be running on another CPU. */
static inline void synchronize_irq(unsigned int irq)
{
	(void)irq;
}

#endif /* _DMACHECK_LINUX_INTERRUPT_H */
