/*
 * A deny-level rule stops a C program inside the faulty call: the violation is printed, the
 * exit report written, and the process aborts. Run with DMACHECK=unmap-size-mismatch=deny.
 */
#include <stdio.h>

#include <linux/dma-mapping.h>
#include <linux/slab.h>
#include <dmacheck.h>

int main(void)
{
	struct device *dev = dmacheck_device_create("deny0", "denytest", 0);
	char *buf = kmalloc(256, GFP_KERNEL);
	dma_addr_t h = dma_map_single(dev, buf, 256, DMA_TO_DEVICE);

	if (dma_mapping_error(dev, h))
		return 1;
	/* A warn-level mistake first: reported, and the program goes on. */
	dma_sync_single_for_cpu(dev, 0x1000, 64, DMA_TO_DEVICE);
	printf("before the deny-level mistake\n");
	fflush(stdout);
	dma_unmap_single(dev, h, 128, DMA_TO_DEVICE);
	printf("after the deny-level mistake\n");
	return 0;
}
