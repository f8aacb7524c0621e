/*
 * The `regions` family through the C ABI: declared coherent memory, the Contiguous Memory
 * Allocator, and user mappings of coherent buffers (dma_mmap_coherent and an LDD3-style mmap
 * method with remap_pfn_range), where the test acts as user space through vma->vm_start.
 */
#include <linux/dma-contiguous.h>
#include <linux/dma-mapping.h>
#include <linux/err.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <dmacheck.h>

#include "expect.h"

static void declared_memory(void)
{
	struct device *dev = dmacheck_device_create("sram0", "regtest", 0);
	struct page *carve = alloc_pages(GFP_KERNEL, 4); /* 16 pages the "platform" set aside */
	dma_addr_t bus = virt_to_phys(page_address(carve)), h, h2;
	int rc;

	EXPECT(rc = dma_declare_coherent_memory(dev, bus, 0x80000000, 16 * PAGE_SIZE, 0),
	       "declared-memory-bad-parameters");
	CHECK(rc == 0);
	EXPECT(rc = dma_declare_coherent_memory(dev, bus, 0x80000000, 100, DMA_MEMORY_MAP),
	       "declared-memory-bad-parameters");
	CLEAN(rc = dma_declare_coherent_memory(dev, bus, 0x80000000, 16 * PAGE_SIZE,
					       DMA_MEMORY_MAP | DMA_MEMORY_EXCLUSIVE));
	CHECK(rc == DMA_MEMORY_MAP);
	EXPECT(rc = dma_declare_coherent_memory(dev, bus, 0x90000000, 16 * PAGE_SIZE,
						DMA_MEMORY_MAP),
	       "declared-memory-bad-parameters");

	void *occupied = dma_mark_declared_memory_occupied(dev, 0x80000000, PAGE_SIZE);
	CHECK(!IS_ERR(occupied) && occupied == page_address(carve));
	CHECK(PTR_ERR(dma_mark_declared_memory_occupied(dev, 0x80000000, PAGE_SIZE)) == -EBUSY);
	CHECK(PTR_ERR(dma_mark_declared_memory_occupied(dev, 0x10000, PAGE_SIZE)) == -EINVAL);

	char *cpu = dma_alloc_coherent(dev, 2 * PAGE_SIZE, &h, GFP_KERNEL);
	CHECK(cpu && h >= 0x80000000 + PAGE_SIZE && h < 0x80000000 + 16 * PAGE_SIZE);
	/* The device sees the region at its own address. */
	CHECK(dmacheck_device_write(dev, h, "sram", 5) == 0 && strcmp(cpu, "sram") == 0);
	EXPECT(dma_release_declared_memory(dev), "declared-memory-busy");
	CLEAN(dma_free_coherent(dev, 2 * PAGE_SIZE, cpu, h));
	/* Released: allocations come from ordinary memory again. */
	cpu = dma_alloc_coherent(dev, 64, &h2, GFP_KERNEL);
	CHECK(cpu && (h2 < 0x80000000 || h2 >= 0x80000000 + 16 * PAGE_SIZE));
	dma_free_coherent(dev, 64, cpu, h2);
	__free_pages(carve, 4);

	/* Memory on the device: on-chip SRAM at a bus address outside host memory. */
	struct device *sram = dmacheck_device_create("sram1", "regtest", 0);
	char got[8];
	EXPECT(rc = dma_declare_coherent_memory(sram, 0xfd000008, 0x20000000, 4 * PAGE_SIZE,
						DMA_MEMORY_MAP),
	       "declared-memory-bad-parameters"); /* off a page */
	CLEAN(rc = dma_declare_coherent_memory(sram, 0xfd000000, 0x20000000, 4 * PAGE_SIZE,
					       DMA_MEMORY_MAP | DMA_MEMORY_EXCLUSIVE));
	CHECK(rc == DMA_MEMORY_MAP);
	CLEAN(cpu = dma_alloc_coherent(sram, PAGE_SIZE, &h, GFP_KERNEL));
	CHECK(cpu && h >= 0x20000000 && h < 0x20000000 + 4 * PAGE_SIZE);
	strcpy(cpu, "on chip");
	CHECK(dmacheck_device_read(sram, h, got, 8) == 0 && strcmp(got, "on chip") == 0);
	CLEAN(dma_free_coherent(sram, PAGE_SIZE, cpu, h));
	CLEAN(dma_release_declared_memory(sram));
}

