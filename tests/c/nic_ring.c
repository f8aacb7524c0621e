/*
 * A NIC ring in the kernel's own style, as README's "Check your C driver" shows it: descriptor
 * rings and a header pool from managed (devres) allocations, TX buffers remembered with the
 * unmap state macros and unmapped from the interrupt handler, page-backed RX buffers synced
 * around each packet, and a large send described by an sg_table. The driver half compiles
 * unchanged against include/; main() plays the bus (dmacheck's device model). Nothing may be
 * reported, and nothing may be left mapped.
 */
#include <linux/dma-mapping.h>
#include <linux/dmapool.h>
#include <linux/interrupt.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <dmacheck.h>

#include "expect.h"

/* ---- The driver ------------------------------------------------------------------------- */

#define RING_SIZE	16
#define HDR_LEN		64

struct nic_desc {
	__u64 addr;
	__u32 len;
	__u32 status;			/* DESC_DONE: the device is finished with it */
};
#define DESC_DONE	1

struct nic_tx_buf {
	void *hdr;			/* from the header pool */
	DEFINE_DMA_UNMAP_ADDR(dma);
	DEFINE_DMA_UNMAP_LEN(len);
	struct sg_table *payload;	/* a large send, or NULL */
};

struct nic_rx_buf {
	struct page *page;
	dma_addr_t dma;
};

struct nic {
	struct device *dev;
	struct nic_desc *tx_ring, *rx_ring;
	dma_addr_t tx_ring_dma, rx_ring_dma;
	struct nic_tx_buf tx_buf[RING_SIZE];
	struct nic_rx_buf rx_buf[RING_SIZE];
	struct dma_pool *hdr_pool;
	unsigned int tx_head, tx_tail;
	spinlock_t tx_lock;
	unsigned long rx_bytes;
};

static int nic_rx_alloc(struct nic *nic, unsigned int i)
{
	struct nic_rx_buf *rb = &nic->rx_buf[i];

	rb->page = alloc_page(GFP_KERNEL);
	if (!rb->page)
		return -ENOMEM;
	rb->dma = dma_map_page(nic->dev, rb->page, 0, PAGE_SIZE, DMA_FROM_DEVICE);
	if (dma_mapping_error(nic->dev, rb->dma)) {
		__free_page(rb->page);
		return -ENOMEM;
	}
	nic->rx_ring[i].addr = rb->dma;
	nic->rx_ring[i].len = PAGE_SIZE;
	nic->rx_ring[i].status = 0;
	return 0;
}

static int nic_probe(struct nic *nic, struct device *dev)
{
	unsigned int i;
	int err;

	nic->dev = dev;
	err = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64));
	if (err)
		return err;
	nic->tx_ring = dmam_alloc_coherent(dev, RING_SIZE * sizeof(struct nic_desc),
					   &nic->tx_ring_dma, GFP_KERNEL);
	nic->rx_ring = dmam_alloc_coherent(dev, RING_SIZE * sizeof(struct nic_desc),
					   &nic->rx_ring_dma, GFP_KERNEL);
	nic->hdr_pool = dmam_pool_create("nic-hdr", dev, HDR_LEN, 64, 0);
	if (!nic->tx_ring || !nic->rx_ring || !nic->hdr_pool)
		return -ENOMEM;
	spin_lock_init(&nic->tx_lock);
	for (i = 0; i < RING_SIZE; i++) {
		err = nic_rx_alloc(nic, i);
		if (err)
			return err;
	}
	return 0;
}

/* Queue a header and, for a large send, a payload of whole pages. */
static int nic_xmit(struct nic *nic, const void *hdr, struct page **pages, unsigned int n_pages,
		    unsigned long payload_len)
{
	unsigned int i = nic->tx_head % RING_SIZE;
	struct nic_tx_buf *tb = &nic->tx_buf[i];
	struct scatterlist *sg;
	dma_addr_t dma;
	unsigned long flags;
	int j, err;

	tb->hdr = dma_pool_zalloc(nic->hdr_pool, GFP_ATOMIC, &dma);
	if (!tb->hdr)
		return -ENOMEM;
	memcpy(tb->hdr, hdr, HDR_LEN);
	dma_unmap_addr_set(tb, dma, dma);
	dma_unmap_len_set(tb, len, HDR_LEN);
	tb->payload = NULL;
	if (n_pages) {
		tb->payload = kzalloc(sizeof(*tb->payload), GFP_ATOMIC);
		err = sg_alloc_table_from_pages(tb->payload, pages, n_pages, 0, payload_len,
						GFP_ATOMIC);
		if (!err)
			err = dma_map_sgtable(nic->dev, tb->payload, DMA_TO_DEVICE, 0);
		if (err) {
			sg_free_table(tb->payload);
			kfree(tb->payload);
			dma_pool_free(nic->hdr_pool, tb->hdr, dma);
			return err;
		}
		/* One descriptor would take each DMA segment; this toy device sums them. */
		nic->tx_ring[i].len = HDR_LEN;
		for_each_sgtable_dma_sg(tb->payload, sg, j)
			nic->tx_ring[i].len += sg_dma_len(sg);
	} else {
		nic->tx_ring[i].len = HDR_LEN;
	}
	spin_lock_irqsave(&nic->tx_lock, flags);
	nic->tx_ring[i].addr = dma;
	nic->tx_ring[i].status = 0;
	nic->tx_head++;
	spin_unlock_irqrestore(&nic->tx_lock, flags);
	return 0;
}

