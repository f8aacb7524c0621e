/*
 * A PCI driver file as kernel drivers are written, compiled unchanged against include/ (with
 * -Wall -Wextra -Werror): a `struct pci_driver` with an id table registered by
 * module_pci_driver(), a probe that enables the device, takes its regions, maps BAR 0, sets a
 * 64-bit DMA mask with a 32-bit fallback, allocates a descriptor ring in coherent memory and
 * requests an MSI-X/MSI/INTx vector, unwinding with goto labels, and a remove that undoes it in
 * reverse; transfers mapped with dma_map_single(), an IRQ handler that defers the unmapping to
 * a work item, a completion, and a watchdog timer.
 *
 * The driver half is the file as written for the kernel; main() plays the PCI bus and the
 * engine through <dmacheck_pci.h>: it plugs the device, loads the module (which probes it),
 * copies through the engine, raises the interrupt, runs the scheduled work, advances jiffies,
 * lets the engine run while the driver waits (the idle hook), and unloads the module. Nothing may be reported or left mapped. Devices the id table does not
 * match are never probed, and a device without interrupts fails the probe with nothing leaked.
 */

/* ---- The driver ------------------------------------------------------------------------- */

/*
 * acme_dma.c - driver for the ACME memcpy DMA engine (PCI 1de5:0101)
 *
 * The engine walks a ring of descriptors in coherent memory.  The driver
 * posts a descriptor and rings the HEAD doorbell; the engine copies, sets
 * ACME_DESC_DONE in the descriptor and raises its interrupt.  The handler
 * acknowledges the interrupt and defers the unmapping to a work item, which
 * completes the waiter.
 */
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/interrupt.h>
#include <linux/dma-mapping.h>
#include <linux/completion.h>
#include <linux/workqueue.h>
#include <linux/timer.h>
#include <linux/jiffies.h>
#include <linux/slab.h>
#include <linux/io.h>
#include <linux/spinlock.h>

#define DRV_NAME "acme_dma"

#define PCI_VENDOR_ID_ACME		0x1de5
#define PCI_DEVICE_ID_ACME_DMA		0x0101

#define ACME_BAR0_SIZE			0x100
#define ACME_REG_CTRL			0x00
#define ACME_REG_STATUS			0x04
#define ACME_REG_RING_LO		0x08
#define ACME_REG_RING_HI		0x0c
#define ACME_REG_RING_LEN		0x10
#define ACME_REG_HEAD			0x14
#define ACME_REG_IRQ_ACK		0x18

#define ACME_CTRL_ENABLE		BIT(0)
#define ACME_CTRL_RESET			BIT(1)
#define ACME_STATUS_DONE		BIT(0)

#define ACME_RING_SIZE			16
#define ACME_DESC_DONE			BIT(31)
#define ACME_WATCHDOG_MS		1000

struct acme_desc {
	__le64 src;
	__le64 dst;
	__le32 len;
	__le32 flags;
} __packed;

#define ACME_RING_BYTES (ACME_RING_SIZE * sizeof(struct acme_desc))

struct acme_slot {
	dma_addr_t src_dma;
	dma_addr_t dst_dma;
	size_t len;
	bool busy;
};

struct acme_dev {
	struct pci_dev *pdev;
	void __iomem *regs;
	struct acme_desc *ring;
	dma_addr_t ring_dma;
	struct acme_slot slots[ACME_RING_SIZE];
	unsigned int head;
	unsigned int tail;
	spinlock_t lock;
	struct completion done;
	struct work_struct reap_work;
	struct timer_list watchdog;
	unsigned long completed;
	int irq;
};

