/*
 * A toy NIC driver written against the Linux DMA API, using it correctly: a coherent
 * descriptor ring, streaming RX buffers refilled in an IRQ handler under a spinlock, a
 * scatter-gather TX path over kmalloc and page memory, a DMA pool for command blocks, the pci_*
 * calls of DMA-mapping.txt and the older dma_sync_single, noncoherent memory, and a mask written
 * directly into the device. The test acts as the device through dmacheck's device model. Not
 * one violation may be reported, and nothing may be left mapped.
 */
#include <linux/dma-mapping.h>
#include <linux/dmapool.h>
#include <linux/interrupt.h>
#include <linux/mm.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <dmacheck.h>

#include "expect.h"

#define RX_RING 8
#define RX_BUF 2048
#define TX_SEGS 3

struct desc {
	u64 addr;
	u32 len;
	u32 status; /* 1: the device filled it */
};

struct nic {
	struct pci_dev *pdev;
	struct device *dev;
	struct desc *ring;
	dma_addr_t ring_dma;
	void *rx_buf[RX_RING];
	dma_addr_t rx_dma[RX_RING];
	spinlock_t lock;
	unsigned long rx_packets;
	int rx_bad;
};

static int rx_refill(struct nic *nic, int i, gfp_t gfp)
{
	nic->rx_buf[i] = kmalloc(RX_BUF, gfp);
	if (!nic->rx_buf[i])
		return -ENOMEM;
	nic->rx_dma[i] = dma_map_single(nic->dev, nic->rx_buf[i], RX_BUF, DMA_FROM_DEVICE);
	if (dma_mapping_error(nic->dev, nic->rx_dma[i])) {
		kfree(nic->rx_buf[i]);
		return -ENOMEM;
	}
	nic->ring[i].addr = nic->rx_dma[i];
	nic->ring[i].len = RX_BUF;
	nic->ring[i].status = 0;
	return 0;
}

static int nic_probe(struct nic *nic)
{
	nic->pdev = dmacheck_pci_dev_create("0000:00:03.0", "toynic", 0);
	nic->dev = &nic->pdev->dev;
	if (pci_set_dma_mask(nic->pdev, DMA_BIT_MASK(32)) ||
	    dma_set_coherent_mask(nic->dev, DMA_BIT_MASK(32)))
		return -EIO;
	spin_lock_init(&nic->lock);
	nic->ring = dma_alloc_coherent(nic->dev, RX_RING * sizeof(struct desc), &nic->ring_dma,
				       GFP_KERNEL);
	if (!nic->ring)
		return -ENOMEM;
	for (int i = 0; i < RX_RING; i++)
		if (rx_refill(nic, i, GFP_KERNEL))
			return -ENOMEM;
	return 0;
}

/* The hardware: receive a packet into descriptor i. */
static void device_receive(struct nic *nic, int i, unsigned char fill, u32 len)
{
	struct desc d;
	unsigned char packet[256];

	memset(packet, fill, sizeof(packet));
	CHECK(dmacheck_device_read(nic->dev, nic->ring_dma + i * sizeof(d), &d, sizeof(d)) == 0);
	CHECK(dmacheck_device_write(nic->dev, d.addr, packet, len) == 0);
	d.len = len;
	d.status = 1;
	CHECK(dmacheck_device_write(nic->dev, nic->ring_dma + i * sizeof(d), &d, sizeof(d)) == 0);
}

static void nic_irq(void *arg)
{
	struct nic *nic = arg;
	unsigned long flags;

	CHECK(in_interrupt() && irqs_disabled());
	spin_lock_irqsave(&nic->lock, flags);
	for (int i = 0; i < RX_RING; i++) {
		unsigned char *buf = nic->rx_buf[i];

		if (!nic->ring[i].status)
			continue;
		dma_sync_single_for_cpu(nic->dev, nic->rx_dma[i], RX_BUF, DMA_FROM_DEVICE);
		if (buf[0] != (unsigned char)(0xa0 + i) || buf[nic->ring[i].len - 1] != buf[0])
			nic->rx_bad++;
		nic->rx_packets++;
		/* Hand the buffer back for the next packet. */
		dma_sync_single_for_device(nic->dev, nic->rx_dma[i], RX_BUF, DMA_FROM_DEVICE);
		nic->ring[i].status = 0;
	}
	spin_unlock_irqrestore(&nic->lock, flags);
}

