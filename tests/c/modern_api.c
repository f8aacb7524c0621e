/*
 * The modern API from C (Linux 5.8 to 6.18), as drivers use it: unmap state, sg_table and the
 * sgtable calls, write-combined, page and managed allocations, mapping by physical address,
 * and the device's limits and queries. Correct use is silent; each mistake reports its rule.
 */
#include <stdint.h>

#include <linux/dma-mapping.h>
#include <linux/dmapool.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <dmacheck.h>

#include "expect.h"

struct tx_buffer {
	void *data;
	DEFINE_DMA_UNMAP_ADDR(dma);
	DEFINE_DMA_UNMAP_LEN(len);
};

static void unmap_state(struct device *dev)
{
	struct tx_buffer b = { .data = kmalloc(256, GFP_KERNEL) };
	dma_addr_t h;

	CLEAN(h = dma_map_single(dev, b.data, 256, DMA_TO_DEVICE));
	CHECK(!dma_mapping_error(dev, h));
	dma_unmap_addr_set(&b, dma, h);
	dma_unmap_len_set(&b, len, 256);
	CHECK(dma_unmap_addr(&b, dma) == h && dma_unmap_len(&b, len) == 256);
	CLEAN(dma_unmap_single(dev, dma_unmap_addr(&b, dma), dma_unmap_len(&b, len),
			       DMA_TO_DEVICE));

	/* A stale length kept in the unmap state is what the unmap passes: caught there. */
	h = dma_map_single(dev, b.data, 256, DMA_TO_DEVICE);
	CHECK(!dma_mapping_error(dev, h));
	dma_unmap_addr_set(&b, dma, h);
	dma_unmap_len_set(&b, len, 128);
	EXPECT(dma_unmap_single(dev, dma_unmap_addr(&b, dma), dma_unmap_len(&b, len),
				DMA_TO_DEVICE),
	       "unmap-size-mismatch");
	kfree(b.data);
}

