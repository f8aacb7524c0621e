/*
 * The `heap` family through the C ABI: memory freed while a streaming mapping of it is live
 * (kfree, __free_page, free_pages), and the same frees after the unmap, which are fine; a
 * free_pages of an address that is no page.
 */
#include <linux/dma-mapping.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <dmacheck.h>

#include "expect.h"

int main(void)
{
	struct device *dev = dmacheck_device_create("heap0", "heaptest", 0);
	char *buf = kmalloc(1500, GFP_KERNEL);
	struct page *page = alloc_pages(GFP_KERNEL, 0);
	unsigned long addr = __get_free_pages(GFP_KERNEL, 1);
	dma_addr_t hb, hp, ha;

	CHECK(buf != NULL && page != NULL && addr != 0);
	hb = dma_map_single(dev, buf, 1500, DMA_FROM_DEVICE);
	hp = dma_map_page(dev, page, 256, 512, DMA_TO_DEVICE);
	ha = dma_map_single(dev, (void *)(addr + 4096), 64, DMA_BIDIRECTIONAL);
	CHECK(!dma_mapping_error(dev, hb) && !dma_mapping_error(dev, hp) &&
	      !dma_mapping_error(dev, ha));

	/* Freed under the device: each names its mapping; the unmaps are still due. */
	EXPECT(kfree(buf), "free-while-mapped");
	EXPECT(__free_page(page), "free-while-mapped");
	EXPECT(free_pages(addr, 1), "free-while-mapped");
	CLEAN(dma_unmap_single(dev, hb, 1500, DMA_FROM_DEVICE));
	CLEAN(dma_unmap_page(dev, hp, 512, DMA_TO_DEVICE));
	CLEAN(dma_unmap_single(dev, ha, 64, DMA_BIDIRECTIONAL));

	/* Unmapped first, then freed: the right order. */
	buf = kmalloc(1500, GFP_KERNEL);
	page = alloc_pages(GFP_KERNEL, 0);
	hb = dma_map_single(dev, buf, 1500, DMA_FROM_DEVICE);
	hp = dma_map_page(dev, page, 0, 4096, DMA_FROM_DEVICE);
	CHECK(!dma_mapping_error(dev, hb) && !dma_mapping_error(dev, hp));
	CLEAN(dma_unmap_single(dev, hb, 1500, DMA_FROM_DEVICE));
	CLEAN(kfree(buf));
	CLEAN(dma_unmap_page(dev, hp, 4096, DMA_FROM_DEVICE));
	CLEAN(__free_page(page));

	/* free_pages of an address in no page at all: refused and reported, never ignored. */
	EXPECT(free_pages(0x10, 0), "invalid-free");

	CHECK(dmacheck_live_entries(NULL) == 0);
	dmacheck_device_release(dev);
	return finish();
}
