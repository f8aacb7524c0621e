/*
 * The `release` family through the C ABI: unmaps and frees of unknown addresses, of
 * DMA_MAPPING_ERROR, on the wrong device, with the wrong size, direction, function, CPU address
 * or attributes, twice, without dma_mapping_error, and coherent frees with IRQs disabled (by
 * local_irq_disable and by spin_lock_irqsave).
 */
#include <linux/dma-mapping.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <dmacheck.h>

#include "expect.h"

static dma_addr_t map_checked(struct device *dev, void *buf, size_t size,
			      enum dma_data_direction dir)
{
	dma_addr_t h = dma_map_single(dev, buf, size, dir);

	CHECK(!dma_mapping_error(dev, h));
	return h;
}

int main(void)
{
	struct device *dev = dmacheck_device_create("rel0", "reltest", 0);
	struct device *other = dmacheck_device_create("rel1", "reltest", 0);
	struct pci_dev *pdev = dmacheck_pci_dev_create("0000:00:05.0", "reltest", 0);
	char *buf = kmalloc(512, GFP_KERNEL);
	dma_addr_t h, ch;
	void *cpu;
	unsigned long flags;
	DEFINE_SPINLOCK(lock);

	EXPECT(dma_unmap_single(dev, 0x1000, 512, DMA_TO_DEVICE), "unmap-unknown");
	EXPECT(dma_unmap_single(dev, DMA_MAPPING_ERROR, 512, DMA_TO_DEVICE),
	       "unmap-mapping-error");

	h = map_checked(dev, buf, 512, DMA_TO_DEVICE);
	EXPECT(dma_unmap_single(other, h, 512, DMA_TO_DEVICE), "wrong-device");
	EXPECT(dma_unmap_single(dev, h, 256, DMA_TO_DEVICE), "unmap-size-mismatch");
	/* The mismatched unmap still ended the mapping: a second one is a double unmap. */
	EXPECT(dma_unmap_single(dev, h, 512, DMA_TO_DEVICE), "double-unmap");

	h = map_checked(dev, buf, 512, DMA_FROM_DEVICE);
	EXPECT(dma_unmap_single(dev, h, 512, DMA_TO_DEVICE), "unmap-direction-mismatch");

	h = map_checked(dev, buf, 512, DMA_TO_DEVICE);
	EXPECT(dma_unmap_page(dev, h, 512, DMA_TO_DEVICE), "unmap-function-mismatch");

	h = dma_map_single_attrs(dev, buf, 512, DMA_TO_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
	CHECK(!dma_mapping_error(dev, h));
	EXPECT(dma_unmap_single_attrs(dev, h, 512, DMA_TO_DEVICE, 0), "unmap-attrs-mismatch");

	h = dma_map_single(dev, buf, 512, DMA_TO_DEVICE);
	EXPECT(dma_unmap_single(dev, h, 512, DMA_TO_DEVICE), "unmap-unchecked");
	/* The one-argument dma_mapping_error of older kernels counts as the check. */
	h = dma_map_single(dev, buf, 512, DMA_TO_DEVICE);
	CHECK(!dma_mapping_error(h));
	CLEAN(dma_unmap_single(dev, h, 512, DMA_TO_DEVICE));

	/* pci_* calls are judged the same way. */
	h = pci_map_single(pdev, buf, 512, PCI_DMA_TODEVICE);
	CHECK(!pci_dma_mapping_error(pdev, h));
	EXPECT(pci_unmap_single(pdev, h, 500, PCI_DMA_TODEVICE), "unmap-size-mismatch");

	/* Coherent memory. */
	cpu = dma_alloc_coherent(dev, 1024, &ch, GFP_KERNEL);
	CHECK(cpu != NULL);
	EXPECT(dma_free_coherent(dev, 1024, (char *)cpu + 64, ch), "free-cpu-address-mismatch");
	EXPECT(dma_free_coherent(dev, 1024, cpu, ch), "double-unmap");

	cpu = dma_alloc_coherent(dev, 1024, &ch, GFP_KERNEL);
	local_irq_disable();
	EXPECT(dma_free_coherent(dev, 1024, cpu, ch), "free-coherent-irqs-disabled");
	local_irq_enable();

	cpu = pci_alloc_consistent(pdev, 1024, &ch);
	spin_lock_irqsave(&lock, flags);
	EXPECT(pci_free_consistent(pdev, 1024, cpu, ch), "free-coherent-irqs-disabled");
	spin_unlock_irqrestore(&lock, flags);
	CHECK(!irqs_disabled());

	cpu = dma_alloc_coherent(dev, 1024, &ch, GFP_KERNEL);
	EXPECT(dma_unmap_single(dev, ch, 1024, DMA_BIDIRECTIONAL), "unmap-function-mismatch");

	kfree(buf);
	CHECK(dmacheck_live_entries(NULL) == 0);
	return finish();
}
