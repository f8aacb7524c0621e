/*
 * The `lifetime` family through the C ABI: what a driver leaves mapped when its device is
 * released (each entry one `leak`), calls on the device after that, and frees of memory that is
 * not a live allocation.
 */
#include <stdlib.h>

#include <linux/dma-mapping.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <dmacheck.h>

#include "expect.h"

int main(void)
{
	struct device *dev = dmacheck_device_create("life0", "lifetest", 0);
	struct device *keep = dmacheck_device_create("life1", "lifetest", 0);
	char *a = kmalloc(128, GFP_KERNEL), *b = kmalloc(4096, GFP_KERNEL);
	dma_addr_t ha, hb, hc, hk;
	void *ring;
	int rc;

	ha = dma_map_single(dev, a, 128, DMA_TO_DEVICE);
	CHECK(!dma_mapping_error(dev, ha));
	hb = dma_map_single(dev, b, 4096, DMA_FROM_DEVICE);
	CHECK(!dma_mapping_error(dev, hb));
	ring = dma_alloc_coherent(dev, 8192, &hc, GFP_KERNEL);
	hk = dma_map_single(keep, a, 128, DMA_TO_DEVICE);
	CHECK(!dma_mapping_error(keep, hk));
	CHECK(dmacheck_live_entries(dev) == 3 && dmacheck_live_entries(keep) == 1);
	CHECK(dmacheck_live_entries(NULL) == 4);

	/* Driver unbind with three entries live: three leaks; the other device keeps its own. */
	EXPECT(dmacheck_device_release(dev), "leak", "leak", "leak");
	CHECK(dmacheck_live_entries(dev) == 0 && dmacheck_live_entries(NULL) == 1);
	CLEAN(dmacheck_device_release(dev)); /* twice: nothing more */

	/* The device is gone: every call on it is reported and refused. */
	EXPECT(ha = dma_map_single(dev, a, 128, DMA_TO_DEVICE), "device-released");
	CHECK(ha == DMA_MAPPING_ERROR);
	EXPECT(dma_unmap_single(dev, hb, 4096, DMA_FROM_DEVICE), "device-released");
	EXPECT(ring = dma_alloc_coherent(dev, 64, &hc, GFP_KERNEL), "device-released");
	CHECK(ring == NULL && hc == DMA_MAPPING_ERROR);
	EXPECT(rc = dmacheck_device_read(dev, hb, a, 8), "device-released");
	CHECK(rc == -EFAULT);

	CLEAN(dma_unmap_single(keep, hk, 128, DMA_TO_DEVICE));

	/* Frees of what is not a live allocation. */
	CLEAN(kfree(a));
	EXPECT(kfree(a), "invalid-free");
	EXPECT(kfree(b + 16), "invalid-free");
	char *heap = malloc(32);
	EXPECT(kfree(heap), "invalid-free");
	free(heap);
	CLEAN(kfree(NULL));
	struct page *pages = alloc_pages(GFP_KERNEL, 2);
	EXPECT(__free_pages(pages, 1), "invalid-free");
	CLEAN(__free_pages(pages, 2));
	unsigned long addr = __get_free_pages(GFP_KERNEL, 0);
	CLEAN(free_pages(addr, 0));
	EXPECT(free_pages(addr, 0), "invalid-free");
	CLEAN(free_pages(0, 3));
	void *v = vmalloc(100);
	EXPECT(vfree(b), "invalid-free");
	CLEAN(vfree(v));
	CLEAN(kfree(b));

	CHECK(dmacheck_live_entries(NULL) == 0);
	return finish();
}