/* Transmit three segments (two kmalloc buffers and a page) with one sg list. */
static void nic_xmit_sg(struct nic *nic)
{
	struct scatterlist sg[TX_SEGS], *s;
	struct page *page = alloc_page(GFP_KERNEL);
	char *a = kmalloc(100, GFP_KERNEL), *b = kzalloc(300, GFP_KERNEL);
	int count, i;
	size_t total = 0;

	CHECK(page && a && b);
	memset(a, 'a', 100);
	memset(page_address(page), 'p', PAGE_SIZE);
	sg_init_table(sg, TX_SEGS);
	sg_set_buf(&sg[0], a, 100);
	sg_set_page(&sg[1], page, 512, 256);
	sg_set_buf(&sg[2], b, 300);
	count = dma_map_sg(nic->dev, sg, TX_SEGS, DMA_TO_DEVICE);
	CHECK(count >= 1 && count <= TX_SEGS);
	for_each_sg(sg, s, count, i) {
		unsigned char first;

		/* The device fetches each segment. */
		CHECK(dmacheck_device_read(nic->dev, sg_dma_address(s), &first, 1) == 0);
		CHECK(first == 'a' || first == 'p' || first == 0);
		total += sg_dma_len(s);
	}
	CHECK(total == 912);
	dma_unmap_sg(nic->dev, sg, TX_SEGS, DMA_TO_DEVICE);
	__free_page(page);
	kfree(a);
	kfree(b);
}

/* Command blocks from a DMA pool, through the pci_pool names. */
static void nic_commands(struct nic *nic)
{
	struct pci_pool *pool = pci_pool_create("toynic-cmd", nic->pdev, 64, 16, 0);
	dma_addr_t dma[4];
	u32 *cmd[4];

	CHECK(pool != NULL);
	for (int i = 0; i < 4; i++) {
		cmd[i] = pci_pool_alloc(pool, GFP_KERNEL, &dma[i]);
		CHECK(cmd[i] && dma[i] % 16 == 0);
		cmd[i][0] = 0xc0de0000 + i;
	}
	for (int i = 0; i < 4; i++) {
		u32 got = 0;

		CHECK(dmacheck_device_read(nic->dev, dma[i], &got, sizeof(got)) == 0);
		CHECK(got == 0xc0de0000u + i);
		pci_pool_free(pool, cmd[i], dma[i]);
	}
	pci_pool_destroy(pool);
}

