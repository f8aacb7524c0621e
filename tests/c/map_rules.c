/*
 * The `map` family through the C ABI: directions (DMA_NONE and values no enum has), sizes,
 * memory that is not DMA-able (NULL, malloc, a struct page used as a buffer, the stack,
 * read-only data, vmalloc) and addressing limits, including masks the driver writes straight
 * into struct device. Every refused map returns DMA_MAPPING_ERROR.
 */
#include <stdlib.h>

#include <linux/dma-mapping.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <dmacheck.h>

#include "expect.h"

static const char rodata[64] = "read-only data";

int main(void)
{
	struct device *dev = dmacheck_device_create("map0", "maptest", DMA_BIT_MASK(32));
	struct pci_dev *pdev = dmacheck_pci_dev_create("0000:00:04.0", "maptest", 0);
	char *buf = kmalloc(256, GFP_KERNEL);
	char stack[64];
	dma_addr_t h;

	/* Directions. */
	EXPECT(h = dma_map_single(dev, buf, 256, DMA_NONE), "direction-none");
	CHECK(h == DMA_MAPPING_ERROR && dma_mapping_error(dev, h));
	EXPECT(h = dma_map_single(dev, buf, 256, (enum dma_data_direction)7), "direction-none");
	CHECK(h == DMA_MAPPING_ERROR);
	EXPECT(h = pci_map_single(pdev, buf, 256, -1), "direction-none");
	CHECK(h == DMA_MAPPING_ERROR);

	/* Sizes and ranges. */
	EXPECT(h = dma_map_single(dev, buf, 0, DMA_TO_DEVICE), "map-zero-size");
	CHECK(h == DMA_MAPPING_ERROR);
	EXPECT(h = dma_map_single(dev, (void *)(~0UL - 10), 100, DMA_TO_DEVICE),
	       "map-range-overflow");
	CHECK(h == DMA_MAPPING_ERROR);

	/* Memory that is not DMA-able. */
	EXPECT(h = dma_map_single(dev, NULL, 64, DMA_TO_DEVICE), "map-invalid-memory");
	char *heap = malloc(64);
	EXPECT(h = dma_map_single(dev, heap, 64, DMA_TO_DEVICE), "map-invalid-memory");
	free(heap);
	struct page *page = alloc_page(GFP_KERNEL);
	/* A struct page is not the page's memory: page_address() is. */
	EXPECT(h = dma_map_single(dev, page, 64, DMA_TO_DEVICE), "map-invalid-memory");
	EXPECT(h = dma_map_page(dev, NULL, 0, 64, DMA_TO_DEVICE), "map-invalid-memory");
	CHECK(h == DMA_MAPPING_ERROR);
	EXPECT(h = dma_map_single(dev, stack, sizeof(stack), DMA_FROM_DEVICE), "map-stack-memory");
	EXPECT(h = dma_map_single(dev, (void *)rodata, sizeof(rodata), DMA_TO_DEVICE),
	       "map-rodata-memory");
	void *v = vmalloc(8192);
	EXPECT(h = dma_map_single(dev, v, 8192, DMA_TO_DEVICE), "map-vmalloc-memory");
	CHECK(h == DMA_MAPPING_ERROR);
	vfree(v);

	/* Addressing limits: ordinary memory lies above 16 MiB, GFP_DMA memory below. */
	struct device *isa = dmacheck_device_create("isa0", "isadrv", DMA_BIT_MASK(24));
	EXPECT(h = dma_map_single(isa, buf, 256, DMA_TO_DEVICE), "map-above-mask");
	CHECK(dma_mapping_error(isa, h));
	char *low = kmalloc(256, GFP_KERNEL | GFP_DMA);
	CLEAN(h = dma_map_single(isa, low, 256, DMA_TO_DEVICE));
	CHECK(!dma_mapping_error(isa, h) && h + 256 - 1 <= DMA_BIT_MASK(24));
	CLEAN(dma_unmap_single(isa, h, 256, DMA_TO_DEVICE));
	/* A NULL pci_dev is an ISA device (DMA-mapping.txt): 24-bit masks. */
	EXPECT(h = pci_map_single(NULL, buf, 256, PCI_DMA_TODEVICE), "map-above-mask");
	CLEAN(h = pci_map_single(NULL, low, 256, PCI_DMA_TODEVICE));
	CHECK(!pci_dma_mapping_error(NULL, h));
	CLEAN(pci_unmap_single(NULL, h, 256, PCI_DMA_TODEVICE));

	/* Masks the driver writes into struct device are the masks in force. */
	*dev->dma_mask = DMA_BIT_MASK(24);
	EXPECT(h = dma_map_single(dev, buf, 256, DMA_TO_DEVICE), "map-above-mask");
	CHECK(dma_get_mask(dev) == DMA_BIT_MASK(24));
	CHECK(dma_set_mask(dev, DMA_BIT_MASK(32)) == 0 && *dev->dma_mask == DMA_BIT_MASK(32));
	CHECK(dma_set_mask(dev, DMA_BIT_MASK(12)) == -EIO && *dev->dma_mask == DMA_BIT_MASK(32));
	CHECK(dma_supported(dev, DMA_BIT_MASK(12)) == 0 && dma_supported(dev, DMA_BIT_MASK(32)));
	CLEAN(h = dma_map_single(dev, buf, 256, DMA_TO_DEVICE));
	CHECK(!dma_mapping_error(dev, h));
	CLEAN(dma_unmap_single(dev, h, 256, DMA_TO_DEVICE));
	dev->coherent_dma_mask = DMA_BIT_MASK(24);
	void *ring = dma_alloc_coherent(dev, 4096, &h, GFP_KERNEL);
	CHECK(ring && h + 4096 - 1 <= DMA_BIT_MASK(24));
	dma_free_coherent(dev, 4096, ring, h);
	CHECK(dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64)) == 0);
	CHECK(*dev->dma_mask == DMA_BIT_MASK(64) && dev->coherent_dma_mask == DMA_BIT_MASK(64));
	/* A device pointed at another mask word, as drivers do. */
	u64 own_mask = DMA_BIT_MASK(24);
	dev->dma_mask = &own_mask;
	EXPECT(h = dma_map_single(dev, buf, 256, DMA_TO_DEVICE), "map-above-mask");
	dev->dma_mask = NULL;
	CHECK(dma_set_mask(dev, DMA_BIT_MASK(32)) == -EIO);
	/* No device at all is reported (a NULL pci_dev has no struct device to set). */
	EXPECT(CHECK(pci_set_dma_mask(NULL, DMA_BIT_MASK(32)) == -EIO), "invalid-device");

	__free_page(page);
	kfree(low);
	kfree(buf);
	CHECK(dmacheck_live_entries(NULL) == 0);
	return finish();
}
