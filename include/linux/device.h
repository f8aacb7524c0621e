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

struct device {
	const char *dmacheck_name;	/* dev_name(); owned by dmacheck */
	u64 *dma_mask;			/* the streaming mask is *dma_mask */
	u64 coherent_dma_mask;		/* the mask of dma_alloc_coherent memory */
	void *driver_data;		/* dev_set_drvdata() / dev_get_drvdata() */
	void *platform_data;		/* free for the driver */
	u64 dmacheck_dma_mask;		/* what dma_mask points at for dmacheck_device_create() */
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

#endif /* _DMACHECK_LINUX_DEVICE_H */