int acme_dma_submit(struct acme_dev *adev, void *dst, const void *src, size_t len)
{
	struct device *dev = &adev->pdev->dev;
	struct acme_slot *slot;
	struct acme_desc *desc;
	dma_addr_t src_dma, dst_dma;
	unsigned long flags;

	src_dma = dma_map_single(dev, (void *)src, len, DMA_TO_DEVICE);
	if (dma_mapping_error(dev, src_dma))
		return -ENOMEM;
	dst_dma = dma_map_single(dev, dst, len, DMA_FROM_DEVICE);
	if (dma_mapping_error(dev, dst_dma)) {
		dma_unmap_single(dev, src_dma, len, DMA_TO_DEVICE);
		return -ENOMEM;
	}

	spin_lock_irqsave(&adev->lock, flags);
	slot = &adev->slots[adev->head];
	if (slot->busy) {
		spin_unlock_irqrestore(&adev->lock, flags);
		dma_unmap_single(dev, dst_dma, len, DMA_FROM_DEVICE);
		dma_unmap_single(dev, src_dma, len, DMA_TO_DEVICE);
		return -EBUSY;
	}
	slot->src_dma = src_dma;
	slot->dst_dma = dst_dma;
	slot->len = len;
	slot->busy = true;

	desc = &adev->ring[adev->head];
	desc->src = cpu_to_le64(src_dma);
	desc->dst = cpu_to_le64(dst_dma);
	desc->len = cpu_to_le32(len);
	/* The engine must see the addresses before the descriptor is live. */
	dma_wmb();
	desc->flags = 0;

	reinit_completion(&adev->done);
	adev->head = (adev->head + 1) % ACME_RING_SIZE;
	iowrite32(adev->head, adev->regs + ACME_REG_HEAD);
	spin_unlock_irqrestore(&adev->lock, flags);
	return 0;
}
EXPORT_SYMBOL_GPL(acme_dma_submit);

int acme_dma_wait(struct acme_dev *adev, unsigned int timeout_ms)
{
	if (!wait_for_completion_timeout(&adev->done, msecs_to_jiffies(timeout_ms)))
		return -ETIMEDOUT;
	return 0;
}
EXPORT_SYMBOL_GPL(acme_dma_wait);

static void acme_reap_work(struct work_struct *work)
{
	struct acme_dev *adev = container_of(work, struct acme_dev, reap_work);
	struct device *dev = &adev->pdev->dev;
	unsigned long flags;
	bool reaped = false;

	spin_lock_irqsave(&adev->lock, flags);
	while (adev->slots[adev->tail].busy) {
		struct acme_slot *slot = &adev->slots[adev->tail];
		struct acme_desc *desc = &adev->ring[adev->tail];

		if (!(le32_to_cpu(READ_ONCE(desc->flags)) & ACME_DESC_DONE))
			break;
		/* Read the rest of the descriptor only after its DONE bit. */
		dma_rmb();
		dma_unmap_single(dev, slot->dst_dma, slot->len, DMA_FROM_DEVICE);
		dma_unmap_single(dev, slot->src_dma, slot->len, DMA_TO_DEVICE);
		slot->busy = false;
		adev->completed++;
		adev->tail = (adev->tail + 1) % ACME_RING_SIZE;
		reaped = true;
	}
	spin_unlock_irqrestore(&adev->lock, flags);

	if (reaped)
		complete(&adev->done);
}

static irqreturn_t acme_irq(int irq, void *data)
{
	struct acme_dev *adev = data;
	u32 status;

	status = ioread32(adev->regs + ACME_REG_STATUS);
	if (!(status & ACME_STATUS_DONE))
		return IRQ_NONE;

	iowrite32(status, adev->regs + ACME_REG_IRQ_ACK);
	schedule_work(&adev->reap_work);
	return IRQ_HANDLED;
}

static void acme_watchdog(struct timer_list *t)
{
	struct acme_dev *adev = from_timer(adev, t, watchdog);

	if (adev->slots[adev->tail].busy)
		dev_warn(&adev->pdev->dev, "descriptor %u still busy\n", adev->tail);
	mod_timer(&adev->watchdog, jiffies + msecs_to_jiffies(ACME_WATCHDOG_MS));
}