static void sg_tables(struct device *dev, struct device *iommu)
{
	struct page *block = alloc_pages(GFP_KERNEL, 2); /* four consecutive pages */
	struct page *pages[4];
	struct sg_table sgt, split;
	struct scatterlist *sg;
	unsigned int dma_total = 0, cpu_total = 0;
	char *buf;
	int i, rc;

	/* Consecutive pages share one entry; a segment limit splits them. */
	for (i = 0; i < 4; i++)
		pages[i] = block + i;
	CHECK(sg_alloc_table_from_pages(&sgt, pages, 4, 0, 4 * PAGE_SIZE, GFP_KERNEL) == 0);
	CHECK(sgt.orig_nents == 1 && sgt.sgl[0].length == 4 * PAGE_SIZE);
	sg_free_table(&sgt);
	CHECK(sgt.sgl == NULL && sgt.orig_nents == 0);
	CHECK(sg_alloc_table_from_pages_segment(&split, pages, 4, 0, 4 * PAGE_SIZE,
						 2 * PAGE_SIZE, GFP_KERNEL) == 0);
	CHECK(split.orig_nents == 2 && split.sgl[1].length == 2 * PAGE_SIZE);
	sg_free_table(&split);
	CHECK(sg_alloc_table_from_pages_segment(&split, pages, 4, 0, PAGE_SIZE, 100,
						 GFP_KERNEL) == -EINVAL);

	/* Pages out of order: an entry each; offset and size trim the first and the last. */
	for (i = 0; i < 4; i++)
		pages[i] = block + 3 - i;
	CHECK(sg_alloc_table_from_pages(&sgt, pages, 4, 100, 4 * PAGE_SIZE - 200,
					GFP_KERNEL) == 0);
	CHECK(sgt.orig_nents == 4 && sgt.sgl[0].offset == 100);
	CHECK(sgt.sgl[0].length == PAGE_SIZE - 100 && sgt.sgl[3].length == PAGE_SIZE - 100);
	CHECK(sg_nents(sgt.sgl) == 4 && sg_nents_for_len(sgt.sgl, PAGE_SIZE) == 2);
	CHECK(sg_nents_for_len(sgt.sgl, 4 * PAGE_SIZE) == -EINVAL);
	CHECK(sg_phys(sgt.sgl) == page_to_phys(block + 3) + 100);
	CHECK(sg_virt(sgt.sgl) == (char *)page_address(block + 3) + 100);

	/* Behind an IOMMU the entries meet at page boundaries and merge: nents < orig_nents. */
	CLEAN(rc = dma_map_sgtable(iommu, &sgt, DMA_FROM_DEVICE, 0));
	CHECK(rc == 0 && sgt.nents == 1 && sgt.orig_nents == 4);
	for_each_sgtable_dma_sg(&sgt, sg, i)
		dma_total += sg_dma_len(sg);
	for_each_sgtable_sg(&sgt, sg, i)
		cpu_total += sg->length;
	CHECK(dma_total == 4 * PAGE_SIZE - 200 && cpu_total == dma_total);
	CLEAN(dma_sync_sgtable_for_cpu(iommu, &sgt, DMA_FROM_DEVICE));
	CLEAN(dma_sync_sgtable_for_device(iommu, &sgt, DMA_FROM_DEVICE));
	CLEAN(dma_unmap_sgtable(iommu, &sgt, DMA_FROM_DEVICE, 0));

	/* A segment limit of a page keeps them apart. */
	CHECK(dma_set_max_seg_size(iommu, PAGE_SIZE) == 0);
	CLEAN(rc = dma_map_sgtable(iommu, &sgt, DMA_FROM_DEVICE, 0));
	CHECK(rc == 0 && sgt.nents == 4);
	CLEAN(dma_unmap_sgtable(iommu, &sgt, DMA_FROM_DEVICE, 0));
	CHECK(dma_set_max_seg_size(iommu, 65536) == 0);

	/* The classic mistake: unmapping with the DMA count instead of orig_nents. */
	CLEAN(rc = dma_map_sgtable(iommu, &sgt, DMA_FROM_DEVICE, 0));
	EXPECT(dma_unmap_sg(iommu, sgt.sgl, sgt.nents, DMA_FROM_DEVICE),
	       "sg-unmap-nents-mismatch");
	/* And the table's own count overwritten with it: dma_unmap_sgtable passes it on. */
	CLEAN(rc = dma_map_sgtable(iommu, &sgt, DMA_FROM_DEVICE, 0));
	sgt.orig_nents = sgt.nents;
	EXPECT(dma_unmap_sgtable(iommu, &sgt, DMA_FROM_DEVICE, 0), "sg-unmap-nents-mismatch");
	sg_free_table(&sgt);
	__free_pages(block, 2);

	/* A long table is arrays chained as the kernel chains them: follow sg_next, not [i]. */
	CHECK(sg_alloc_table(&sgt, 300, GFP_KERNEL) == 0 && sgt.orig_nents == 300);
	CHECK(sg_nents(sgt.sgl) == 300 && sg_is_chain(&sgt.sgl[127]));
	buf = kmalloc(300 * 64, GFP_KERNEL);
	for_each_sgtable_sg(&sgt, sg, i)
		sg_set_buf(sg, buf + i * 64, 32);
	CLEAN(rc = dma_map_sgtable(dev, &sgt, DMA_TO_DEVICE, 0));
	CHECK(rc == 0 && sgt.nents == 300);
	CLEAN(dma_unmap_sgtable(dev, &sgt, DMA_TO_DEVICE, 0));
	sg_free_table(&sgt);
	kfree(buf);

	/* sg_alloc_table over kmalloc memory, mapped without an IOMMU: one segment an entry. */
	CHECK(sg_alloc_table(&sgt, 0, GFP_KERNEL) == -EINVAL);
	CHECK(sg_alloc_table(&sgt, 3, GFP_KERNEL) == 0 && sgt.orig_nents == 3);
	CHECK(sg_is_last(&sgt.sgl[2]) && !sg_is_last(&sgt.sgl[1]));
	buf = kmalloc(3 * 128, GFP_KERNEL);
	for_each_sgtable_sg(&sgt, sg, i)
		sg_set_buf(sg, buf + i * 128, 64);
	CLEAN(rc = dma_map_sgtable(dev, &sgt, DMA_TO_DEVICE, 0));
	CHECK(rc == 0 && sgt.nents == 3);
	EXPECT(rc = dma_map_sgtable(dev, NULL, DMA_TO_DEVICE, 0), "sg-invalid-list");
	CHECK(rc == -EINVAL);
	EXPECT(rc = dma_map_sgtable(dev, &sgt, DMA_TO_DEVICE, 0), "sg-map-mapped");
	CHECK(rc == -EIO);
	CLEAN(dma_unmap_sgtable(dev, &sgt, DMA_TO_DEVICE, 0));
	sg_free_table(&sgt);
	kfree(buf);
}

