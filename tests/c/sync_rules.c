/*
 * The `sync` family through the C ABI, with the modern syncs and the older dma_sync_single and
 * pci_dma_sync_single (which dmacheck carries out as the modern call their direction means).
 */
#include <linux/dma-mapping.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <dmacheck.h>

#include "expect.h"

int main(void)
{
	struct device *dev = dmacheck_device_create("sync0", "synctest", 0);
	struct pci_dev *pdev = dmacheck_pci_dev_create("0000:00:06.0", "synctest", 0);
	char *buf = kmalloc(1024, GFP_KERNEL);
	dma_addr_t h = dma_map_single(dev, buf, 1024, DMA_FROM_DEVICE);

	CHECK(!dma_mapping_error(dev, h));
	EXPECT(dma_sync_single_for_cpu(dev, 0x1000, 64, DMA_FROM_DEVICE), "sync-unknown");
	EXPECT(dma_sync_single_for_cpu(dev, h, 2048, DMA_FROM_DEVICE), "sync-out-of-range");
	EXPECT(dma_sync_single_for_device(dev, h, 1024, DMA_TO_DEVICE), "sync-direction-mismatch");
	EXPECT(dma_sync_single_range_for_cpu(dev, h, 960, 128, DMA_FROM_DEVICE),
	       "sync-out-of-range");
	EXPECT(dma_sync_single_for_cpu(dev, h, 1024, DMA_NONE), "direction-none");
	CLEAN(dma_sync_single_for_cpu(dev, h, 1024, DMA_FROM_DEVICE));
	CLEAN(dma_sync_single_range_for_device(dev, h, 512, 512, DMA_FROM_DEVICE));
	CLEAN(dma_sync_single_range_for_cpu(dev, h, 512, 512, DMA_FROM_DEVICE));
	CLEAN(dma_sync_single_for_device(dev, h, 1024, DMA_FROM_DEVICE));

	/* The older calls. */
	EXPECT(dma_sync_single(dev, 0x1000, 64, DMA_FROM_DEVICE), "sync-unknown");
	EXPECT(dma_sync_single(dev, h, 4096, DMA_FROM_DEVICE), "sync-out-of-range");
	EXPECT(dma_sync_single(dev, h, 1024, (enum dma_data_direction)9), "direction-none");
	CLEAN(dma_sync_single(dev, h, 1024, DMA_FROM_DEVICE));
	CLEAN(dma_sync_single_range(dev, h, 0, 512, DMA_FROM_DEVICE));
	EXPECT(pci_dma_sync_single(pdev, h, 1024, PCI_DMA_FROMDEVICE), "wrong-device");

	CLEAN(dma_unmap_single(dev, h, 1024, DMA_FROM_DEVICE));
	/* After the unmap, the address is nobody's. */
	EXPECT(dma_sync_single_for_cpu(dev, h, 1024, DMA_FROM_DEVICE), "sync-unknown");

	h = pci_map_single(pdev, buf, 1024, PCI_DMA_TODEVICE);
	CHECK(!pci_dma_mapping_error(pdev, h));
	CLEAN(pci_dma_sync_single(pdev, h, 1024, PCI_DMA_TODEVICE));
	EXPECT(pci_dma_sync_single_for_cpu(pdev, h, 1024, PCI_DMA_FROMDEVICE),
	       "sync-direction-mismatch");
	CLEAN(pci_unmap_single(pdev, h, 1024, PCI_DMA_TODEVICE));

	kfree(buf);
	CHECK(dmacheck_live_entries(NULL) == 0);
	return finish();
}
