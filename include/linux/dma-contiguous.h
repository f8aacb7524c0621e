/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/dma-contiguous.h>: the Contiguous Memory Allocator. Large, aligned, physically
 * contiguous blocks from an area set aside "at boot"; allocations still live when their device
 * is released are reported as leaks, releases of pages not allocated (or with another count)
 * are reported.
 */
#ifndef _DMACHECK_LINUX_DMA_CONTIGUOUS_H
#define _DMACHECK_LINUX_DMA_CONTIGUOUS_H

#include <linux/types.h>
#include <linux/device.h>
#include <linux/mm_types.h>

/* The largest alignment order honoured (CONFIG_CMA_ALIGNMENT). */
#define CONFIG_CMA_ALIGNMENT 8

/*
 * Set aside the default area: 16 MiB (CONFIG_CMA_SIZE_MBYTES), once; later calls do nothing.
 * limit is not honoured: the area lies wherever memory has room.
 */
void dma_contiguous_reserve(phys_addr_t limit);
/*
 * Set aside an area of size bytes below limit (0: anywhere; base is not honoured). With a
 * device, the area is that device's own: its dma_alloc_from_contiguous takes from it, and it
 * is no other device's default. With NULL, a system area: the first one is the default, from
 * which every device without an area of its own allocates. 0, or -EINVAL (size 0, or a device
 * dmacheck does not know), -EBUSY (the device has an area already) or -ENOMEM.
 */
int dma_declare_contiguous(struct device *dev, unsigned long size, phys_addr_t base,
			   phys_addr_t limit);
/*
 * count contiguous pages aligned to 2^align pages (align is capped at CONFIG_CMA_ALIGNMENT);
 * NULL without an area, for count 0, or when no aligned run is free.
 */
struct page *dma_alloc_from_contiguous(struct device *dev, int count, unsigned int align);
/* 1 if the pages were the area's (and are released), 0 if they are not the device's area's. */
int dma_release_from_contiguous(struct device *dev, struct page *pages, int count);

/* ---- Call sites (see <dmacheck_call_site.h>) ---- */
#include <dmacheck_call_site.h>
#ifdef DMACHECK_CALL_SITES
#define dma_declare_contiguous(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); unsigned long dmacheck_a1 = (a1); phys_addr_t dmacheck_a2 = (a2); phys_addr_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_declare_contiguous(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_alloc_from_contiguous(a0, a1, a2) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); int dmacheck_a1 = (a1); unsigned int dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); dma_alloc_from_contiguous(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define dma_release_from_contiguous(a0, a1, a2) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct page *dmacheck_a1 = (a1); int dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); dma_release_from_contiguous(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#endif
/* ---- End of call sites ---- */

#endif /* _DMACHECK_LINUX_DMA_CONTIGUOUS_H */
