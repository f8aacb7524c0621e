/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/device.h>: `struct device`, as much of it as DMA code uses.
 *
 * Devices are made by dmacheck_device_create() or dmacheck_pci_dev_create() (<dmacheck.h>);
 * only pointers they returned are devices. NULL, or any other pointer, given to a DMA call is
 * reported (`invalid-device`) and the call refused. A program that defines `struct device`
 * itself uses its own <linux/device.h> instead of this one (see <dmacheck.h>).
 *
 * The masks are the kernel's fields and may be written directly, as drivers do
 * (`*dev->dma_mask = DMA_BIT_MASK(24)`, `dev->coherent_dma_mask = ...`, or pointing
 * `dev->dma_mask` at another u64): every DMA call reads them first and applies what changed, as
 * dma_set_mask() would. A mask dma_set_mask() refuses (one that does not reach the GFP_DMA zone)
 * is not applied; with `dev->dma_mask == NULL` the streaming mask stays as it was and
 * dma_set_mask() returns -EIO, as in the kernel.
 */
#ifndef _DMACHECK_LINUX_DEVICE_H
#define _DMACHECK_LINUX_DEVICE_H

#include <linux/types.h>
#include <linux/gfp.h>
#include <linux/printk.h>

struct device {
	const char *dmacheck_name;	/* dev_name(); owned by dmacheck */
	u64 *dma_mask;			/* the streaming mask is *dma_mask */
	u64 coherent_dma_mask;		/* the mask of dma_alloc_coherent memory */
	void *driver_data;		/* dev_set_drvdata() / dev_get_drvdata() */
	void *platform_data;		/* free for the driver */
	u64 dmacheck_dma_mask;		/* what dma_mask points at for dmacheck_device_create() */
};

struct dev_pm_ops;
struct module;

/* The driver side a bus driver embeds (`struct pci_driver`'s .driver): its name and PM calls. */
struct device_driver {
	const char *name;
	struct module *owner;
	const struct dev_pm_ops *pm;
};

static inline const char *dev_name(const struct device *dev)
{
	return dev->dmacheck_name;
}

static inline void *dev_get_drvdata(const struct device *dev)
{
	return dev->driver_data;
}

static inline void dev_set_drvdata(struct device *dev, void *data)
{
	dev->driver_data = data;
}

/*
 * Managed memory: kmalloc memory freed when the device is released (dmacheck_device_release,
 * the driver's unbind), newest first with the device's other managed resources. devm_kfree of
 * memory devm_kmalloc did not allocate for this device is reported (`managed-free-mismatch`)
 * and the memory left alone, as the kernel's WARN_ON(devres_destroy(...)) leaves it.
 */
void *devm_kmalloc(struct device *dev, size_t size, gfp_t gfp);
void devm_kfree(struct device *dev, const void *p);

static inline void *devm_kzalloc(struct device *dev, size_t size, gfp_t gfp)
{
	return (devm_kmalloc)(dev, size, gfp | __GFP_ZERO);
}

static inline void *devm_kmalloc_array(struct device *dev, size_t n, size_t size, gfp_t gfp)
{
	size_t bytes;

	/* An overflowing product asks for more than any memory: NULL, as the kernel returns. */
	if (__builtin_mul_overflow(n, size, &bytes))
		bytes = SIZE_MAX;
	return (devm_kmalloc)(dev, bytes, gfp);
}

/* A managed copy of len bytes at src. */
static inline void *devm_kmemdup(struct device *dev, const void *src, size_t len, gfp_t gfp)
{
	void *p = (devm_kmalloc)(dev, len, gfp);

	if (p)
		__builtin_memcpy(p, src, len);
	return p;
}

static inline void *devm_kcalloc(struct device *dev, size_t n, size_t size, gfp_t gfp)
{
	return (devm_kmalloc_array)(dev, n, size, gfp | __GFP_ZERO);
}

/* Messages about a device, on stderr as "name: message". dev_dbg prints only under DEBUG. */
#define dev_printk(level, dev, fmt, ...) \
	fprintf(stderr, "%s: " fmt, dev_name(dev), ##__VA_ARGS__)
#define dev_emerg(dev, fmt, ...)	dev_printk(KERN_EMERG, dev, fmt, ##__VA_ARGS__)
#define dev_crit(dev, fmt, ...)		dev_printk(KERN_CRIT, dev, fmt, ##__VA_ARGS__)
#define dev_alert(dev, fmt, ...)	dev_printk(KERN_ALERT, dev, fmt, ##__VA_ARGS__)
#define dev_err(dev, fmt, ...)		dev_printk(KERN_ERR, dev, fmt, ##__VA_ARGS__)
#define dev_warn(dev, fmt, ...)		dev_printk(KERN_WARNING, dev, fmt, ##__VA_ARGS__)
#define dev_notice(dev, fmt, ...)	dev_printk(KERN_NOTICE, dev, fmt, ##__VA_ARGS__)
#define dev_info(dev, fmt, ...)		dev_printk(KERN_INFO, dev, fmt, ##__VA_ARGS__)
#ifdef DEBUG
#define dev_dbg(dev, fmt, ...)		dev_printk(KERN_DEBUG, dev, fmt, ##__VA_ARGS__)
#else
#define dev_dbg(dev, fmt, ...)		({ if (0) dev_printk(KERN_DEBUG, dev, fmt, ##__VA_ARGS__); 0; })
#endif
#define dev_err_once(dev, fmt, ...)	dev_err(dev, fmt, ##__VA_ARGS__)
#define dev_warn_once(dev, fmt, ...)	dev_warn(dev, fmt, ##__VA_ARGS__)
#define dev_err_ratelimited(dev, fmt, ...)	dev_err(dev, fmt, ##__VA_ARGS__)
#define dev_warn_ratelimited(dev, fmt, ...)	dev_warn(dev, fmt, ##__VA_ARGS__)
/* Print the error (unless -EPROBE_DEFER) and return it: `return dev_err_probe(dev, ret, ...)`. */
#define dev_err_probe(dev, err, fmt, ...) ({ \
	int _probe_err = (err); \
	if (_probe_err != -517) \
		dev_err(dev, "error %d: " fmt, _probe_err, ##__VA_ARGS__); \
	_probe_err; })

/*
 * module_driver(): the module_init and module_exit of a driver that only registers itself
 * (module_pci_driver() and the like), register(&drv) and unregister(&drv).
 */
#define module_driver(__driver, __register, __unregister, ...)			\
static int __init __driver##_init(void)						\
{										\
	return __register(&(__driver), ##__VA_ARGS__);				\
}										\
module_init(__driver##_init);							\
static void __exit __driver##_exit(void)					\
{										\
	__unregister(&(__driver), ##__VA_ARGS__);				\
}										\
module_exit(__driver##_exit)

/* ---- Call sites (see <dmacheck_call_site.h>) ---- */
#include <dmacheck_call_site.h>
#ifdef DMACHECK_CALL_SITES
#define devm_kmalloc(a0, a1, a2) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); gfp_t dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); devm_kmalloc(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define devm_kfree(a0, a1) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); const void *dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); devm_kfree(dmacheck_a0, dmacheck_a1); })
#define devm_kzalloc(a0, a1, a2) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); gfp_t dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); devm_kzalloc(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define devm_kmalloc_array(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); gfp_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); devm_kmalloc_array(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define devm_kmemdup(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); const void *dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); gfp_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); devm_kmemdup(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define devm_kcalloc(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); gfp_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); devm_kcalloc(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#endif
/* ---- End of call sites ---- */

#endif /* _DMACHECK_LINUX_DEVICE_H */
