/*
 * Reports name the C caller's file and line (the call-site macros of include/, see
 * <dmacheck_call_site.h>): for a plain call, a call whose arguments make calls of their own, a
 * call through a pci_* inline, a call written over several lines, and the mapping line of a
 * leak. A call through a function pointer bypasses the macro: it names dmacheck's own source
 * and takes nothing from the calls around it. main() prints "expect LINE" for each violation
 * in the order they are reported (0: not a line of this file); tests/c_abi.rs compares.
 */
#include <linux/dma-mapping.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <dmacheck.h>
#include <stdio.h>

static void expect(int line)
{
	printf("expect %d\n", line);
}

int main(void)
{
	struct pci_dev *pdev = dmacheck_pci_dev_create("0000:00:02.0", "sites", 0);
	struct device *dev = &pdev->dev;
	void (*unmap)(struct device *, dma_addr_t, size_t, enum dma_data_direction) =
		dma_unmap_single;
	void *buf = kmalloc(64, GFP_KERNEL);
	dma_addr_t mapped;
	int map_line;

	expect(__LINE__); dma_unmap_single(dev, 0x1234, 64, DMA_TO_DEVICE);
	expect(__LINE__); dma_map_single(dev, kmalloc(32, GFP_KERNEL), 32, 7);
	expect(__LINE__); pci_unmap_single(pdev, 0x5678, 64, PCI_DMA_TODEVICE);
	expect(__LINE__); dma_unmap_single(dev,
					   0x9abc, 64,
					   DMA_TO_DEVICE);
	expect(0); unmap(dev, 0xdef0, 64, DMA_TO_DEVICE);
	expect(__LINE__); dma_unmap_page(dev, 0x4444, 64, DMA_TO_DEVICE);

	map_line = __LINE__; mapped = dma_map_single(dev, buf, 64, DMA_TO_DEVICE);
	if (dma_mapping_error(dev, mapped))
		return 1;
	printf("mapped %d\n", map_line);
	expect(__LINE__); dmacheck_device_release(dev); /* the mapping leaks */
	return 0;
}
