/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/dmapool.h>: pools of small coherent blocks of one size, alignment and boundary.
 *
 * Free blocks are poisoned and checked when handed out again (a write after free is reported
 * with the site of the free); freeing a block twice, into the wrong pool or with the wrong CPU
 * address, and destroying a pool with blocks still allocated are reported. A pool pointer not
 * made by dma_pool_create (NULL included, except for dma_pool_destroy(NULL), which does
 * nothing) is reported (`invalid-pool`); a pool still not destroyed when its device is
 * released (dmacheck_device_release) is reported by name (`leak`) and destroyed.
 */
#ifndef _DMACHECK_LINUX_DMAPOOL_H
#define _DMACHECK_LINUX_DMAPOOL_H

#include <linux/types.h>
#include <linux/device.h>
#include <linux/gfp.h>

struct dma_pool;

/*
 * A pool of size-byte blocks aligned to align (a power of two), none crossing a multiple of
 * boundary (0: no boundary). NULL for bad parameters, which are reported. May sleep.
 */
struct dma_pool *dma_pool_create(const char *name, struct device *dev, size_t size,
				 size_t align, size_t boundary);
/* Every block must be free. May sleep. NULL does nothing. */
void dma_pool_destroy(struct dma_pool *pool);
/* A block: its CPU address, and its DMA address in *handle; NULL when memory runs out. */
void *dma_pool_alloc(struct dma_pool *pool, gfp_t mem_flags, dma_addr_t *handle);
/* dma_pool_alloc, zeroed. */
void *dma_pool_zalloc(struct dma_pool *pool, gfp_t mem_flags, dma_addr_t *handle);
/* Put a block back: both addresses dma_pool_alloc returned. */
void dma_pool_free(struct dma_pool *pool, void *vaddr, dma_addr_t addr);

/*
 * A managed pool (devres): destroyed when the device is released, as dma_pool_destroy would
 * (blocks still allocated then are reported). Do not destroy it yourself.
 */
struct dma_pool *dmam_pool_create(const char *name, struct device *dev, size_t size,
				  size_t align, size_t allocation);

/* ---- Call sites (see <dmacheck_call_site.h>) ---- */
#include <dmacheck_call_site.h>
#ifdef DMACHECK_CALL_SITES
#define dma_pool_create(a0, a1, a2, a3, a4) __extension__ ({ \
	const char *dmacheck_a0 = (a0); struct device *dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); size_t dmacheck_a3 = (a3); size_t dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_pool_create(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_pool_destroy(a0) __extension__ ({ \
	struct dma_pool *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dma_pool_destroy(dmacheck_a0); })
#define dma_pool_alloc(a0, a1, a2) __extension__ ({ \
	struct dma_pool *dmacheck_a0 = (a0); gfp_t dmacheck_a1 = (a1); dma_addr_t *dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); dma_pool_alloc(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define dma_pool_zalloc(a0, a1, a2) __extension__ ({ \
	struct dma_pool *dmacheck_a0 = (a0); gfp_t dmacheck_a1 = (a1); dma_addr_t *dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); dma_pool_zalloc(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define dma_pool_free(a0, a1, a2) __extension__ ({ \
	struct dma_pool *dmacheck_a0 = (a0); void *dmacheck_a1 = (a1); dma_addr_t dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); dma_pool_free(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define dmam_pool_create(a0, a1, a2, a3, a4) __extension__ ({ \
	const char *dmacheck_a0 = (a0); struct device *dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); size_t dmacheck_a3 = (a3); size_t dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dmam_pool_create(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#endif
/* ---- End of call sites ---- */

#endif /* _DMACHECK_LINUX_DMAPOOL_H */
