/* The harness's own `struct device`: a layout dmacheck knows nothing of. */
#ifndef HARNESS_LINUX_DEVICE_H
#define HARNESS_LINUX_DEVICE_H

#include <linux/types.h>

struct device {
	struct device *parent;
	const char *init_name;
	void *driver_data;
	u64 *dma_mask;
	u64 coherent_dma_mask;
};

static inline const char *dev_name(const struct device *dev)
{
	return dev->init_name;
}

#endif
