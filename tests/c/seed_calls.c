/*
 * The DMA-API calls of the seed documents, written as the documents write them (DMA-API.txt of
 * 2007 and 2008, DMA-mapping.txt of 2.4.4, the CMA patch, LDD3's remap_pfn_range), compiled
 * unchanged against dmacheck's headers and run as a correct driver would: nothing is reported.
 */
#include <linux/dma-contiguous.h>
#include <linux/dma-mapping.h>
#include <linux/dmapool.h>
#include <linux/mm.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <dmacheck.h>

#include "expect.h"

static struct pci_dev *pdev;
static struct device *device;

/* DMA-mapping.txt (2.4.4): consistent memory and pci_pool. */
static void dma_mapping_txt(void)
{
	struct pci_dev *dev = pdev;
	size_t size = 4096, align = 32, alloc = 4096;
	const char *name = "seed-pool";
	int flags = SLAB_KERNEL;
	dma_addr_t dma_handle;
	void *cpu_addr;
	struct pci_pool *pool;

	cpu_addr = pci_alloc_consistent(dev, size, &dma_handle);
	CHECK(cpu_addr != NULL);
	pci_free_consistent(dev, size, cpu_addr, dma_handle);

	size = 64;
	pool = pci_pool_create(name, dev, size, align, alloc, flags);
	cpu_addr = pci_pool_alloc(pool, flags, &dma_handle);
	CHECK(cpu_addr != NULL);
	pci_pool_free(pool, cpu_addr, dma_handle);
	pci_pool_destroy(pool);
}

/* DMA-API.txt, Part I: the dma_ and pci_ equivalents. */
static void dma_api_txt_part1(void)
{
	struct device *dev = device;
	struct pci_dev *hwdev = pdev;
	enum dma_data_direction direction = DMA_TO_DEVICE;
	int pci_direction = PCI_DMA_TODEVICE;
	size_t size = 512;
	void *cpu_addr;
	struct page *page = alloc_page(GFP_KERNEL);
	unsigned long offset = 256;
	dma_addr_t dma_handle, dma_addr;
	struct dma_pool *pool;

	CHECK(dma_supported(dev, DMA_BIT_MASK(32)) == 1 && pci_dma_supported(hwdev, 0xffffffff));
	CHECK(dma_set_mask(dev, DMA_BIT_MASK(32)) == 0 && pci_set_dma_mask(hwdev, 0xffffffff) == 0);
	CHECK(dma_get_required_mask(dev) != 0);

	cpu_addr = dma_alloc_coherent(dev, size, &dma_handle, GFP_KERNEL);
	dma_free_coherent(dev, size, cpu_addr, dma_handle);
	cpu_addr = kmalloc(size, GFP_KERNEL);

	pool = dma_pool_create("seed", dev, 32, 8, 0);
	void *block = dma_pool_alloc(pool, GFP_KERNEL, &dma_handle);
	dma_pool_free(pool, block, dma_handle);
	dma_pool_destroy(pool);

	dma_addr = dma_map_single(dev, cpu_addr, size, direction);
	if (dma_mapping_error(dev, dma_addr))          /* 2008 */
		return;
	dma_sync_single(dev, dma_addr, size, direction);
	dma_sync_single_range(dev, dma_addr, 0, size, direction);
	dma_unmap_single(dev, dma_addr, size, direction);

	dma_addr = pci_map_single(hwdev, cpu_addr, size, pci_direction);
	if (pci_dma_mapping_error(hwdev, dma_addr))    /* 2008 */
		return;
	pci_dma_sync_single(hwdev, dma_addr, size, pci_direction);
	pci_unmap_single(hwdev, dma_addr, size, pci_direction);

	dma_addr = dma_map_page(dev, page, offset, size / 2, direction);
	if (dma_mapping_error(dma_addr))               /* 2007: no device */
		return;
	dma_unmap_page(dev, dma_addr, size / 2, direction);
	dma_addr = pci_map_page(hwdev, page, offset, size / 2, pci_direction);
	if (pci_dma_mapping_error(dma_addr))           /* 2007 */
		return;
	pci_unmap_page(hwdev, dma_addr, size / 2, pci_direction);

	dma_addr = dma_map_single_attrs(dev, cpu_addr, size, DMA_TO_DEVICE, 0);
	CHECK(!dma_mapping_error(dev, dma_addr));
	dma_unmap_single_attrs(dev, dma_addr, size, DMA_TO_DEVICE, 0);

	kfree(cpu_addr);
	__free_page(page);
}