static int acme_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct acme_dev *adev;
	int err;

	adev = kzalloc(sizeof(*adev), GFP_KERNEL);
	if (!adev)
		return -ENOMEM;
	adev->pdev = pdev;

	err = pci_enable_device(pdev);
	if (err) {
		dev_err(&pdev->dev, "cannot enable device: %d\n", err);
		goto err_free;
	}

	err = pci_request_regions(pdev, DRV_NAME);
	if (err) {
		dev_err(&pdev->dev, "cannot request regions: %d\n", err);
		goto err_disable;
	}

	if (!(pci_resource_flags(pdev, 0) & IORESOURCE_MEM) ||
	    pci_resource_len(pdev, 0) < ACME_BAR0_SIZE) {
		dev_err(&pdev->dev, "BAR 0 is not a %#x-byte memory BAR\n", ACME_BAR0_SIZE);
		err = -ENODEV;
		goto err_release;
	}

	adev->regs = pci_iomap(pdev, 0, ACME_BAR0_SIZE);
	if (!adev->regs) {
		err = -ENOMEM;
		goto err_release;
	}

	pci_set_master(pdev);

	err = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (err) {
		err = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(32));
		if (err) {
			dev_err(&pdev->dev, "no usable DMA mask\n");
			goto err_unmap;
		}
		dev_warn(&pdev->dev, "falling back to 32-bit DMA\n");
	}

	adev->ring = dma_alloc_coherent(&pdev->dev, ACME_RING_BYTES, &adev->ring_dma,
					GFP_KERNEL);
	if (!adev->ring) {
		err = -ENOMEM;
		goto err_unmap;
	}

	spin_lock_init(&adev->lock);
	init_completion(&adev->done);
	INIT_WORK(&adev->reap_work, acme_reap_work);
	timer_setup(&adev->watchdog, acme_watchdog, 0);

	err = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSIX | PCI_IRQ_MSI | PCI_IRQ_LEGACY);
	if (err < 0) {
		dev_err(&pdev->dev, "cannot allocate an IRQ vector: %d\n", err);
		goto err_free_ring;
	}
	adev->irq = pci_irq_vector(pdev, 0);

	err = request_irq(adev->irq, acme_irq, IRQF_SHARED, DRV_NAME, adev);
	if (err) {
		dev_err(&pdev->dev, "cannot request IRQ %d: %d\n", adev->irq, err);
		goto err_free_vectors;
	}

	pci_set_drvdata(pdev, adev);

	iowrite32(lower_32_bits(adev->ring_dma), adev->regs + ACME_REG_RING_LO);
	iowrite32(upper_32_bits(adev->ring_dma), adev->regs + ACME_REG_RING_HI);
	iowrite32(ACME_RING_SIZE, adev->regs + ACME_REG_RING_LEN);
	iowrite32(ACME_CTRL_ENABLE, adev->regs + ACME_REG_CTRL);

	mod_timer(&adev->watchdog, jiffies + msecs_to_jiffies(ACME_WATCHDOG_MS));

	dev_info(&pdev->dev, "ACME DMA engine %04x:%04x, irq %d\n",
		 id->vendor, id->device, adev->irq);
	return 0;

err_free_vectors:
	pci_free_irq_vectors(pdev);
err_free_ring:
	dma_free_coherent(&pdev->dev, ACME_RING_BYTES, adev->ring, adev->ring_dma);
err_unmap:
	pci_iounmap(pdev, adev->regs);
err_release:
	pci_release_regions(pdev);
err_disable:
	pci_disable_device(pdev);
err_free:
	kfree(adev);
	return err;
}

