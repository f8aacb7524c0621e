/*
 * What the C ABI's reports say (issue 18, point 5): calls are named as called, a garbage
 * direction shows its value, a pool never destroyed is reported by name at the device's
 * release, and every call on a released device is reported, setters and pool creation
 * included. The runner reads the messages from stderr.
 */
#include <linux/dma-mapping.h>
#include <linux/dmapool.h>
#include <linux/slab.h>
#include <dmacheck.h>

#include "expect.h"

int main(void)
{
	struct device *dev = dmacheck_device_create("eth0", "msgs", DMA_BIT_MASK(64));
	char *buf = kmalloc(256, GFP_KERNEL);
	struct dma_pool *pool, *forgotten;
	dma_addr_t h, block_dma;
	void *block;

	/* Named as called: the attrs form in the report, not dma_map_page. */
	EXPECT(h = dma_map_page_attrs(dev, virt_to_page(buf), 0, 64, (enum dma_data_direction)7,
				      0),
	       "direction-none");
	CHECK(dma_mapping_error(dev, h));
	EXPECT(h = dma_map_single(dev, buf, 64, (enum dma_data_direction)-9), "direction-none");

	/* A pool the driver forgets: reported by name, and its busy block's page leaks. */
	CLEAN(pool = dma_pool_create("rx-desc", dev, 64, 64, 0));
	CLEAN(forgotten = dma_pool_create("cmd-blocks", dev, 32, 32, 0));
	CLEAN(block = dma_pool_alloc(forgotten, GFP_KERNEL, &block_dma));
	CHECK(block != NULL);
	CLEAN(dma_pool_destroy(pool));
	EXPECT(dmacheck_device_release(dev), "leak", "pool-destroy-busy", "leak");

	/* Every call on the released device is reported. */
	EXPECT(CHECK(dma_set_mask(dev, DMA_BIT_MASK(32)) == -EIO), "device-released");
	EXPECT(CHECK(dma_set_coherent_mask(dev, DMA_BIT_MASK(32)) == -EIO), "device-released");
	EXPECT(CHECK(dma_set_mask_and_coherent(dev, DMA_BIT_MASK(32)) == -EIO),
	       "device-released");
	EXPECT(CHECK(dma_set_max_seg_size(dev, 4096) == -EIO), "device-released");
	EXPECT(CHECK(dma_set_seg_boundary(dev, 0xfff) == -EIO), "device-released");
	EXPECT(CHECK(dma_pool_create("late", dev, 64, 64, 0) == NULL), "device-released");
	EXPECT(CHECK(dmam_alloc_coherent(dev, 64, &h, GFP_KERNEL) == NULL), "device-released");
	CHECK(dma_get_mask(dev) == DMA_BIT_MASK(64));

	kfree(buf);
	return finish();
}