/* TX completion, from the interrupt handler. */
static void nic_tx_clean(struct nic *nic)
{
	spin_lock(&nic->tx_lock);
	while (nic->tx_tail != nic->tx_head) {
		unsigned int i = nic->tx_tail % RING_SIZE;
		struct nic_tx_buf *tb = &nic->tx_buf[i];

		if (!(nic->tx_ring[i].status & DESC_DONE))
			break;
		if (tb->payload) {
			dma_unmap_sgtable(nic->dev, tb->payload, DMA_TO_DEVICE, 0);
			sg_free_table(tb->payload);
			kfree(tb->payload);
		}
		dma_pool_free(nic->hdr_pool, tb->hdr, dma_unmap_addr(tb, dma));
		dma_unmap_len_set(tb, len, 0);
		nic->tx_tail++;
	}
	spin_unlock(&nic->tx_lock);
}

/* RX: hand each filled page to the CPU, read it, give it back to the device. */
static void nic_rx_poll(struct nic *nic)
{
	unsigned int i;

	for (i = 0; i < RING_SIZE; i++) {
		struct nic_rx_buf *rb = &nic->rx_buf[i];

		if (!(nic->rx_ring[i].status & DESC_DONE))
			continue;
		dma_sync_single_for_cpu(nic->dev, rb->dma, PAGE_SIZE, DMA_FROM_DEVICE);
		nic->rx_bytes += strnlen(page_address(rb->page), nic->rx_ring[i].len);
		dma_sync_single_for_device(nic->dev, rb->dma, PAGE_SIZE, DMA_FROM_DEVICE);
		nic->rx_ring[i].status = 0;
	}
}

static irqreturn_t nic_irq(int irq, void *data)
{
	struct nic *nic = data;

	(void)irq;
	nic_tx_clean(nic);
	nic_rx_poll(nic);
	return IRQ_HANDLED;
}

/* Unbind: what the driver mapped itself it unmaps; devres frees the rings and the pool. */
static void nic_remove(struct nic *nic)
{
	unsigned int i;

	for (i = 0; i < RING_SIZE; i++) {
		dma_unmap_page(nic->dev, nic->rx_buf[i].dma, PAGE_SIZE, DMA_FROM_DEVICE);
		__free_page(nic->rx_buf[i].page);
	}
}

/* ---- The bus: main() acts as the hardware ------------------------------------------------ */

static void run_irq(void *nic)
{
	nic_irq(11, nic);
}

static void device_sends_everything_queued(struct nic *nic)
{
	static char wire[HDR_LEN + 4 * PAGE_SIZE];
	__u32 done = DESC_DONE;
	unsigned int t;

	for (t = nic->tx_tail; t != nic->tx_head; t++) {
		unsigned int i = t % RING_SIZE;

		CHECK(dmacheck_device_read(nic->dev, nic->tx_ring[i].addr, wire, HDR_LEN) == 0);
		CHECK(dmacheck_device_write(nic->dev,
					    nic->tx_ring_dma + i * sizeof(struct nic_desc) +
						    offsetof(struct nic_desc, status),
					    &done, sizeof(done)) == 0);
	}
}

static void device_receives(struct nic *nic, unsigned int i, const char *packet)
{
	__u32 done = DESC_DONE;

	CHECK(dmacheck_device_write(nic->dev, nic->rx_ring[i].addr, packet,
				    strlen(packet) + 1) == 0);
	CHECK(dmacheck_device_write(nic->dev,
				    nic->rx_ring_dma + i * sizeof(struct nic_desc) +
					    offsetof(struct nic_desc, status),
				    &done, sizeof(done)) == 0);
}

int main(void)
{
	static struct nic nic;
	struct device *dev = dmacheck_device_create("eth0", "nic_ring", 0);
	struct page *payload = alloc_pages(GFP_KERNEL, 2);
	struct page *pages[4];
	char hdr[HDR_LEN] = "header";
	int i;

	for (i = 0; i < 4; i++)
		pages[i] = payload + i;
	CLEAN(CHECK(nic_probe(&nic, dev) == 0));
	CLEAN(CHECK(nic_xmit(&nic, hdr, NULL, 0, 0) == 0));
	CLEAN(CHECK(nic_xmit(&nic, hdr, pages, 4, 4 * PAGE_SIZE - 100) == 0));
	CHECK(nic.tx_ring[1].len == HDR_LEN + 4 * PAGE_SIZE - 100);
	CLEAN(device_sends_everything_queued(&nic));
	CLEAN(device_receives(&nic, 3, "hello"));
	CLEAN(dmacheck_run_in_irq(run_irq, &nic));
	CHECK(nic.tx_tail == 2 && nic.rx_bytes == 5);
	CLEAN(nic_remove(&nic));
	CLEAN(dmacheck_device_release(dev));
	__free_pages(payload, 2);
	return finish();
}
