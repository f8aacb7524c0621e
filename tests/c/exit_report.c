/*
 * A program that leaks and says nothing about reports: DMACHECK_REPORT alone makes dmacheck
 * write its report at exit. With the argument "_exit" it leaves by _exit, which skips atexit
 * handlers, so it writes the report itself first with dmacheck_write_exit_report.
 */
#include <string.h>
#include <unistd.h>

#include <linux/dma-mapping.h>
#include <linux/slab.h>
#include <dmacheck.h>

int main(int argc, char **argv)
{
	struct device *dev = dmacheck_device_create("leaky0", "leaky", 0);
	char *buf = kmalloc(1500, GFP_KERNEL);
	dma_addr_t h = dma_map_single(dev, buf, 1500, DMA_FROM_DEVICE), ring;

	if (dma_mapping_error(dev, h))
		return 1;
	if (!dma_alloc_coherent(dev, 4096, &ring, GFP_KERNEL))
		return 1;
	if (argc > 1 && strcmp(argv[1], "_exit") == 0) {
		int written = dmacheck_write_exit_report();

		dmacheck_write_exit_report(); /* once per process: nothing more */
		_exit(written == 1 ? 0 : 2);
	}
	return 0;
}
