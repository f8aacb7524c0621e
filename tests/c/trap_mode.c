/*
 * Trap mode from C (run with DMACHECK=trap): a plain read of a buffer the device owns and a
 * plain write to one it reads fault, are reported at their lines, and the program runs on; a
 * ring that syncs correctly and reads through plain pointers stays silent; a write one byte
 * past a buffer's end lands in its guard page. Prints the lines for the runner to compare with
 * the report's sites.
 */
#include <linux/dma-mapping.h>
#include <linux/slab.h>
#include <dmacheck.h>

#include "expect.h"

int main(void)
{
	struct device *dev = dmacheck_device_create("trap0", "traptest", 0);
	char *rx = kmalloc(1536, GFP_KERNEL), *tx = kzalloc(512, GFP_KERNEL);
	volatile char *p;
	char early;
	int read_line, write_line, overrun_line;
	dma_addr_t rx_dma, tx_dma;

	/* A clean round first: sync, then read through a plain pointer. */
	rx_dma = dma_map_single(dev, rx, 1536, DMA_FROM_DEVICE);
	CHECK(!dma_mapping_error(dev, rx_dma));
	for (int round = 0; round < 3; round++) {
		CLEAN(dmacheck_device_write(dev, rx_dma, "hello", 6));
		CLEAN(dma_sync_single_for_cpu(dev, rx_dma, 1536, DMA_FROM_DEVICE));
		CHECK(strcmp(rx, "hello") == 0);
		CLEAN(dma_sync_single_for_device(dev, rx_dma, 1536, DMA_FROM_DEVICE));
	}
	CLEAN(dmacheck_trap_flush());

	/* The bug: a read before the sync for the CPU. */
	p = rx;
	EXPECT((early = p[1], read_line = __LINE__, dmacheck_trap_flush()), "cpu-access-device-owned");
	CHECK(early == 'e');
	CLEAN(dma_sync_single_for_cpu(dev, rx_dma, 1536, DMA_FROM_DEVICE));
	CLEAN(dma_unmap_single(dev, rx_dma, 1536, DMA_FROM_DEVICE));

	/* A write to a buffer the device reads: reported at the unmap, with its fingerprint. */
	tx_dma = dma_map_single(dev, tx, 512, DMA_TO_DEVICE);
	CHECK(!dma_mapping_error(dev, tx_dma));
	p = tx;
	CLEAN(early = p[7]);
	p[7] = 1; write_line = __LINE__;
	EXPECT(dma_unmap_single(dev, tx_dma, 512, DMA_TO_DEVICE), "cpu-access-device-owned",
	       "cpu-write-device-owned");
	CHECK(tx[7] == 1);

	/* One byte past the end. */
	p = tx;
	EXPECT((p[512] = 1, overrun_line = __LINE__, dmacheck_trap_flush()), "cpu-access-overrun");

	kfree(rx);
	kfree(tx);
	dmacheck_device_release(dev);
	printf("read_line %d\nwrite_line %d\noverrun_line %d\n", read_line, write_line, overrun_line);
	return finish();
}
