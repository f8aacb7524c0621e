/*
 * Bad input from C never crashes the checker: NULL and foreign device pointers, NULL and
 * foreign memory, bogus DMA handles, garbage directions, NULL lists and out-pointers. Each DMA
 * call is reported and returns what a failed call returns.
 */
#include <stdint.h>
#include <stdlib.h>

#include <linux/dma-mapping.h>
#include <linux/dmapool.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/vmalloc.h>
#include <dmacheck.h>

#include "expect.h"

int main(void)
{
	struct device *dev = dmacheck_device_create(NULL, NULL, 0);
	struct device fake; /* never made by dmacheck */
	struct device *devices[] = { NULL, &fake, (struct device *)(uintptr_t)0xdeadbeef };
	char *buf = kmalloc(256, GFP_KERNEL);
	struct scatterlist sg[2];
	dma_addr_t h;
	void *p;
	int n;

	memset(&fake, 0xff, sizeof(fake)); /* pointers in it lead nowhere */
	CHECK(strcmp(dev_name(dev), "(unnamed)") == 0);
	sg_init_table(sg, 2);
	sg_set_buf(&sg[0], buf, 64);
	sg_set_buf(&sg[1], buf + 128, 64);

	for (int i = 0; i < 3; i++) {
		struct device *bad = devices[i];

		EXPECT(h = dma_map_single(bad, buf, 64, DMA_TO_DEVICE), "invalid-device");
		CHECK(h == DMA_MAPPING_ERROR && dma_mapping_error(bad, h));
		EXPECT(dma_unmap_single(bad, 0x1000, 64, DMA_TO_DEVICE), "invalid-device");
		EXPECT(h = dma_map_page(bad, virt_to_page(buf), 0, 64, DMA_TO_DEVICE),
		       "invalid-device");
		EXPECT(dma_sync_single_for_cpu(bad, 0x1000, 64, DMA_FROM_DEVICE), "invalid-device");
		EXPECT(dma_sync_single(bad, 0x1000, 64, DMA_BIDIRECTIONAL), "invalid-device");
		EXPECT(p = dma_alloc_coherent(bad, 64, &h, GFP_KERNEL), "invalid-device");
		CHECK(p == NULL && h == DMA_MAPPING_ERROR);
		EXPECT(dma_free_coherent(bad, 64, buf, 0x1000), "invalid-device");
		EXPECT(n = dma_map_sg(bad, sg, 2, DMA_TO_DEVICE), "invalid-device");
		CHECK(n == 0);
		EXPECT(dma_unmap_sg(bad, sg, 2, DMA_TO_DEVICE), "invalid-device");
		EXPECT(n = dmacheck_device_read(bad, 0x1000, buf, 4), "invalid-device");
		CHECK(n == -EFAULT);
		EXPECT(n = dma_set_mask(bad, DMA_BIT_MASK(32)), "invalid-device");
		CHECK(n == -EIO && dma_supported(bad, DMA_BIT_MASK(32)) == 0);
		CHECK(dma_get_mask(bad) == DMA_BIT_MASK(32));
		CHECK(dmacheck_live_entries(bad) == 0);
		CLEAN(dmacheck_device_release(bad));
	}

	/* Garbage directions are DMA_NONE. */
	EXPECT(h = dma_map_single(dev, buf, 64, (enum dma_data_direction)0x7fffffff),
	       "direction-none");
	EXPECT(n = dma_map_sg(dev, sg, 2, (enum dma_data_direction)-5), "direction-none");
	CHECK(n == 0);
	EXPECT(dma_unmap_sg(dev, sg, 2, DMA_TO_DEVICE), "unmap-unknown"); /* refused: never mapped */

	/* Bogus handles. */
	EXPECT(dma_unmap_page(dev, 0x123456789, 64, DMA_TO_DEVICE), "unmap-unknown");
	EXPECT(dma_free_coherent(dev, 64, buf, 0x42), "unmap-unknown");
	EXPECT(dma_sync_single_range_for_device(dev, ~0ULL - 1, 64, 64, DMA_TO_DEVICE),
	       "sync-unknown");

	/* NULL and foreign memory, NULL lists and pages. */
	EXPECT(h = dma_map_single(dev, NULL, 64, DMA_TO_DEVICE), "map-invalid-memory");
	EXPECT(h = dma_map_page(dev, (struct page *)buf, 0, 64, DMA_TO_DEVICE),
	       "map-invalid-memory");
	EXPECT(n = dma_map_sg(dev, NULL, 1, DMA_TO_DEVICE), "sg-invalid-list");
	EXPECT(dma_unmap_sg(dev, NULL, 1, DMA_TO_DEVICE), "unmap-unknown");
	EXPECT(dma_sync_sg_for_device(dev, NULL, 1, DMA_TO_DEVICE), "sync-unknown");
	EXPECT(n = dma_map_sg(dev, sg, -3, DMA_TO_DEVICE), "sg-invalid-list");
	EXPECT(h = sg_dma_address((struct scatterlist *)NULL), "sg-dma-beyond-count");
	CHECK(h == 0);
	EXPECT(__free_pages(NULL, 0), "invalid-free");
	CHECK(page_address(NULL) == NULL && page_address((struct page *)buf) == NULL);
	CHECK(virt_to_page(NULL) == NULL);
	CLEAN(dma_free_coherent(dev, 64, NULL, 0)); /* NULL does nothing, as in the kernel */
	CLEAN(kfree(NULL));
	CLEAN(vfree(NULL));

	/* NULL out-pointers lose the handle; the memory is a leak, reported at release. */
	CLEAN(p = dma_alloc_coherent(dev, 128, NULL, GFP_KERNEL));
	CHECK(p != NULL);
	struct dma_pool *pool = dma_pool_create(NULL, dev, 32, 8, 0);
	CLEAN(p = dma_pool_alloc(pool, GFP_KERNEL, NULL));
	CHECK(p != NULL);
	EXPECT(dma_pool_destroy(pool), "pool-destroy-busy");

	/* Sizes no memory has. */
	CHECK(kmalloc(SIZE_MAX, GFP_KERNEL) == NULL && kcalloc(SIZE_MAX, 2, GFP_KERNEL) == NULL);
	CHECK(alloc_pages(GFP_KERNEL, 64) == NULL && __get_free_pages(GFP_KERNEL, 40) == 0);
	CLEAN(p = dma_alloc_coherent(dev, SIZE_MAX, &h, GFP_KERNEL));
	CHECK(p == NULL && h == DMA_MAPPING_ERROR);

	/* The device model and the queries. */
	EXPECT(n = dmacheck_device_read(dev, 0x1000, buf, SIZE_MAX), "device-access-unmapped");
	CHECK(n == -EFAULT);
	CHECK(dmacheck_device_write(dev, 0x1000, NULL, 8) == -EINVAL);
	CHECK(dmacheck_violation_count(NULL) == (unsigned long)-1);
	CHECK(dmacheck_violation_count("no-such-rule") == (unsigned long)-1);
	CHECK(dmacheck_write_report(NULL) == -EINVAL && dmacheck_write_report("") == -EINVAL);
	CHECK(dmacheck_write_report("/proc/no/such/dir/report.json") < 0);
	dmacheck_run_in_irq(NULL, NULL);
	spin_lock(NULL);
	spin_unlock(NULL);
	CHECK(!in_atomic());

	EXPECT(dmacheck_device_release(dev), "leak", "leak");
	kfree(buf);
	CHECK(dmacheck_live_entries(NULL) == 0);
	return finish();
}
