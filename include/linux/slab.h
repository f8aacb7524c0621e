/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/slab.h>: kmalloc and friends, over dmacheck's simulated physical memory: DMA-able,
 * in power-of-two size classes, naturally aligned. kfree of anything that is not a live
 * kmalloc allocation is reported (`invalid-free`) and left alone.
 */
#ifndef _DMACHECK_LINUX_SLAB_H
#define _DMACHECK_LINUX_SLAB_H

#include <linux/types.h>
#include <linux/gfp.h>

/* `size` bytes; NULL for 0 or when memory runs out. GFP_DMA places them below 16 MiB. */
void *kmalloc(size_t size, gfp_t flags);
/* kmalloc, zeroed. */
void *kzalloc(size_t size, gfp_t flags);
/* n * size zeroed bytes; NULL if the product overflows. */
void *kcalloc(size_t n, size_t size, gfp_t flags);
/* kmalloc of n * size bytes; NULL if the product overflows. */
void *kmalloc_array(size_t n, size_t size, gfp_t flags);

/* A kmalloc copy of len bytes at src; NULL when memory runs out. */
static inline void *kmemdup(const void *src, size_t len, gfp_t gfp)
{
	void *p = (kmalloc)(len, gfp);

	if (p)
		__builtin_memcpy(p, src, len);
	return p;
}

/* A kmalloc copy of a string; NULL for NULL or when memory runs out. */
static inline char *kstrdup(const char *s, gfp_t gfp)
{
	/* (kmalloc)(0) is NULL: one call either way. */
	char *p = (kmalloc)(s ? __builtin_strlen(s) + 1 : 0, gfp);

	if (p)
		__builtin_memcpy(p, s, __builtin_strlen(s) + 1);
	return p;
}
/* Free kmalloc memory; NULL does nothing. */
void kfree(const void *objp);

/* The 2.4-era names of the pool allocation flags (DMA-mapping.txt). */
#define SLAB_KERNEL	GFP_KERNEL
#define SLAB_ATOMIC	GFP_ATOMIC

/* ---- Call sites (see <dmacheck_call_site.h>) ---- */
#include <dmacheck_call_site.h>
#ifdef DMACHECK_CALL_SITES
#define kmalloc(a0, a1) __extension__ ({ \
	size_t dmacheck_a0 = (a0); gfp_t dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); kmalloc(dmacheck_a0, dmacheck_a1); })
#define kzalloc(a0, a1) __extension__ ({ \
	size_t dmacheck_a0 = (a0); gfp_t dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); kzalloc(dmacheck_a0, dmacheck_a1); })
#define kcalloc(a0, a1, a2) __extension__ ({ \
	size_t dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); gfp_t dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); kcalloc(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define kmalloc_array(a0, a1, a2) __extension__ ({ \
	size_t dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); gfp_t dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); kmalloc_array(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define kfree(a0) __extension__ ({ \
	const void *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); kfree(dmacheck_a0); })
#define kmemdup(a0, a1, a2) __extension__ ({ \
	const void *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); gfp_t dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); kmemdup(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define kstrdup(a0, a1) __extension__ ({ \
	const char *dmacheck_a0 = (a0); gfp_t dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); kstrdup(dmacheck_a0, dmacheck_a1); })
#endif
/* ---- End of call sites ---- */

#endif /* _DMACHECK_LINUX_SLAB_H */