/* The pci_* calls of DMA-mapping.txt, and the older dma_sync_single in both directions. */
static void nic_legacy_paths(struct nic *nic)
{
	char *buf = kmalloc(512, GFP_KERNEL);
	char back[4];
	dma_addr_t dma;
	void *consistent;
	dma_addr_t consistent_dma;

	dma = pci_map_single(nic->pdev, buf, 512, PCI_DMA_FROMDEVICE);
	CHECK(!pci_dma_mapping_error(nic->pdev, dma));
	CHECK(dmacheck_device_write(nic->dev, dma, "pci", 4) == 0);
	pci_dma_sync_single(nic->pdev, dma, 512, PCI_DMA_FROMDEVICE); /* for the CPU */
	CHECK(strcmp(buf, "pci") == 0);
	pci_unmap_single(nic->pdev, dma, 512, PCI_DMA_FROMDEVICE);

	/* Bidirectional: the device writes, the CPU reads and answers, the device reads. */
	dma = dma_map_single(nic->dev, buf, 512, DMA_BIDIRECTIONAL);
	CHECK(!dma_mapping_error(dma)); /* the one-argument form of kernels before 2.6.27 */
	CHECK(dmacheck_device_write(nic->dev, dma, "ping", 5) == 0);
	dma_sync_single(nic->dev, dma, 512, DMA_BIDIRECTIONAL); /* to the CPU */
	CHECK(strcmp(buf, "ping") == 0);
	memcpy(buf, "pong", 5);
	dma_sync_single(nic->dev, dma, 512, DMA_BIDIRECTIONAL); /* back to the device */
	CHECK(dmacheck_device_read(nic->dev, dma, back, 4) == 0 && memcmp(back, "pong", 4) == 0);
	dma_unmap_single(nic->dev, dma, 512, DMA_BIDIRECTIONAL);
	kfree(buf);

	consistent = pci_alloc_consistent(nic->pdev, 256, &consistent_dma);
	CHECK(consistent != NULL);
	pci_free_consistent(nic->pdev, 256, consistent, consistent_dma);

	struct page *page = alloc_pages(GFP_KERNEL, 1);
	memset((char *)page_address(page) + PAGE_SIZE + 128, 'q', 256);
	dma = pci_map_page(nic->pdev, page + 1, 128, 256, PCI_DMA_TODEVICE);
	CHECK(!pci_dma_mapping_error(nic->pdev, dma));
	CHECK(dmacheck_device_read(nic->dev, dma + 255, back, 1) == 0 && back[0] == 'q');
	pci_unmap_page(nic->pdev, dma, 256, PCI_DMA_TODEVICE);
	__free_pages(page, 1);
}

/* A descriptor block the driver keeps consistent itself. */
static void nic_noncoherent(struct nic *nic)
{
	dma_addr_t dma;
	u64 *block = dma_alloc_noncoherent(nic->dev, 256, &dma, GFP_KERNEL);
	u64 got = 0;

	CHECK(block != NULL);
	block[0] = 0x1122334455667788ull;
	dma_cache_sync(nic->dev, block, 256, DMA_TO_DEVICE);
	CHECK(dmacheck_device_read(nic->dev, dma, &got, 8) == 0 && got == block[0]);
	dma_free_noncoherent(nic->dev, 256, block, dma);
}

/* A 64-bit capable device, its mask written straight into the structure. */
static void nic_wide_mask(struct nic *nic)
{
	char *buf = kmalloc(64, GFP_KERNEL | GFP_DMA);
	dma_addr_t dma;

	*nic->dev->dma_mask = DMA_BIT_MASK(64);
	CHECK(dma_get_mask(nic->dev) == DMA_BIT_MASK(64));
	dma = dma_map_single_attrs(nic->dev, buf, 64, DMA_TO_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
	CHECK(!dma_mapping_error(nic->dev, dma));
	dma_unmap_single_attrs(nic->dev, dma, 64, DMA_TO_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
	kfree(buf);
}

static void nic_remove(struct nic *nic)
{
	for (int i = 0; i < RX_RING; i++) {
		dma_unmap_single(nic->dev, nic->rx_dma[i], RX_BUF, DMA_FROM_DEVICE);
		kfree(nic->rx_buf[i]);
	}
	dma_free_coherent(nic->dev, RX_RING * sizeof(struct desc), nic->ring, nic->ring_dma);
	dmacheck_device_release(nic->dev);
}

int main(void)
{
	static struct nic nic;

	CHECK(nic_probe(&nic) == 0);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < RX_RING; i += 2)
			device_receive(&nic, i, (unsigned char)(0xa0 + i), 60 + i);
		dmacheck_run_in_irq(nic_irq, &nic);
	}
	CHECK(nic.rx_packets == 3 * RX_RING / 2 && nic.rx_bad == 0);
	CHECK(!in_interrupt() && !irqs_disabled());
	nic_xmit_sg(&nic);
	nic_commands(&nic);
	nic_legacy_paths(&nic);
	nic_noncoherent(&nic);
	nic_wide_mask(&nic);
	CHECK(dmacheck_live_entries(nic.dev) == RX_RING + 1);
	nic_remove(&nic);

	CHECK(dmacheck_error_count() == 0);
	CHECK(dmacheck_live_entries(NULL) == 0);
	return finish();
}
