/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/pm.h>: a driver's power-management callbacks. Nothing suspends on its own: the
 * harness calls them (dmacheck_pci_suspend() and dmacheck_pci_resume(), <dmacheck_pci.h>).
 */
#ifndef _DMACHECK_LINUX_PM_H
#define _DMACHECK_LINUX_PM_H

struct device;

struct dev_pm_ops {
	int (*prepare)(struct device *dev);
	void (*complete)(struct device *dev);
	int (*suspend)(struct device *dev);
	int (*resume)(struct device *dev);
	int (*freeze)(struct device *dev);
	int (*thaw)(struct device *dev);
	int (*poweroff)(struct device *dev);
	int (*restore)(struct device *dev);
	int (*runtime_suspend)(struct device *dev);
	int (*runtime_resume)(struct device *dev);
	int (*runtime_idle)(struct device *dev);
};

#define SYSTEM_SLEEP_PM_OPS(suspend_fn, resume_fn)				\
	.suspend = (suspend_fn), .resume = (resume_fn),				\
	.freeze = (suspend_fn), .thaw = (resume_fn),				\
	.poweroff = (suspend_fn), .restore = (resume_fn),
#define SET_SYSTEM_SLEEP_PM_OPS(suspend_fn, resume_fn)	SYSTEM_SLEEP_PM_OPS(suspend_fn, resume_fn)
#define RUNTIME_PM_OPS(suspend_fn, resume_fn, idle_fn)				\
	.runtime_suspend = (suspend_fn), .runtime_resume = (resume_fn),		\
	.runtime_idle = (idle_fn),
#define SET_RUNTIME_PM_OPS(suspend_fn, resume_fn, idle_fn) \
	RUNTIME_PM_OPS(suspend_fn, resume_fn, idle_fn)

#define DEFINE_SIMPLE_DEV_PM_OPS(name, suspend_fn, resume_fn)			\
	const struct dev_pm_ops name = { SYSTEM_SLEEP_PM_OPS(suspend_fn, resume_fn) }
#define SIMPLE_DEV_PM_OPS(name, suspend_fn, resume_fn)				\
	const struct dev_pm_ops __attribute__((unused)) name =			\
		{ SYSTEM_SLEEP_PM_OPS(suspend_fn, resume_fn) }
#define DEFINE_RUNTIME_DEV_PM_OPS(name, suspend_fn, resume_fn, idle_fn)	\
	const struct dev_pm_ops name = {					\
		SYSTEM_SLEEP_PM_OPS(suspend_fn, resume_fn)			\
		RUNTIME_PM_OPS(suspend_fn, resume_fn, idle_fn) }

/* As with CONFIG_PM and CONFIG_PM_SLEEP: the callbacks are kept. */
#define pm_ptr(ptr)		(ptr)
#define pm_sleep_ptr(ptr)	(ptr)

#endif /* _DMACHECK_LINUX_PM_H */
