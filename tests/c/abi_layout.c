/*
 * The headers' side of the ABI: structure layouts and constants, printed as "name value" lines
 * for tests/c_abi.rs to compare with the Rust side (the #[repr(C)] types of dmacheck::capi and
 * the Rust API's constants).
 */
#include <stddef.h>
#include <stdio.h>

#include <linux/dma-mapping.h>
#include <linux/dmapool.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <dmacheck.h>

#define SHOW(expr) printf("%s %llu\n", #expr, (unsigned long long)(expr))

int main(void)
{
	SHOW(sizeof(struct device));
	SHOW(offsetof(struct device, dmacheck_name));
	SHOW(offsetof(struct device, dma_mask));
	SHOW(offsetof(struct device, coherent_dma_mask));
	SHOW(offsetof(struct device, driver_data));
	SHOW(offsetof(struct device, platform_data));
	SHOW(offsetof(struct device, dmacheck_dma_mask));
	SHOW(sizeof(struct pci_dev));
	SHOW(offsetof(struct pci_dev, dma_mask));
	SHOW(offsetof(struct pci_dev, dev));
	SHOW(offsetof(struct pci_dev, bus));
	SHOW(offsetof(struct pci_dev, subsystem_vendor));
	SHOW(offsetof(struct pci_dev, subsystem_device));
	SHOW(offsetof(struct pci_dev, class));
	SHOW(offsetof(struct pci_dev, revision));
	SHOW(offsetof(struct pci_dev, pin));
	SHOW(offsetof(struct pci_dev, irq));
	SHOW(offsetof(struct pci_dev, resource));
	/* where the bit-fields' word starts */
	SHOW(offsetof(struct pci_dev, resource[PCI_NUM_RESOURCES]));
	SHOW(sizeof(struct resource));
	SHOW(offsetof(struct resource, end));
	SHOW(offsetof(struct resource, name));
	SHOW(offsetof(struct resource, flags));
	SHOW(PCI_NUM_RESOURCES);
	SHOW(sizeof(struct scatterlist));
	SHOW(offsetof(struct scatterlist, page_link));
	SHOW(offsetof(struct scatterlist, offset));
	SHOW(offsetof(struct scatterlist, length));
	SHOW(offsetof(struct scatterlist, dma_address));
	SHOW(offsetof(struct scatterlist, dma_length));
	SHOW(sizeof(struct sg_table));
	SHOW(offsetof(struct sg_table, nents));
	SHOW(offsetof(struct sg_table, orig_nents));
	SHOW(sizeof(struct dma_iova_state));
	SHOW(offsetof(struct dma_iova_state, __size));
	SHOW(sizeof(struct dmacheck_device_info));
	SHOW(offsetof(struct dmacheck_device_info, dma_mask));
	SHOW(offsetof(struct dmacheck_device_info, iommu));
	SHOW(sizeof(struct page));
	SHOW(sizeof(spinlock_t));
	SHOW(sizeof(struct vm_area_struct));
	SHOW(offsetof(struct vm_area_struct, vm_pgoff));
	SHOW(offsetof(struct vm_area_struct, vm_private_data));
	SHOW(sizeof(dma_addr_t));
	SHOW(sizeof(enum dma_data_direction));

	SHOW(DMA_BIDIRECTIONAL);
	SHOW(DMA_TO_DEVICE);
	SHOW(DMA_FROM_DEVICE);
	SHOW(DMA_NONE);
	SHOW(DMA_MAPPING_ERROR);
	SHOW(DMA_BIT_MASK(24));
	SHOW(DMA_BIT_MASK(64));
	SHOW(PAGE_SIZE);
	SHOW(PAGE_SHIFT);
	SHOW(GFP_KERNEL);
	SHOW(GFP_ATOMIC);
	SHOW(GFP_DMA);
	SHOW(GFP_DMA32);
	SHOW(__GFP_ZERO);
	SHOW(__GFP_NOWARN);
	SHOW(DMA_ATTR_WEAK_ORDERING);
	SHOW(DMA_ATTR_WRITE_COMBINE);
	SHOW(DMA_ATTR_NO_KERNEL_MAPPING);
	SHOW(DMA_ATTR_SKIP_CPU_SYNC);
	SHOW(DMA_ATTR_FORCE_CONTIGUOUS);
	SHOW(DMA_ATTR_ALLOC_SINGLE_PAGES);
	SHOW(DMA_ATTR_NO_WARN);
	SHOW(DMA_ATTR_PRIVILEGED);
	SHOW(DMA_ATTR_MMIO);
	SHOW(DMA_ATTR_CPU_CACHE_CLEAN);
	SHOW(DMA_MEMORY_MAP);
	SHOW(DMA_MEMORY_IO);
	SHOW(DMA_MEMORY_INCLUDES_CHILDREN);
	SHOW(DMA_MEMORY_EXCLUSIVE);
	SHOW(CONFIG_CMA_ALIGNMENT);

	/* struct page pointers, and a device's mask storage. */
	char *buf = kmalloc(64, GFP_KERNEL);
	struct device *dev = dmacheck_device_create("abi0", "abi", DMA_BIT_MASK(40));
	struct pci_dev *pdev = dmacheck_pci_dev_create("0000:00:0a.0", "abi", 0);
	SHOW((unsigned long)buf);
	SHOW((unsigned long)virt_to_page(buf));
	SHOW(page_address(virt_to_page(buf)) == (void *)((unsigned long)buf & PAGE_MASK));
	SHOW(dev->dma_mask == &dev->dmacheck_dma_mask);
	SHOW(*dev->dma_mask);
	SHOW(dev->coherent_dma_mask);
	SHOW(pdev->dev.dma_mask == &pdev->dma_mask);
	SHOW(pdev->dma_mask);
	SHOW(to_pci_dev(&pdev->dev) == pdev);
	/* Allocated zeroed: the harness, not Rust, fills the fields drivers read */
	SHOW(pdev->subsystem_vendor | pdev->subsystem_device | pdev->class | pdev->revision |
	     pdev->pin | pdev->irq | pdev->msi_enabled | pdev->msix_enabled |
	     (unsigned long)pdev->bus);
	SHOW(pdev->resource[0].start | pdev->resource[PCI_ROM_RESOURCE].end |
	     pdev->resource[PCI_NUM_RESOURCES - 1].flags | (unsigned long)pdev->resource[0].name);
	kfree(buf);
	return 0;
}
