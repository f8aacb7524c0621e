/*
 * The `cache` family through the C ABI: device-writable mappings sharing a CPU cache line
 * (dma_get_cache_alignment() bytes), and partial syncs whose cache lines reach past the mapping
 * (or dma_cache_sync ranges not aligned to lines).
 */
#include <linux/dma-mapping.h>
#include <linux/slab.h>
#include <dmacheck.h>

#include "expect.h"

int main(void)
{
	struct device *dev = dmacheck_device_create("cache0", "cachetest", 0);
	int line = dma_get_cache_alignment();
	char *buf = kmalloc(4 * line, GFP_KERNEL);
	dma_addr_t a, b, c;

	CHECK(line == 64);
	/* Two halves of one line, both writable by the device. */
	CLEAN(a = dma_map_single(dev, buf, line / 2, DMA_FROM_DEVICE));
	EXPECT(b = dma_map_single(dev, buf + line / 2, line / 2, DMA_BIDIRECTIONAL),
	       "cacheline-overlap");
	/* The device only reads this one: no overlap to fear. */
	CLEAN(c = dma_map_single(dev, buf + 8, 8, DMA_TO_DEVICE));
	/* A driver that syncs by itself says so. */
	dma_addr_t d;
	CLEAN(d = dma_map_single_attrs(dev, buf + 16, 8, DMA_FROM_DEVICE, DMA_ATTR_SKIP_CPU_SYNC));
	CHECK(!dma_mapping_error(dev, a) && !dma_mapping_error(dev, b) &&
	      !dma_mapping_error(dev, c) && !dma_mapping_error(dev, d));
	dma_unmap_single(dev, a, line / 2, DMA_FROM_DEVICE);
	dma_unmap_single(dev, b, line / 2, DMA_BIDIRECTIONAL);
	dma_unmap_single(dev, c, 8, DMA_TO_DEVICE);
	dma_unmap_single_attrs(dev, d, 8, DMA_FROM_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
	/* kmalloc memory is DMA-safe: small buffers never share a line, so never overlap. */
	char *r1 = kmalloc(13, GFP_KERNEL), *r2 = kmalloc(13, GFP_KERNEL);
	CHECK(r1 && r2 && (unsigned long)r1 / line != (unsigned long)r2 / line);
	CLEAN(a = dma_map_single(dev, r1, 13, DMA_FROM_DEVICE));
	CLEAN(b = dma_map_single(dev, r2, 13, DMA_FROM_DEVICE));
	CHECK(!dma_mapping_error(dev, a) && !dma_mapping_error(dev, b));
	dma_unmap_single(dev, a, 13, DMA_FROM_DEVICE);
	dma_unmap_single(dev, b, 13, DMA_FROM_DEVICE);
	kfree(r1);
	kfree(r2);
	/* Separate lines are fine. */
	CLEAN(a = dma_map_single(dev, buf, line, DMA_FROM_DEVICE));
	CLEAN(b = dma_map_single(dev, buf + line, line, DMA_FROM_DEVICE));
	CHECK(!dma_mapping_error(dev, a) && !dma_mapping_error(dev, b));
	dma_unmap_single(dev, b, line, DMA_FROM_DEVICE);

	/*
	 * Partial syncs of a streaming mapping: the architecture widens them to whole lines, so
	 * only lines reaching past the mapping are reported (a range ending where the mapping ends
	 * touches only the mapping's own last line). 100 bytes end 36 bytes into a line.
	 */
	CLEAN(dma_sync_single_range_for_cpu(dev, a, 10, 20, DMA_FROM_DEVICE));
	CLEAN(dma_sync_single_range_for_device(dev, a, 0, line, DMA_FROM_DEVICE));
	dma_unmap_single(dev, a, line, DMA_FROM_DEVICE);
	CLEAN(a = dma_map_single(dev, buf + line, 100, DMA_FROM_DEVICE));
	CHECK(!dma_mapping_error(dev, a));
	CLEAN(dma_sync_single_range_for_cpu(dev, a, 0, line, DMA_FROM_DEVICE));
	CLEAN(dma_sync_single_range_for_cpu(dev, a, line, 36, DMA_FROM_DEVICE)); /* to the end */
	EXPECT(dma_sync_single_range_for_cpu(dev, a, line, 20, DMA_FROM_DEVICE), "sync-unaligned");
	dma_unmap_single(dev, a, 100, DMA_FROM_DEVICE);

	dma_addr_t nh;
	char *nc = dma_alloc_noncoherent(dev, 4 * line, &nh, GFP_KERNEL);
	CHECK(nc != NULL && dma_is_consistent(dev, nh) == 1);
	EXPECT(dma_cache_sync(dev, nc + 3, 10, DMA_TO_DEVICE), "sync-unaligned");
	CLEAN(dma_cache_sync(dev, nc, 4 * line, DMA_TO_DEVICE));
	EXPECT(dma_cache_sync(dev, buf, line, DMA_TO_DEVICE), "sync-unknown");
	dma_free_noncoherent(dev, 4 * line, nc, nh);

	kfree(buf);
	CHECK(dmacheck_live_entries(NULL) == 0);
	return finish();
}