static void contiguous(void)
{
	struct device *dev = dmacheck_device_create("isp0", "regtest", 0);
	struct device *own = dmacheck_device_create("isp1", "regtest", 0);
	struct page *frame, *other, *mine;

	CHECK(dma_alloc_from_contiguous(dev, 16, 4) == NULL); /* no area yet */
	/* An area of isp1's own, below 4 GiB: isp0 still has none. */
	CHECK(dma_declare_contiguous(own, 1 << 20, 0, 0xffffffff) == 0);
	CHECK(dma_declare_contiguous(own, 1 << 20, 0, 0) == -EBUSY);
	CLEAN(mine = dma_alloc_from_contiguous(own, 16, 4));
	CHECK(mine != NULL && page_to_pfn(mine) % 16 == 0);
	CHECK(dma_alloc_from_contiguous(dev, 16, 4) == NULL);
	CLEAN(CHECK(dma_release_from_contiguous(dev, mine, 16) == 0)); /* not isp0's area */
	CLEAN(CHECK(dma_release_from_contiguous(own, mine, 16) == 1));
	CHECK(dma_declare_contiguous(NULL, 1 << 20, 0, 0) == 0); /* the default area: 256 pages */
	dma_contiguous_reserve(0);
	CLEAN(frame = dma_alloc_from_contiguous(dev, 16, 4));
	CHECK(frame != NULL && page_to_pfn(frame) % 16 == 0);
	memset(page_address(frame), 0xab, 16 * PAGE_SIZE);
	CHECK(dma_alloc_from_contiguous(dev, 1000, 0) == NULL); /* more than the area */
	EXPECT(CHECK(dma_release_from_contiguous(dev, frame, 8) == 1),
	       "cma-release-count-mismatch");
	EXPECT(CHECK(dma_release_from_contiguous(dev, frame, 16) == 1), "cma-double-release");
	other = alloc_page(GFP_KERNEL);
	CLEAN(CHECK(dma_release_from_contiguous(dev, other, 1) == 0)); /* not the area's */
	__free_page(other);
	CLEAN(frame = dma_alloc_from_contiguous(dev, 4, 0));
	EXPECT(dmacheck_device_release(dev), "leak");
}

/* A driver's mmap method, after LDD3: map the whole buffer with remap_pfn_range. */
static int drv_mmap(void *buffer, struct vm_area_struct *vma)
{
	unsigned long pfn = virt_to_phys(buffer) >> PAGE_SHIFT;

	return remap_pfn_range(vma, vma->vm_start, pfn + vma->vm_pgoff,
			       vma->vm_end - vma->vm_start, vma->vm_page_prot);
}

static void user_mappings(void)
{
	struct device *dev = dmacheck_device_create("fb0", "regtest", 0);
	dma_addr_t h;
	char *fb = dma_alloc_coherent(dev, 2 * PAGE_SIZE, &h, GFP_KERNEL);
	struct vm_area_struct vma = { .vm_start = 0, .vm_end = 2 * PAGE_SIZE, .vm_pgoff = 0 };
	int rc;

	CLEAN(rc = dma_mmap_coherent(dev, &vma, fb, h, 2 * PAGE_SIZE));
	CHECK(rc == 0 && vma.vm_start != 0 && vma.vm_end - vma.vm_start == 2 * PAGE_SIZE);
	/* User space writes through its mapping; the driver sees it. */
	char *user = (char *)vma.vm_start;
	CHECK((void *)user != (void *)fb);
	memcpy(user + PAGE_SIZE, "pixels", 7);
	CHECK(strcmp(fb + PAGE_SIZE, "pixels") == 0);

	struct vm_area_struct beyond = { .vm_start = 0, .vm_end = 2 * PAGE_SIZE, .vm_pgoff = 1 };
	EXPECT(rc = dma_mmap_coherent(dev, &beyond, fb, h, 2 * PAGE_SIZE), "mmap-out-of-bounds");
	CHECK(rc == -ENXIO);

	struct vm_area_struct ldd3 = { .vm_start = 0, .vm_end = PAGE_SIZE, .vm_pgoff = 1 };
	CLEAN(rc = drv_mmap(fb, &ldd3));
	CHECK(rc == 0 && strcmp((char *)ldd3.vm_start, "pixels") == 0);
	struct vm_area_struct wide = { .vm_start = 0, .vm_end = 4 * PAGE_SIZE, .vm_pgoff = 0 };
	EXPECT(rc = drv_mmap(fb, &wide), "mmap-out-of-bounds");
	CHECK(rc == -EINVAL);

	dmacheck_munmap(&ldd3);
	EXPECT(dma_free_coherent(dev, 2 * PAGE_SIZE, fb, h), "free-while-mmapped");
	dmacheck_munmap(&vma);
	CHECK(vma.vm_start == 0);

	fb = dma_alloc_coherent(dev, PAGE_SIZE, &h, GFP_KERNEL);
	struct vm_area_struct again = { .vm_start = 0, .vm_end = PAGE_SIZE };
	CLEAN(rc = dma_mmap_coherent(dev, &again, fb, h, PAGE_SIZE));
	dmacheck_munmap(&again);
	CLEAN(dma_free_coherent(dev, PAGE_SIZE, fb, h));
}

int main(void)
{
	declared_memory();
	contiguous();
	user_mappings();
	CHECK(dmacheck_live_entries(NULL) == 0);
	return finish();
}
