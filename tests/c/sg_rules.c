/*
 * The `sg` family through the C ABI: scatterlist arrays declared by the driver, chained lists,
 * sg_dma_address/sg_dma_len checked against the count dma_map_sg returned (as lvalues too), and
 * unmaps and syncs judged by the state dmacheck keeps for each list.
 */
#include <linux/dma-mapping.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <dmacheck.h>

#include "expect.h"

#define N 4

static char *bufs[N];

static void fill(struct scatterlist *sg, int n)
{
	sg_init_table(sg, n);
	for (int i = 0; i < n; i++)
		sg_set_buf(&sg[i], bufs[i], 512);
}

int main(void)
{
	struct device *dev = dmacheck_device_create("sg0", "sgtest", 0);
	struct pci_dev *pdev = dmacheck_pci_dev_create("0000:00:07.0", "sgtest", 0);
	struct scatterlist sg[N], *s;
	dma_addr_t addr = 0;
	unsigned int len = 0;
	int count, i;

	for (i = 0; i < N; i++)
		bufs[i] = kmalloc(512, GFP_KERNEL);

	/* Lists a map refuses, and the unmap of a failed map. */
	fill(sg, N);
	EXPECT(count = dma_map_sg(dev, sg, 0, DMA_TO_DEVICE), "sg-invalid-list");
	CHECK(count == 0);
	EXPECT(dma_unmap_sg(dev, sg, 0, DMA_TO_DEVICE), "sg-unmap-failed-map");
	EXPECT(count = dma_map_sg(dev, sg, N + 1, DMA_TO_DEVICE), "sg-invalid-list");
	sg_init_table(sg, N);
	sg_set_buf(&sg[0], bufs[0], 512); /* the other entries are left empty */
	EXPECT(count = dma_map_sg(dev, sg, N, DMA_TO_DEVICE), "sg-invalid-list");
	EXPECT(count = dma_map_sg(dev, NULL, 2, DMA_TO_DEVICE), "sg-invalid-list");

	/* A good map, mapped again, synced and unmapped with the wrong counts. */
	fill(sg, N);
	CLEAN(count = dma_map_sg(dev, sg, N, DMA_FROM_DEVICE));
	CHECK(count == N);
	for_each_sg(sg, s, count, i) {
		CHECK(sg_dma_len(s) == 512);
		CHECK(sg_dma_address(s) == virt_to_phys(bufs[i]));
	}
	EXPECT(dma_map_sg(dev, sg, N, DMA_FROM_DEVICE), "sg-map-mapped");
	EXPECT(dma_sync_sg_for_cpu(dev, sg, 2, DMA_FROM_DEVICE), "sg-sync-nents-mismatch");
	CLEAN(dma_sync_sg_for_cpu(dev, sg, N, DMA_FROM_DEVICE));
	CLEAN(dma_sync_sg(dev, sg, N, DMA_FROM_DEVICE)); /* the older call: for the CPU */
	CLEAN(dma_sync_sg_for_device(dev, sg, N, DMA_FROM_DEVICE));
	EXPECT(pci_dma_sync_sg(pdev, sg, N, PCI_DMA_FROMDEVICE), "wrong-device");
	EXPECT(dma_unmap_sg(dev, sg, count - 1, DMA_FROM_DEVICE), "sg-unmap-nents-mismatch");
	/* Reading the DMA side after the unmap. */
	EXPECT(addr = sg_dma_address(&sg[0]), "sg-dma-beyond-count");

	/*
	 * Reading (and writing) entries past the returned count: behind an IOMMU, four whole
	 * pages meet at page boundaries and become one DMA segment.
	 */
	struct device *iommu = dmacheck_iommu_device_create("sg1", "sgtest", 0);
	struct page *pages = alloc_pages(GFP_KERNEL, 2);
	sg_init_table(sg, N);
	for (i = 0; i < N; i++)
		sg_set_page(&sg[i], pages + i, PAGE_SIZE, 0);
	CLEAN(count = dma_map_sg(iommu, sg, N, DMA_TO_DEVICE));
	CHECK(count == 1);
	CLEAN(len = sg_dma_len(&sg[0]));
	CHECK(len == N * PAGE_SIZE);
	EXPECT(addr = sg_dma_address(&sg[1]), "sg-dma-beyond-count");
	EXPECT(len = sg_dma_len(&sg[3]), "sg-dma-beyond-count");
	EXPECT(sg_dma_len(&sg[3]) = 0, "sg-dma-beyond-count");
	CHECK(sg[1].dma_address == 0 && sg[2].dma_length == 0); /* cleared by the map */
	EXPECT(dma_unmap_sg(iommu, sg, count, DMA_TO_DEVICE), "sg-unmap-nents-mismatch");
	__free_pages(pages, 2);
	/* sg_init_table forgets the list: the array is a new list, never mapped, with no DMA side. */
	sg_init_table(sg, N);
	EXPECT(addr = sg_dma_address(&sg[0]), "sg-dma-beyond-count");

	/* Lists never mapped. */
	struct scatterlist stray[2];
	sg_init_table(stray, 2);
	EXPECT(dma_unmap_sg(dev, stray, 2, DMA_TO_DEVICE), "unmap-unknown");
	EXPECT(dma_sync_sg_for_cpu(dev, stray, 2, DMA_TO_DEVICE), "sync-unknown");

	/* A segment longer than the device takes (64 KiB). */
	struct page *big = alloc_pages(GFP_KERNEL, 5);
	struct scatterlist one;
	sg_init_table(&one, 1);
	sg_set_page(&one, big, 32 * PAGE_SIZE, 0);
	EXPECT(count = dma_map_sg(dev, &one, 1, DMA_TO_DEVICE), "sg-segment-too-long");
	CHECK(count == 1);
	CLEAN(dma_unmap_sg(dev, &one, 1, DMA_TO_DEVICE));
	__free_pages(big, 5);

	/* Chained arrays: 2 + 2 entries, the link taking the last slot of the first. */
	struct scatterlist first[3], second[2];
	sg_init_table(first, 3);
	sg_init_table(second, 2);
	sg_set_buf(&first[0], bufs[0], 100);
	sg_set_buf(&first[1], bufs[1], 200);
	sg_chain(first, 3, second);
	sg_set_buf(&second[0], bufs[2], 300);
	sg_set_buf(&second[1], bufs[3], 400);
	CLEAN(count = pci_map_sg(pdev, first, 4, PCI_DMA_TODEVICE));
	CHECK(count == 4);
	unsigned int total = 0;
	for_each_sg(first, s, count, i)
		total += sg_dma_len(s);
	CHECK(total == 1000 && sg_next(&first[1]) == &second[0] && sg_next(&second[1]) == NULL);
	CHECK(second[1].dma_address == virt_to_phys(bufs[3]));
	EXPECT(pci_unmap_sg(pdev, first, 3, PCI_DMA_TODEVICE), "sg-unmap-nents-mismatch");
	EXPECT(len = sg_dma_len(&second[0]), "sg-dma-beyond-count");

	/* sg_init_one. */
	CLEAN(sg_init_one(&one, bufs[0], 64));
	CLEAN(count = dma_map_sg(dev, &one, 1, DMA_BIDIRECTIONAL));
	CHECK(count == 1 && sg_dma_address(&one) == virt_to_phys(bufs[0]) && sg_is_last(&one));
	CLEAN(dma_sync_sg(dev, &one, 1, DMA_BIDIRECTIONAL));   /* to the CPU */
	CLEAN(dma_sync_sg(dev, &one, 1, DMA_BIDIRECTIONAL));   /* back to the device */
	CLEAN(dma_unmap_sg(dev, &one, 1, DMA_BIDIRECTIONAL));

	(void)addr;
	(void)len;
	for (i = 0; i < N; i++)
		kfree(bufs[i]);
	CHECK(dmacheck_live_entries(NULL) == 0);
	return finish();
}