static void allocations(struct device *dev)
{
	struct vm_area_struct vma = { 0 };
	struct sg_table sgt, *sgt_p;
	char *vaddr;
	const char hello[] = "hello";
	struct page *pg;
	dma_addr_t h;
	void *p;
	char *buf;

	CLEAN(p = dma_alloc_wc(dev, 8192, &h, GFP_KERNEL));
	CHECK(p != NULL && !dma_mapping_error(dev, h));
	/* Exported as a table, and mapped into user space. */
	CLEAN(CHECK(dma_get_sgtable(dev, &sgt, p, h, 8192 - 10) == 0));
	CHECK(sgt.orig_nents == 1 && sgt.sgl[0].length == 8192 && sg_virt(sgt.sgl) == p);
	sg_free_table(&sgt);
	EXPECT(CHECK(dma_get_sgtable(dev, &sgt, p, h + 64, 64) == -ENXIO), "get-sgtable-unknown");
	vma.vm_end = vma.vm_start + 8192;
	CLEAN(CHECK(dma_mmap_wc(dev, &vma, p, h, 8192) == 0));
	((char *)vma.vm_start)[100] = 7;
	CHECK(((char *)p)[100] == 7);
	dmacheck_munmap(&vma);
	CLEAN(dma_free_wc(dev, 8192, p, h));

	/* Pages that stay mapped: the device owns them until a sync for the CPU. */
	CLEAN(pg = dma_alloc_pages(dev, 3 * PAGE_SIZE, &h, DMA_FROM_DEVICE, GFP_KERNEL));
	CHECK(pg != NULL && !dma_mapping_error(dev, h));
	CHECK(dmacheck_device_write(dev, h, hello, sizeof(hello)) == 0);
	CLEAN(dma_sync_single_for_cpu(dev, h, 3 * PAGE_SIZE, DMA_FROM_DEVICE));
	CHECK(memcmp(page_address(pg), hello, sizeof(hello)) == 0);
	CLEAN(dma_sync_single_for_device(dev, h, 3 * PAGE_SIZE, DMA_FROM_DEVICE));
	CLEAN(dma_free_pages(dev, 3 * PAGE_SIZE, pg, h, DMA_FROM_DEVICE));
	pg = dma_alloc_pages(dev, PAGE_SIZE, &h, DMA_TO_DEVICE, GFP_KERNEL);
	EXPECT(dma_free_pages(dev, PAGE_SIZE, pg, h, DMA_FROM_DEVICE),
	       "unmap-direction-mismatch");

	/* Noncontiguous memory: a mapped table, synced, and reached through its vmap. */
	CLEAN(sgt_p = dma_alloc_noncontiguous(dev, 3 * PAGE_SIZE, DMA_FROM_DEVICE, GFP_KERNEL, 0));
	CHECK(sgt_p != NULL && sgt_p->nents == 1);
	CLEAN(vaddr = dma_vmap_noncontiguous(dev, 3 * PAGE_SIZE, sgt_p));
	CHECK(dmacheck_device_write(dev, sg_dma_address(sgt_p->sgl) + PAGE_SIZE, hello,
				    sizeof(hello)) == 0);
	CLEAN(dma_sync_sgtable_for_cpu(dev, sgt_p, DMA_FROM_DEVICE));
	CHECK(memcmp(vaddr + PAGE_SIZE, hello, sizeof(hello)) == 0);
	CLEAN(dma_vunmap_noncontiguous(dev, vaddr));
	EXPECT(dma_free_noncontiguous(dev, 3 * PAGE_SIZE, sgt_p, DMA_TO_DEVICE),
	       "unmap-direction-mismatch");
	EXPECT(dma_free_noncontiguous(dev, PAGE_SIZE, &sgt, DMA_TO_DEVICE), "unmap-unknown");

	/* Mapping by physical address (6.18). */
	buf = kmalloc(512, GFP_KERNEL);
	CLEAN(h = dma_map_phys(dev, virt_to_phys(buf), 512, DMA_TO_DEVICE, 0));
	CHECK(!dma_mapping_error(dev, h) && h == virt_to_phys(buf));
	CLEAN(dma_unmap_phys(dev, h, 512, DMA_TO_DEVICE, 0));
	EXPECT(h = dma_map_phys(dev, 0x10, 512, DMA_TO_DEVICE, 0), "map-invalid-memory");
	CHECK(dma_mapping_error(dev, h));

	/* MMIO of a peer device (a BAR far above memory); RAM is not for dma_map_resource. */
	CLEAN(h = dma_map_resource(dev, 0xfe000000, 4096, DMA_BIDIRECTIONAL, 0));
	CHECK(!dma_mapping_error(dev, h) && h == 0xfe000000);
	CLEAN(dma_unmap_resource(dev, h, 4096, DMA_BIDIRECTIONAL, 0));
	CLEAN(h = dma_map_phys(dev, 0xfe000000, 64, DMA_TO_DEVICE, DMA_ATTR_MMIO));
	CHECK(!dma_mapping_error(dev, h));
	CLEAN(dma_unmap_phys(dev, h, 64, DMA_TO_DEVICE, DMA_ATTR_MMIO));
	EXPECT(h = dma_map_resource(dev, virt_to_phys(buf), 512, DMA_TO_DEVICE, 0),
	       "map-resource-ram");
	CHECK(dma_mapping_error(dev, h));
	kfree(buf);
}

