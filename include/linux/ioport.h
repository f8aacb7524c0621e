/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/ioport.h>: `struct resource`, the window a BAR decodes (`pdev->resource[]` in
 * <linux/pci.h>), its IORESOURCE_* flags and resource_size().
 */
#ifndef _DMACHECK_LINUX_IOPORT_H
#define _DMACHECK_LINUX_IOPORT_H

#include <linux/types.h>

/* [start, end] on the bus, both 0 for none (an end, not a length, as the kernel's). */
struct resource {
	resource_size_t start;
	resource_size_t end;
	const char *name;
	unsigned long flags;	/* IORESOURCE_* */
};

#define IORESOURCE_IO		0x00000100
#define IORESOURCE_MEM		0x00000200
#define IORESOURCE_PREFETCH	0x00002000
#define IORESOURCE_MEM_64	0x00100000

static inline resource_size_t resource_size(const struct resource *res)
{
	return res->end - res->start + 1;
}

#endif /* _DMACHECK_LINUX_IOPORT_H */