static void acme_remove(struct pci_dev *pdev)
{
	struct acme_dev *adev = pci_get_drvdata(pdev);

	iowrite32(ACME_CTRL_RESET, adev->regs + ACME_REG_CTRL);
	del_timer_sync(&adev->watchdog);
	free_irq(adev->irq, adev);
	cancel_work_sync(&adev->reap_work);
	pci_free_irq_vectors(pdev);
	dma_free_coherent(&pdev->dev, ACME_RING_BYTES, adev->ring, adev->ring_dma);
	pci_iounmap(pdev, adev->regs);
	pci_release_regions(pdev);
	pci_disable_device(pdev);
	kfree(adev);
}

static const struct pci_device_id acme_ids[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_ACME, PCI_DEVICE_ID_ACME_DMA) },
	{ }
};
MODULE_DEVICE_TABLE(pci, acme_ids);

static struct pci_driver acme_driver = {
	.name		= DRV_NAME,
	.id_table	= acme_ids,
	.probe		= acme_probe,
	.remove		= acme_remove,
};
module_pci_driver(acme_driver);

MODULE_AUTHOR("A. Developer <dev@acme.example>");
MODULE_DESCRIPTION("ACME memcpy DMA engine driver");
MODULE_LICENSE("GPL");

/* ---- The bus and the engine: main() plays them ------------------------------------------ */

#include <string.h>
#include <dmacheck_pci.h>

#include "expect.h"

static u32 acme_bar0[ACME_BAR0_SIZE / 4];

static u32 reg(unsigned int offset)
{
	return acme_bar0[offset / 4];
}

static unsigned int engine_next;	/* the descriptor the engine runs next */

/* The engine copies its next descriptor, marks it done and raises its status. */
static void engine_runs(struct pci_dev *pdev)
{
	struct device *dev = &pdev->dev;
	dma_addr_t ring = ((u64)reg(ACME_REG_RING_HI) << 32) | reg(ACME_REG_RING_LO);
	dma_addr_t at = ring + engine_next * sizeof(struct acme_desc);
	__le32 done = cpu_to_le32(ACME_DESC_DONE);
	struct acme_desc desc;
	u8 data[256];

	CHECK(dmacheck_device_read(dev, at, &desc, sizeof(desc)) == 0);
	CHECK(le32_to_cpu(desc.len) <= sizeof(data));
	CHECK(dmacheck_device_read(dev, le64_to_cpu(desc.src), data, le32_to_cpu(desc.len)) == 0);
	CHECK(dmacheck_device_write(dev, le64_to_cpu(desc.dst), data, le32_to_cpu(desc.len)) == 0);
	CHECK(dmacheck_device_write(dev, at + offsetof(struct acme_desc, flags), &done,
				    sizeof(done)) == 0);
	acme_bar0[ACME_REG_STATUS / 4] |= ACME_STATUS_DONE;
	engine_next = (engine_next + 1) % ACME_RING_SIZE;
}

/* The engine interrupts; the status bits the handler acknowledged clear. */
static irqreturn_t engine_interrupts(struct pci_dev *pdev)
{
	irqreturn_t ret;

	acme_bar0[ACME_REG_IRQ_ACK / 4] = 0;
	ret = dmacheck_pci_raise_irq(pdev, 0);
	acme_bar0[ACME_REG_STATUS / 4] &= ~reg(ACME_REG_IRQ_ACK);
	return ret;
}

/* The idle hook: while the driver waits, the engine runs what was posted and interrupts. */
static void engine_while_waiting(void *data)
{
	struct pci_dev *pdev = data;

	while (engine_next != reg(ACME_REG_HEAD))
		engine_runs(pdev);
	engine_interrupts(pdev);
	dmacheck_run_scheduled_work();
}

static struct pci_dev *plug(const char *name, u16 vendor, u16 device, void *bar0)
{
	struct pci_dev *pdev = dmacheck_pci_dev_create(name, DRV_NAME, 0);

	pdev->vendor = vendor;
	pdev->device = device;
	if (bar0)
		CHECK(dmacheck_pci_set_bar(pdev, 0, bar0, ACME_BAR0_SIZE, IORESOURCE_MEM) == 0);
	return pdev;
}

