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
/* Free kmalloc memory; NULL does nothing. */
void kfree(const void *objp);

/* The 2.4-era names of the pool allocation flags (DMA-mapping.txt). */
#define SLAB_KERNEL	GFP_KERNEL
#define SLAB_ATOMIC	GFP_ATOMIC

#endif /* _DMACHECK_LINUX_SLAB_H */
