/*
 * The `pool` family through the C ABI: dma_pool_* and the pci_pool_* names (in both the
 * five-argument form of DMA-API.txt and the six-argument form of 2.4's DMA-mapping.txt).
 */
#include <string.h>

#include <linux/dma-mapping.h>
#include <linux/dmapool.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <dmacheck.h>

#include "expect.h"

int main(void)
{
	struct pci_dev *pdev = dmacheck_pci_dev_create("0000:00:09.0", "pooltest", 0);
	struct device *dev = &pdev->dev;
	struct dma_pool *pool, *other, *bad;
	dma_addr_t a, b, c;
	u8 *pa, *pb, *pc;

	EXPECT(bad = dma_pool_create("zero", dev, 0, 8, 0), "pool-bad-parameters");
	CHECK(bad == NULL);
	EXPECT(bad = dma_pool_create("align", dev, 32, 3, 0), "pool-bad-parameters");
	EXPECT(bad = dma_pool_create("boundary", dev, 256, 8, 128), "pool-bad-parameters");

	CLEAN(pool = pci_pool_create("td", pdev, 48, 16, 4096, SLAB_KERNEL));
	CLEAN(other = dma_pool_create("qh", dev, 48, 16, 0));
	CHECK(pool && other);
	CLEAN(pa = pci_pool_alloc(pool, SLAB_KERNEL, &a));
	CLEAN(pb = dma_pool_zalloc(pool, GFP_KERNEL, &b));
	CHECK(pa && pb && a % 16 == 0 && b % 16 == 0 && pb[0] == 0 && pb[47] == 0);
	CHECK(a / 4096 == (a + 47) / 4096); /* no block crosses the boundary */

	EXPECT(dma_pool_free(other, pa, a), "pool-free-foreign");
	EXPECT(dma_pool_free(pool, pb, a), "pool-free-mismatch");
	CLEAN(dma_pool_free(pool, pb, b));
	EXPECT(dma_pool_free(pool, pb, b), "pool-double-free");

	/* A write to a free block is found when the block is handed out again. */
	pb[5] = 0x42;
	EXPECT(pc = dma_pool_alloc(pool, GFP_KERNEL, &c), "pool-write-after-free");
	CHECK(pc == pb && c == b);

	EXPECT(pci_pool_destroy(pool), "pool-destroy-busy", "pool-destroy-busy");
	EXPECT(pc = dma_pool_alloc(pool, GFP_KERNEL, &c), "pool-use-after-destroy");
	CHECK(pc == NULL && c == DMA_MAPPING_ERROR);
	EXPECT(dma_pool_destroy(pool), "pool-use-after-destroy");

	/* Pool pointers dmacheck never made are no pools. */
	EXPECT(pc = dma_pool_alloc(NULL, GFP_KERNEL, &c), "invalid-pool");
	CHECK(pc == NULL && c == DMA_MAPPING_ERROR);
	EXPECT(dma_pool_free((struct dma_pool *)&c, pa, a), "invalid-pool");
	CLEAN(dma_pool_destroy(NULL));

	CLEAN(dma_pool_destroy(other));

	/*
	 * A descriptor written 8 bytes too long runs through its block's redzone (the padding up
	 * to the next 64-byte slot) into the next block: the writer's overrun, found at the next
	 * block's free, not a write after free of anything.
	 */
	struct dma_pool *ring;
	dma_addr_t d0, d1;
	u8 *p0, *p1;
	CLEAN(ring = dma_pool_create("ring", dev, 96, 64, 0));
	CLEAN(p0 = dma_pool_alloc(ring, GFP_KERNEL, &d0));
	CLEAN(p1 = dma_pool_alloc(ring, GFP_KERNEL, &d1));
	CHECK(p0 && p1 && d1 == d0 + 128 && p1 == p0 + 128);
	memset(p0, 0x11, 136);
	EXPECT(dma_pool_free(ring, p1, d1), "pool-overrun");
	CLEAN(dma_pool_free(ring, p0, d0));
	CLEAN(p1 = dma_pool_alloc(ring, GFP_KERNEL, &d1));
	memset(p1, 0x22, 96); /* its own bytes only */
	CLEAN(dma_pool_free(ring, p1, d1));
	CLEAN(dma_pool_destroy(ring));

	/* The busy blocks' page is kept: it is still live on the device, reported at release. */
	EXPECT(dmacheck_device_release(dev), "leak");
	return finish();
}