/* Which driver the bus bound the device to, for tests/c_abi.rs. */
static void print_binding(struct pci_dev *pdev)
{
	struct pci_driver *drv = dmacheck_pci_bound_driver(pdev);

	printf("device %s %04x:%04x %s %s\n", pci_name(pdev), pdev->vendor, pdev->device,
	       drv ? drv->name : "unbound", pci_is_enabled(pdev) ? "enabled" : "disabled");
}

/* The driver never touched the device. */
static int never_probed(struct pci_dev *pdev)
{
	return !pci_is_enabled(pdev) && !pci_get_drvdata(pdev) &&
	       dmacheck_live_entries(&pdev->dev) == 0;
}

int main(void)
{
	static u32 other_bar0[ACME_BAR0_SIZE / 4], noirq_bar0[ACME_BAR0_SIZE / 4];
	struct pci_dev *pdev, *other_vendor, *other_device, *late_other, *noirq;
	struct acme_dev *adev;
	unsigned long before;
	u8 *src, *dst;
	int irq;

	/* Plugged before the module loads: probed when its driver registers, the others never */
	pdev = plug("0000:01:00.0", PCI_VENDOR_ID_ACME, PCI_DEVICE_ID_ACME_DMA, acme_bar0);
	other_vendor = plug("0000:02:00.0", 0x8086, PCI_DEVICE_ID_ACME_DMA, other_bar0);
	other_device = plug("0000:03:00.0", PCI_VENDOR_ID_ACME, 0x0102, other_bar0);
	CHECK(dmacheck_pci_probe(pdev) == -ENODEV);		/* no driver yet */
	CHECK(dmacheck_pci_probe(other_vendor) == -ENODEV);
	CHECK(dmacheck_pci_probe(other_device) == -ENODEV);
	CHECK(never_probed(pdev));

	CLEAN(CHECK(dmacheck_module_init() == 0));
	adev = pci_get_drvdata(pdev);
	CHECK(adev && adev->pdev == pdev && adev->regs == (void *)acme_bar0);
	CHECK(pci_is_enabled(pdev) && dmacheck_pci_state(pdev)->master);
	CHECK(dmacheck_pci_state(pdev)->regions == 1);	/* BAR 0, the only one */
	CHECK((((u64)reg(ACME_REG_RING_HI) << 32) | reg(ACME_REG_RING_LO)) == adev->ring_dma);
	CHECK(reg(ACME_REG_RING_LEN) == ACME_RING_SIZE && reg(ACME_REG_CTRL) == ACME_CTRL_ENABLE);
	CHECK(adev->irq == pci_irq_vector(pdev, 0) && adev->irq > 0);
	CHECK(timer_pending(&adev->watchdog));
	CHECK(dmacheck_live_entries(&pdev->dev) == 1);	/* the ring */
	CHECK(never_probed(other_vendor) && never_probed(other_device));

	/* Plugged after: a device the table does not match stays unbound */
	late_other = plug("0000:04:00.0", 0x10ec, 0x8168, other_bar0);
	CLEAN(CHECK(dmacheck_pci_probe(late_other) == -ENODEV));
	CHECK(never_probed(late_other));
	CHECK(dmacheck_pci_probe(pdev) == -EBUSY);		/* bound already */
	print_binding(pdev);
	print_binding(other_vendor);
	print_binding(other_device);
	print_binding(late_other);

	/* A copy: submitted, run by the engine, acknowledged, reaped by the work, waited for */
	src = kmalloc(256, GFP_KERNEL);
	dst = kzalloc(256, GFP_KERNEL);
	for (int i = 0; i < 256; i++)
		src[i] = (u8)(i * 7 + 1);
	CLEAN(CHECK(acme_dma_submit(adev, dst, src, 256) == 0));
	CHECK(reg(ACME_REG_HEAD) == 1 && dmacheck_live_entries(&pdev->dev) == 3);
	CLEAN(CHECK(engine_interrupts(pdev) == IRQ_NONE));	/* shared line, not ours yet */
	CHECK(!work_pending(&adev->reap_work));
	CLEAN(engine_runs(pdev));
	CLEAN(CHECK(engine_interrupts(pdev) == IRQ_HANDLED));
	CHECK(reg(ACME_REG_IRQ_ACK) == ACME_STATUS_DONE && reg(ACME_REG_STATUS) == 0);
	CHECK(work_pending(&adev->reap_work) && dmacheck_live_entries(&pdev->dev) == 3);
	CLEAN(CHECK(dmacheck_run_scheduled_work() == 1));
	CHECK(dmacheck_live_entries(&pdev->dev) == 1 && adev->completed == 1);
	CLEAN(CHECK(acme_dma_wait(adev, 100) == 0));
	CHECK(memcmp(dst, src, 256) == 0);

	/* The engine stalls: the wait times out, the watchdog notices, then the copy completes */
	memset(dst, 0, 256);
	CLEAN(CHECK(acme_dma_submit(adev, dst, src, 128) == 0));
	before = jiffies;
	CLEAN(CHECK(acme_dma_wait(adev, 20) == -ETIMEDOUT));
	CHECK(jiffies - before == msecs_to_jiffies(20));
	CLEAN(CHECK(dmacheck_advance_jiffies(msecs_to_jiffies(ACME_WATCHDOG_MS)) == 1));
	CHECK(timer_pending(&adev->watchdog));			/* re-armed */
	CLEAN(engine_runs(pdev));
	CLEAN(CHECK(engine_interrupts(pdev) == IRQ_HANDLED));
	CLEAN(CHECK(dmacheck_run_scheduled_work() == 1));
	CLEAN(CHECK(acme_dma_wait(adev, 20) == 0));
	CHECK(memcmp(dst, src, 128) == 0 && dst[128] == 0 && adev->completed == 2);

	/* A synchronous copy: the engine runs while the driver waits (the idle hook) */
	memset(dst, 0, 256);
	dmacheck_set_idle_hook(engine_while_waiting, pdev);
	before = jiffies;
	CLEAN(CHECK(acme_dma_submit(adev, dst, src, 200) == 0 && acme_dma_wait(adev, 20) == 0));
	CHECK(memcmp(dst, src, 200) == 0 && dst[200] == 0 && adev->completed == 3);
	CHECK(jiffies == before && dmacheck_live_entries(&pdev->dev) == 1);
	dmacheck_set_idle_hook(NULL, NULL);

	/* A device without interrupts: the probe fails and unwinds, leaking nothing */
	noirq = plug("0000:05:00.0", PCI_VENDOR_ID_ACME, PCI_DEVICE_ID_ACME_DMA, noirq_bar0);
	dmacheck_pci_set_irq_vectors(noirq, 0);
	CLEAN(CHECK(dmacheck_pci_probe(noirq) == -ENOSPC));
	CHECK(!pci_is_enabled(noirq) && !pci_get_drvdata(noirq));
	CHECK(dmacheck_pci_state(noirq)->regions == 0 && dmacheck_pci_state(noirq)->gone);

	/* Unload: remove() undoes the probe; the device ends with nothing left */
	irq = adev->irq;
	CLEAN(dmacheck_module_exit());
	CHECK(!pci_get_drvdata(pdev) && !pci_is_enabled(pdev));
	CHECK(dmacheck_pci_state(pdev)->regions == 0 && !dmacheck_pci_state(pdev)->irq_vectors);
	CHECK(dmacheck_raise_irq((unsigned int)irq) == IRQ_NONE);	/* the handler is freed */
	CHECK(reg(ACME_REG_CTRL) == ACME_CTRL_RESET);
	CHECK(dmacheck_live_entries(&pdev->dev) == 0);
	CHECK(never_probed(other_vendor) && never_probed(other_device) && never_probed(late_other));
	kfree(src);
	kfree(dst);
	return finish();
}
