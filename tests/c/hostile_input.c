/*
 * Arguments that break the C contract never crash the checker and are never followed blindly:
 * device accesses of any length up to SIZE_MAX are judged against the mappings before memory
 * is touched; sg lists with garbage or self-referencing chain links are refused as invalid;
 * the DMA side of NULL and of never-mapped lists is reported; negative counts are reported as
 * given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <linux/dma-mapping.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <dmacheck.h>

#include "expect.h"

int main(void)
{
	struct device *dev = dmacheck_device_create("hostile0", "hostile", DMA_BIT_MASK(32));
	char *buf = kmalloc(256, GFP_KERNEL);
	char *other = kmalloc(256, GFP_KERNEL);
	dma_addr_t h;
	int n;

	/* Device accesses of absurd lengths at a live mapping: refused before any byte moves. */
	CLEAN(h = dma_map_single(dev, buf, 256, DMA_BIDIRECTIONAL));
	CHECK(!dma_mapping_error(dev, h));
	EXPECT(n = dmacheck_device_write(dev, h, other, SIZE_MAX), "device-access-overrun");
	CHECK(n == -EFAULT);
	EXPECT(n = dmacheck_device_read(dev, h, other, SIZE_MAX), "device-access-overrun");
	CHECK(n == -EFAULT);
	EXPECT(n = dmacheck_device_write(dev, h + 8, other, SIZE_MAX - 4), "device-access-overrun");
	CHECK(n == -EFAULT);
	EXPECT(n = dmacheck_device_read(dev, ~0ULL - 4, other, 64), "device-access-unmapped");
	CHECK(n == -EFAULT);
	CLEAN(n = dmacheck_device_write(dev, h, other, 256));
	CHECK(n == 0);
	CLEAN(dma_unmap_single(dev, h, 256, DMA_BIDIRECTIONAL));

	/* A chain link into memory that is not there: an invalid list, not followed. */
	struct scatterlist sg[3];
	sg_init_table(sg, 3);
	sg_set_buf(&sg[0], buf, 64);
	sg[1].page_link = (unsigned long)0xdead0000UL | SG_CHAIN;
	EXPECT(n = dma_map_sg(dev, sg, 3, DMA_TO_DEVICE), "sg-invalid-list");
	CHECK(n == 0);
	sg[1].page_link = (unsigned long)8 | SG_CHAIN; /* the first page: never mapped */
	EXPECT(n = dma_map_sg(dev, sg, 3, DMA_TO_DEVICE), "sg-invalid-list");
	CHECK(n == 0);

	/* A list pointer that is garbage. */
	EXPECT(n = dma_map_sg(dev, (struct scatterlist *)0x10, 2, DMA_TO_DEVICE),
	       "sg-invalid-list");
	CHECK(n == 0);

	/* A list chained to itself, and one whose link points at itself: reported, not looped. */
	struct scatterlist loop[2];
	sg_init_table(loop, 2);
	sg_set_buf(&loop[0], buf, 64);
	loop[1].page_link = (unsigned long)&loop[0] | SG_CHAIN;
	EXPECT(n = dma_map_sg(dev, loop, 1000000, DMA_TO_DEVICE), "sg-invalid-list");
	CHECK(n == 0);
	loop[1].page_link = (unsigned long)&loop[1] | SG_CHAIN;
	EXPECT(n = dma_map_sg(dev, loop, 5, DMA_TO_DEVICE), "sg-invalid-list");
	CHECK(n == 0);

	/* The DMA side of NULL and of a list never mapped. */
	struct scatterlist fresh[2];
	sg_init_table(fresh, 2);
	sg_set_buf(&fresh[0], buf, 64);
	EXPECT(h = sg_dma_address((struct scatterlist *)NULL), "sg-dma-beyond-count");
	CHECK(h == 0);
	EXPECT(n = sg_dma_len((struct scatterlist *)NULL), "sg-dma-beyond-count");
	EXPECT(h = sg_dma_address(&fresh[0]), "sg-dma-beyond-count");

	/* Negative counts, reported as given. */
	EXPECT(n = dma_map_sg(dev, fresh, -1, DMA_TO_DEVICE), "sg-invalid-list");
	CHECK(n == 0);
	sg_init_table(fresh, 2);
	sg_set_buf(&fresh[0], buf, 64);
	sg_set_buf(&fresh[1], other, 64);
	CLEAN(n = dma_map_sg(dev, fresh, 2, DMA_TO_DEVICE));
	CHECK(n == 2);
	EXPECT(dma_sync_sg_for_cpu(dev, fresh, -7, DMA_TO_DEVICE), "sg-sync-nents-mismatch");
	EXPECT(dma_unmap_sg(dev, fresh, -1, DMA_TO_DEVICE), "sg-unmap-nents-mismatch");
	CHECK(dmacheck_live_entries(dev) == 2); /* nothing was unmapped: the loop ran 0 times */
	CLEAN(dma_unmap_sg(dev, fresh, 2, DMA_TO_DEVICE));
	EXPECT(dma_unmap_sg(dev, loop, -2, DMA_TO_DEVICE), "unmap-unknown");

	/* Report paths: a file under a missing directory is an error and creates nothing; a
	 * destination ending in '/' is a directory, made if missing. */
	char scratch[128], path[192];
	snprintf(scratch, sizeof(scratch), "/tmp/dmacheck-hostile-%d", (int)getpid());
	snprintf(path, sizeof(path), "%s/missing/x.json", scratch);
	CHECK(dmacheck_write_report(path) == -EIO);
	CHECK(access(scratch, F_OK) != 0);
	snprintf(path, sizeof(path), "%s/made/", scratch);
	CHECK(dmacheck_write_report(path) == 0);
	CHECK(access(path, F_OK) == 0);
	snprintf(path, sizeof(path), "rm -rf '%s'", scratch);
	CHECK(system(path) == 0);

	CLEAN(dmacheck_device_release(dev));
	kfree(buf);
	kfree(other);
	CHECK(dmacheck_live_entries(NULL) == 0);
	return finish();
}