static void managed(void)
{
	struct device *dev = dmacheck_device_create("managed0", "demo", DMA_BIT_MASK(64));
	struct dma_pool *pool;
	dma_addr_t ring_dma, h;
	void *ring, *p;

	CLEAN(ring = dmam_alloc_coherent(dev, 4096, &ring_dma, GFP_KERNEL));
	CHECK(ring != NULL && ((char *)ring)[4095] == 0);
	CLEAN(p = dmam_alloc_attrs(dev, 512, &h, GFP_KERNEL, DMA_ATTR_WRITE_COMBINE));
	CLEAN(dmam_free_coherent(dev, 512, p, h));
	CLEAN(pool = dmam_pool_create("desc", dev, 64, 64, 0));
	CLEAN(p = dma_pool_zalloc(pool, GFP_KERNEL, &h));
	CLEAN(dma_pool_free(pool, p, h));

	/* Managed memory freed as unmanaged, and the reverse: reported, and freed. */
	p = dmam_alloc_coherent(dev, 256, &h, GFP_KERNEL);
	EXPECT(dma_free_coherent(dev, 256, p, h), "managed-free-mismatch");
	p = dma_alloc_coherent(dev, 256, &h, GFP_KERNEL);
	EXPECT(dmam_free_coherent(dev, 256, p, h), "managed-free-mismatch");
	CHECK(dmacheck_live_entries(dev) == 2); /* the ring and the pool's page */

	/* Unbind: devres frees the ring and destroys the pool; nothing leaks. */
	CLEAN(dmacheck_device_release(dev));
	CHECK(dmacheck_live_entries(dev) == 0);
}

