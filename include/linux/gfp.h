/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/gfp.h>: allocation flags and the page allocator.
 *
 * The flags have the kernel's meanings (not its bit values): GFP_KERNEL may sleep and is
 * reported (`sleeping-alloc-in-atomic`) in atomic context; GFP_DMA memory lies below 16 MiB,
 * GFP_DMA32 memory below 4 GiB; __GFP_ZERO zeroes. Unknown bits are ignored.
 *
 * Pages come from dmacheck's simulated physical memory, so they are DMA-able and have a
 * physical address a device's mask really limits.
 */
#ifndef _DMACHECK_LINUX_GFP_H
#define _DMACHECK_LINUX_GFP_H

#include <linux/types.h>
#include <linux/mm_types.h>

#define __GFP_DMA		0x01u
#define __GFP_DMA32		0x04u
#define __GFP_HIGH		0x20u
#define __GFP_IO		0x40u
#define __GFP_FS		0x80u
#define __GFP_ZERO		0x100u
#define __GFP_DIRECT_RECLAIM	0x400u
#define __GFP_KSWAPD_RECLAIM	0x800u
#define __GFP_NOWARN		0x2000u
#define __GFP_RECLAIM		(__GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM)

#define GFP_ATOMIC	(__GFP_HIGH | __GFP_KSWAPD_RECLAIM)
#define GFP_NOWAIT	(__GFP_KSWAPD_RECLAIM)
#define GFP_NOIO	(__GFP_RECLAIM)
#define GFP_NOFS	(__GFP_RECLAIM | __GFP_IO)
#define GFP_KERNEL	(__GFP_RECLAIM | __GFP_IO | __GFP_FS)
#define GFP_USER	GFP_KERNEL
#define GFP_DMA		__GFP_DMA
#define GFP_DMA32	__GFP_DMA32

/* 2^order contiguous pages; NULL when memory runs out. */
struct page *alloc_pages(gfp_t gfp_mask, unsigned int order);
/* The same, as the CPU address of the first page; 0 when memory runs out. */
unsigned long __get_free_pages(gfp_t gfp_mask, unsigned int order);
/* One zeroed page, as a CPU address; 0 when memory runs out. */
unsigned long get_zeroed_page(gfp_t gfp_mask);
/* Free pages from alloc_pages with the order they were allocated with. */
void __free_pages(struct page *page, unsigned int order);
/* Free pages from __get_free_pages by address (0 does nothing). */
void free_pages(unsigned long addr, unsigned int order);

#define alloc_page(gfp_mask)		alloc_pages(gfp_mask, 0)
#define __get_free_page(gfp_mask)	__get_free_pages(gfp_mask, 0)
#define __get_dma_pages(gfp_mask, order) __get_free_pages((gfp_mask) | GFP_DMA, order)
#define __free_page(page)		__free_pages(page, 0)
#define free_page(addr)			free_pages(addr, 0)

/* ---- Call sites (see <dmacheck_call_site.h>) ---- */
#include <dmacheck_call_site.h>
#ifdef DMACHECK_CALL_SITES
#define alloc_pages(a0, a1) __extension__ ({ \
	gfp_t dmacheck_a0 = (a0); unsigned int dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); alloc_pages(dmacheck_a0, dmacheck_a1); })
#define __get_free_pages(a0, a1) __extension__ ({ \
	gfp_t dmacheck_a0 = (a0); unsigned int dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); __get_free_pages(dmacheck_a0, dmacheck_a1); })
#define get_zeroed_page(a0) __extension__ ({ \
	gfp_t dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); get_zeroed_page(dmacheck_a0); })
#define __free_pages(a0, a1) __extension__ ({ \
	struct page *dmacheck_a0 = (a0); unsigned int dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); __free_pages(dmacheck_a0, dmacheck_a1); })
#define free_pages(a0, a1) __extension__ ({ \
	unsigned long dmacheck_a0 = (a0); unsigned int dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); free_pages(dmacheck_a0, dmacheck_a1); })
#endif
/* ---- End of call sites ---- */

#endif /* _DMACHECK_LINUX_GFP_H */