/* DMA-API.txt: "With scatterlists, you use the resulting mapping like this". */
static void dma_api_txt_sg(void)
{
	struct device *dev = device;
	struct pci_dev *hwdev = pdev;
	enum dma_data_direction direction = DMA_FROM_DEVICE;
	struct scatterlist sglist[3];
	int nents = 3;
	dma_addr_t hw_address[3];
	unsigned int hw_len[3];
	char *bufs = kmalloc(3 * 1024, GFP_KERNEL);

	sg_init_table(sglist, nents);
	for (int k = 0; k < nents; k++)
		sg_set_buf(&sglist[k], bufs + k * 1024, 1024);

	int i, count = dma_map_sg(dev, sglist, nents, direction);
	struct scatterlist *sg;

	for_each_sg(sglist, sg, count, i) {
		hw_address[i] = sg_dma_address(sg);
		hw_len[i] = sg_dma_len(sg);
	}
	CHECK(count == 3 && hw_len[2] == 1024 && hw_address[1] == hw_address[0] + 1024);
	dma_sync_sg(dev, sglist, nents, direction);
	dma_unmap_sg(dev, sglist, nents, direction);

	count = pci_map_sg(hwdev, sglist, nents, PCI_DMA_FROMDEVICE);
	CHECK(count == 3);
	pci_dma_sync_sg(hwdev, sglist, nents, PCI_DMA_FROMDEVICE);
	pci_unmap_sg(hwdev, sglist, nents, PCI_DMA_FROMDEVICE);

	count = dma_map_sg_attrs(dev, sglist, nents, direction, DMA_ATTR_WEAK_ORDERING);
	dma_unmap_sg_attrs(dev, sglist, nents, direction, DMA_ATTR_WEAK_ORDERING);
	kfree(bufs);
}

/* DMA-API.txt, Part II. */
static void dma_api_txt_part2(void)
{
	struct device *dev = device;
	size_t size = 4 * 1024;
	dma_addr_t dma_handle;
	void *cpu_addr = dma_alloc_noncoherent(dev, size, &dma_handle, GFP_KERNEL);

	CHECK(dma_is_consistent(dev, dma_handle) == 1);
	CHECK(dma_get_cache_alignment() == 64);
	dma_cache_sync(dev, cpu_addr, size, DMA_TO_DEVICE);
	dma_free_noncoherent(dev, size, cpu_addr, dma_handle);

	struct page *carve = alloc_pages(GFP_KERNEL, 2);
	dma_addr_t bus_addr = virt_to_phys(page_address(carve)), device_addr = 0x40000000;
	int flags = DMA_MEMORY_MAP;
	CHECK(dma_declare_coherent_memory(dev, bus_addr, device_addr, 4 * PAGE_SIZE, flags) ==
	      DMA_MEMORY_MAP);
	void *occupied = dma_mark_declared_memory_occupied(dev, device_addr, PAGE_SIZE);
	CHECK(!IS_ERR(occupied));
	cpu_addr = dma_alloc_coherent(dev, PAGE_SIZE, &dma_handle, GFP_KERNEL);
	CHECK(dma_handle == device_addr + PAGE_SIZE);
	dma_free_coherent(dev, PAGE_SIZE, cpu_addr, dma_handle);
	dma_release_declared_memory(dev);
	__free_pages(carve, 2);
}

/* The CMA patch, and LDD3's simple remap_pfn_range mmap method. */
static void cma_and_mmap(void)
{
	struct device *dev = device;
	dma_contiguous_reserve(0);
	struct page *pages = dma_alloc_from_contiguous(dev, 8, 3);
	CHECK(pages != NULL);
	CHECK(dma_release_from_contiguous(dev, pages, 8) == 1);

	dma_addr_t handle;
	void *buf = dma_alloc_coherent(dev, 2 * PAGE_SIZE, &handle, GFP_KERNEL);
	struct vm_area_struct area = {
		.vm_start = 0, .vm_end = 2 * PAGE_SIZE,
		.vm_pgoff = virt_to_phys(buf) >> PAGE_SHIFT,
	};
	struct vm_area_struct *vma = &area;
	if (remap_pfn_range(vma, vma->vm_start, vma->vm_pgoff,
			    vma->vm_end - vma->vm_start,
			    vma->vm_page_prot))
		CHECK(0);
	dmacheck_munmap(vma);
	dma_free_coherent(dev, 2 * PAGE_SIZE, buf, handle);
}

int main(void)
{
	pdev = dmacheck_pci_dev_create("0000:00:0b.0", "seeds", 0);
	device = &pdev->dev;
	dma_mapping_txt();
	dma_api_txt_part1();
	dma_api_txt_sg();
	dma_api_txt_part2();
	cma_and_mmap();
	dmacheck_device_release(device);
	CHECK(dmacheck_error_count() == 0 && dmacheck_live_entries(NULL) == 0);
	return finish();
}