static void iova(struct device *dev, struct device *iommu)
{
	struct page *block = alloc_pages(GFP_KERNEL, 2);
	phys_addr_t phys = page_to_phys(block);
	struct dma_iova_state state;
	const char data[] = "iova";
	char seen[sizeof(data)];

	/* Without an IOMMU the driver falls back to the streaming calls. */
	CLEAN(CHECK(!dma_iova_try_alloc(dev, &state, phys, PAGE_SIZE) && !dma_use_iova(&state)));

	/* Two links, the second page first, make one range for the device. */
	memcpy(page_address(block), data, sizeof(data)); /* before the device owns it */
	CLEAN(CHECK(dma_iova_try_alloc(iommu, &state, phys, 2 * PAGE_SIZE)));
	CHECK(dma_use_iova(&state));
	CLEAN(CHECK(dma_iova_link(iommu, &state, phys + PAGE_SIZE, 0, PAGE_SIZE, DMA_TO_DEVICE,
				  0) == 0));
	CLEAN(CHECK(dma_iova_link(iommu, &state, phys, PAGE_SIZE, PAGE_SIZE, DMA_TO_DEVICE,
				  0) == 0));
	CLEAN(CHECK(dma_iova_sync(iommu, &state, 0, 2 * PAGE_SIZE) == 0));
	CHECK(dmacheck_device_read(iommu, state.addr + PAGE_SIZE, seen, sizeof(seen)) == 0);
	CHECK(memcmp(seen, data, sizeof(data)) == 0);
	EXPECT(CHECK(dma_iova_link(iommu, &state, phys, PAGE_SIZE, 64, DMA_TO_DEVICE, 0) ==
		     -EINVAL),
	       "iova-link-overlap");
	EXPECT(CHECK(dma_iova_link(iommu, &state, phys, 2 * PAGE_SIZE, 64, DMA_TO_DEVICE, 0) ==
		     -EINVAL),
	       "iova-link-out-of-range");
	EXPECT(dma_iova_unlink(iommu, &state, 0, 64, DMA_TO_DEVICE, 0), "iova-unlink-partial");
	CLEAN(dma_iova_unlink(iommu, &state, PAGE_SIZE, PAGE_SIZE, DMA_TO_DEVICE, 0));
	/* Destroyed with a mapped_len that leaves the first link out. */
	EXPECT(dma_iova_destroy(iommu, &state, PAGE_SIZE / 2, DMA_TO_DEVICE, 0),
	       "iova-unlink-partial", "iova-free-linked");
	CHECK(!dma_use_iova(&state));
	EXPECT(dma_iova_free(iommu, &state), "iova-not-allocated");
	CHECK(dmacheck_live_entries(iommu) == 0);
	__free_pages(block, 2);
}

static void limits(struct device *dev, struct device *iommu)
{
	struct device *isa = dmacheck_device_create("isa0", "demo", DMA_BIT_MASK(24));

	CHECK(dma_get_max_seg_size(dev) == 65536 && dma_get_seg_boundary(dev) == 0xffffffffUL);
	CHECK(dma_set_max_seg_size(dev, 1 << 20) == 0 && dma_get_max_seg_size(dev) == 1 << 20);
	CHECK(dma_set_seg_boundary(dev, DMA_BIT_MASK(64)) == 0);
	CHECK(dma_get_seg_boundary(dev) == ~0UL);
	CHECK(dma_max_mapping_size(dev) == SIZE_MAX && dma_opt_mapping_size(dev) == SIZE_MAX);
	CHECK(dma_opt_mapping_size(iommu) == 128 * 1024);
	CHECK(dma_need_sync(dev, 0));
	CHECK(dma_addressing_limited(isa) && !dma_addressing_limited(dev));
	dmacheck_device_release(isa);
}

int main(void)
{
	struct device *dev = dmacheck_device_create("eth0", "demo", DMA_BIT_MASK(64));
	struct device *iommu = dmacheck_iommu_device_create("nvme0", "demo", DMA_BIT_MASK(64));

	unmap_state(dev);
	sg_tables(dev, iommu);
	allocations(dev);
	managed();
	iova(dev, iommu);
	limits(dev, iommu);
	dmacheck_device_release(dev);
	dmacheck_device_release(iommu);
	return finish();
}
