/*
 * A PCI driver written with the rest of what PCI drivers use: PCI_VDEVICE() and
 * PCI_DEVICE_SUB() entries with driver_data, configuration space reads, managed enabling and
 * BAR mapping (pcim_enable_device(), pcim_iomap_regions(), pcim_iomap_table()),
 * readl_poll_timeout() for the device to come ready (the harness's idle hook playing a device
 * that takes a while), a managed coherent ring, MSI-X vectors with pci_request_irq() (a hard
 * handler deferring to a tasklet, and a threaded handler deferring to its own work queue),
 * disable_irq()/enable_irq(), delayed work, SIMPLE_DEV_PM_OPS() suspend and resume, and a hot
 * unplug. The driver half compiles unchanged (kbuild's KBUILD_MODNAME defined as kbuild
 * would); main() plays the bus and the device through <dmacheck_pci.h>, and nothing may be
 * reported or left mapped.
 */
#define KBUILD_MODNAME "qdev"

/* ---- The driver ------------------------------------------------------------------------- */

#include <linux/module.h>
#include <linux/pci.h>
#include <linux/interrupt.h>
#include <linux/dma-mapping.h>
#include <linux/iopoll.h>
#include <linux/bitfield.h>
#include <linux/workqueue.h>
#include <linux/slab.h>
#include <linux/io.h>
#include <linux/pm.h>

#define QDEV_REG_STATUS		0x00
#define QDEV_REG_CTRL		0x04
#define QDEV_REG_RING_LO	0x08
#define QDEV_REG_RING_HI	0x0c
#define QDEV_REG_IRQ_STATUS	0x10
#define QDEV_REG_IRQ_ACK	0x14
#define QDEV_REG_RX_TAIL	0x18
#define QDEV_STATS_PACKETS	0x00	/* BAR 2 */

#define QDEV_STATUS_READY	BIT(0)
#define QDEV_CTRL_RUN		BIT(0)
#define QDEV_IRQ_RX		BIT(0)
#define QDEV_IRQ_ERR		BIT(1)

#define QDEV_RX_RING		4
#define QDEV_RX_BUF_LEN		512
#define QDEV_DESC_OWN		BIT(31)	/* the device owns the descriptor */
#define QDEV_DESC_LEN		GENMASK(15, 0)

#define QDEV_FLAG_STATS		BIT(0)	/* driver_data: the device has a stats BAR */

struct qdev_desc {
	__le64 addr;
	__le32 ctrl;
	__le32 rsvd;
} __packed;

struct qdev {
	struct pci_dev *pdev;
	void __iomem *regs;
	void __iomem *stats;
	struct qdev_desc *ring;
	dma_addr_t ring_dma;
	void *rx_buf[QDEV_RX_RING];
	dma_addr_t rx_dma[QDEV_RX_RING];
	unsigned int rx_next;
	unsigned long rx_packets, rx_bytes, resets, stats_runs, hw_packets;
	u8 revision;
	struct tasklet_struct rx_tasklet;
	struct workqueue_struct *wq;
	struct work_struct reset_work;
	struct delayed_work stats_work;
};

static void qdev_give(struct qdev *q, unsigned int i)
{
	q->ring[i].addr = cpu_to_le64(q->rx_dma[i]);
	dma_wmb();
	q->ring[i].ctrl = cpu_to_le32(QDEV_DESC_OWN | QDEV_RX_BUF_LEN);
}

static void qdev_start(struct qdev *q)
{
	writel(lower_32_bits(q->ring_dma), q->regs + QDEV_REG_RING_LO);
	writel(upper_32_bits(q->ring_dma), q->regs + QDEV_REG_RING_HI);
	writel(QDEV_RX_RING - 1, q->regs + QDEV_REG_RX_TAIL);
	writel(QDEV_CTRL_RUN, q->regs + QDEV_REG_CTRL);
}

static void qdev_rx_tasklet(struct tasklet_struct *t)
{
	struct qdev *q = from_tasklet(q, t, rx_tasklet);
	struct device *dev = &q->pdev->dev;

	while (!(le32_to_cpu(READ_ONCE(q->ring[q->rx_next].ctrl)) & QDEV_DESC_OWN)) {
		unsigned int i = q->rx_next;
		u32 len;

		dma_rmb();
		len = FIELD_GET(QDEV_DESC_LEN, le32_to_cpu(q->ring[i].ctrl));
		dma_sync_single_for_cpu(dev, q->rx_dma[i], QDEV_RX_BUF_LEN, DMA_FROM_DEVICE);
		q->rx_bytes += strnlen(q->rx_buf[i], min_t(u32, len, QDEV_RX_BUF_LEN));
		q->rx_packets++;
		dma_sync_single_for_device(dev, q->rx_dma[i], QDEV_RX_BUF_LEN, DMA_FROM_DEVICE);
		qdev_give(q, i);
		q->rx_next = (i + 1) % QDEV_RX_RING;
	}
	writel((q->rx_next + QDEV_RX_RING - 1) % QDEV_RX_RING, q->regs + QDEV_REG_RX_TAIL);
}

static irqreturn_t qdev_rx_irq(int irq, void *data)
{
	struct qdev *q = data;

	if (!(readl(q->regs + QDEV_REG_IRQ_STATUS) & QDEV_IRQ_RX))
		return IRQ_NONE;
	writel(QDEV_IRQ_RX, q->regs + QDEV_REG_IRQ_ACK);
	tasklet_schedule(&q->rx_tasklet);
	return IRQ_HANDLED;
}

static irqreturn_t qdev_err_thread(int irq, void *data)
{
	struct qdev *q = data;

	writel(QDEV_IRQ_ERR, q->regs + QDEV_REG_IRQ_ACK);
	queue_work(q->wq, &q->reset_work);
	return IRQ_HANDLED;
}

static void qdev_reset_work(struct work_struct *work)
{
	struct qdev *q = container_of(work, struct qdev, reset_work);
	int rx_irq = pci_irq_vector(q->pdev, 0);

	disable_irq(rx_irq);
	tasklet_disable(&q->rx_tasklet);
	writel(0, q->regs + QDEV_REG_CTRL);
	qdev_start(q);
	q->resets++;
	tasklet_enable(&q->rx_tasklet);
	enable_irq(rx_irq);
}

static void qdev_stats_work(struct work_struct *work)
{
	struct qdev *q = container_of(to_delayed_work(work), struct qdev, stats_work);

	if (q->stats)
		q->hw_packets = readl(q->stats + QDEV_STATS_PACKETS);
	q->stats_runs++;
	queue_delayed_work(q->wq, &q->stats_work, HZ);
}

static void qdev_unmap_rx(struct qdev *q, unsigned int count)
{
	while (count--) {
		dma_unmap_single(&q->pdev->dev, q->rx_dma[count], QDEV_RX_BUF_LEN,
				 DMA_FROM_DEVICE);
		kfree(q->rx_buf[count]);
	}
}

static int qdev_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	unsigned long flags = id->driver_data;
	struct device *dev = &pdev->dev;
	int bars = BIT(0) | ((flags & QDEV_FLAG_STATS) ? BIT(2) : 0);
	struct qdev *q;
	unsigned int i;
	u16 cmd;
	u32 status;
	int err;

	q = devm_kzalloc(dev, sizeof(*q), GFP_KERNEL);
	if (!q)
		return -ENOMEM;
	q->pdev = pdev;

	err = pcim_enable_device(pdev);
	if (err)
		return dev_err_probe(dev, err, "cannot enable the device\n");
	err = pcim_iomap_regions(pdev, bars, KBUILD_MODNAME);
	if (err)
		return dev_err_probe(dev, err, "cannot map the BARs\n");
	q->regs = pcim_iomap_table(pdev)[0];
	q->stats = (flags & QDEV_FLAG_STATS) ? pcim_iomap_table(pdev)[2] : NULL;
	pci_read_config_byte(pdev, PCI_REVISION_ID, &q->revision);
	pci_read_config_word(pdev, PCI_COMMAND, &cmd);
	if (!(cmd & PCI_COMMAND_MEMORY))
		return dev_err_probe(dev, -EIO, "memory decoding is off\n");
	pci_set_master(pdev);

	err = readl_poll_timeout(q->regs + QDEV_REG_STATUS, status,
				 status & QDEV_STATUS_READY, 100, 10000);
	if (err)
		return dev_err_probe(dev, err, "not ready (status %#x)\n", status);

	err = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64));
	if (err)
		return err;
	q->ring = dmam_alloc_coherent(dev, QDEV_RX_RING * sizeof(*q->ring), &q->ring_dma,
				      GFP_KERNEL);
	if (!q->ring)
		return -ENOMEM;
	for (i = 0; i < QDEV_RX_RING; i++) {
		q->rx_buf[i] = kzalloc(QDEV_RX_BUF_LEN, GFP_KERNEL);
		if (!q->rx_buf[i]) {
			err = -ENOMEM;
			goto err_unmap;
		}
		q->rx_dma[i] = dma_map_single(dev, q->rx_buf[i], QDEV_RX_BUF_LEN,
					      DMA_FROM_DEVICE);
		if (dma_mapping_error(dev, q->rx_dma[i])) {
			kfree(q->rx_buf[i]);
			err = -ENOMEM;
			goto err_unmap;
		}
		qdev_give(q, i);
	}

	tasklet_setup(&q->rx_tasklet, qdev_rx_tasklet);
	INIT_WORK(&q->reset_work, qdev_reset_work);
	INIT_DELAYED_WORK(&q->stats_work, qdev_stats_work);
	q->wq = alloc_workqueue("%s-%s", WQ_MEM_RECLAIM, 0, KBUILD_MODNAME, pci_name(pdev));
	if (!q->wq) {
		err = -ENOMEM;
		goto err_unmap;
	}

	err = pci_alloc_irq_vectors(pdev, 2, 2, PCI_IRQ_MSIX);
	if (err < 0)
		goto err_destroy_wq;
	err = pci_request_irq(pdev, 0, qdev_rx_irq, NULL, q, "%s-rx", pci_name(pdev));
	if (err)
		goto err_destroy_wq;
	err = pci_request_irq(pdev, 1, NULL, qdev_err_thread, q, "%s-err", pci_name(pdev));
	if (err)
		goto err_free_rx_irq;

	pci_set_drvdata(pdev, q);
	qdev_start(q);
	queue_delayed_work(q->wq, &q->stats_work, HZ);
	dev_info(dev, "rev %u, %s stats\n", q->revision, q->stats ? "with" : "without");
	return 0;

err_free_rx_irq:
	pci_free_irq(pdev, 0, q);
err_destroy_wq:
	destroy_workqueue(q->wq);
err_unmap:
	qdev_unmap_rx(q, i);
	return err;
}

static void qdev_remove(struct pci_dev *pdev)
{
	struct qdev *q = pci_get_drvdata(pdev);

	writel(0, q->regs + QDEV_REG_CTRL);
	pci_free_irq(pdev, 1, q);
	pci_free_irq(pdev, 0, q);
	tasklet_kill(&q->rx_tasklet);
	cancel_delayed_work_sync(&q->stats_work);
	destroy_workqueue(q->wq);
	qdev_unmap_rx(q, QDEV_RX_RING);
}

static int qdev_suspend(struct device *dev)
{
	struct qdev *q = pci_get_drvdata(to_pci_dev(dev));

	cancel_delayed_work_sync(&q->stats_work);
	writel(0, q->regs + QDEV_REG_CTRL);
	return 0;
}

static int qdev_resume(struct device *dev)
{
	struct qdev *q = pci_get_drvdata(to_pci_dev(dev));

	qdev_start(q);
	queue_delayed_work(q->wq, &q->stats_work, HZ);
	return 0;
}

static SIMPLE_DEV_PM_OPS(qdev_pm_ops, qdev_suspend, qdev_resume);

static const struct pci_device_id qdev_ids[] = {
	{ PCI_VDEVICE(XILINX, 0x7024), QDEV_FLAG_STATS },
	{ PCI_DEVICE_SUB(PCI_VENDOR_ID_XILINX, 0x7028, PCI_VENDOR_ID_AMAZON, 0x0001) },
	{ }
};
MODULE_DEVICE_TABLE(pci, qdev_ids);

static struct pci_driver qdev_driver = {
	.name		= KBUILD_MODNAME,
	.id_table	= qdev_ids,
	.probe		= qdev_probe,
	.remove		= qdev_remove,
	.driver.pm	= &qdev_pm_ops,
};

static int __init qdev_init(void)
{
	return pci_register_driver(&qdev_driver);
}

static void __exit qdev_exit(void)
{
	pci_unregister_driver(&qdev_driver);
}

module_init(qdev_init);
module_exit(qdev_exit);
MODULE_LICENSE("GPL");

/* ---- The bus and the device: main() plays them ------------------------------------------ */

#include <dmacheck_pci.h>

#include "expect.h"

static u32 regs[16], stats[16], sub_regs[16], stuck_regs[16], other_sub_regs[16], slow_regs[16];

static struct pci_dev *plug(const char *name, u16 device, u32 *bar0)
{
	struct pci_dev *pdev = dmacheck_pci_dev_create(name, KBUILD_MODNAME, 0);

	pdev->vendor = PCI_VENDOR_ID_XILINX;
	pdev->device = device;
	CHECK(dmacheck_pci_set_bar(pdev, 0, bar0, sizeof(regs), IORESOURCE_MEM) == 0);
	pdev->revision = 3;
	dmacheck_pci_set_irq_vectors(pdev, 2);
	return pdev;
}

/* The idle hook of a device that comes ready on the third read of its status. */
static unsigned int slow_polls;

static void slow_device_warms_up(void *data)
{
	u32 *bar0 = data;

	if (++slow_polls == 2)
		bar0[QDEV_REG_STATUS / 4] = QDEV_STATUS_READY;
}

/* The device receives a packet into the next descriptor it owns and raises RX. */
static void device_receives(struct pci_dev *pdev, struct qdev *q, unsigned int i,
			    const char *packet)
{
	dma_addr_t desc = q->ring_dma + i * sizeof(struct qdev_desc);
	__le32 ctrl = cpu_to_le32(FIELD_PREP(QDEV_DESC_LEN, strlen(packet) + 1));

	CHECK(dmacheck_device_write(&pdev->dev, le64_to_cpu(q->ring[i].addr), packet,
				    strlen(packet) + 1) == 0);
	CHECK(dmacheck_device_write(&pdev->dev, desc + offsetof(struct qdev_desc, ctrl), &ctrl,
				    sizeof(ctrl)) == 0);
	regs[QDEV_REG_IRQ_STATUS / 4] |= QDEV_IRQ_RX;
}

int main(void)
{
	struct pci_dev *pdev, *sub, *other_sub, *stuck, *slow;
	struct qdev *q;
	u16 cmd;
	u8 pin;
	int rx_irq;

	pdev = plug("0000:0a:00.0", 0x7024, regs);
	CHECK(dmacheck_pci_set_bar(pdev, 2, stats, sizeof(stats), IORESOURCE_MEM) == 0);
	sub = plug("0000:0b:00.0", 0x7028, sub_regs);
	dmacheck_pci_set_subsystem(sub, PCI_VENDOR_ID_AMAZON, 0x0001, PCI_CLASS_SYSTEM_OTHER << 8);
	other_sub = plug("0000:0c:00.0", 0x7028, other_sub_regs);
	dmacheck_pci_set_subsystem(other_sub, PCI_VENDOR_ID_AMAZON, 0x0002, 0);
	regs[QDEV_REG_STATUS / 4] = QDEV_STATUS_READY;
	sub_regs[QDEV_REG_STATUS / 4] = QDEV_STATUS_READY;
	other_sub_regs[QDEV_REG_STATUS / 4] = QDEV_STATUS_READY;
	CHECK(dmacheck_pci_probe(pdev) == -ENODEV);
	CHECK(dmacheck_pci_probe(sub) == -ENODEV);
	CHECK(dmacheck_pci_probe(other_sub) == -ENODEV);

	/* Loading probes the device and the subsystem match, not the other subsystem */
	CLEAN(CHECK(dmacheck_module_init() == 0));
	q = pci_get_drvdata(pdev);
	CHECK(q && q->revision == 3 && q->stats == (void *)stats && q->regs == (void *)regs);
	CHECK(pci_get_drvdata(sub) && !((struct qdev *)pci_get_drvdata(sub))->stats);
	CHECK(!pci_get_drvdata(other_sub) && !pci_is_enabled(other_sub));
	CHECK(pci_read_config_word(pdev, PCI_COMMAND, &cmd) == 0);
	CHECK(cmd == (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER));
	CHECK(pci_read_config_byte(pdev, PCI_INTERRUPT_PIN, &pin) == 0 && pin == 1);
	/* MSI-X, as the kernel's: pdev->irq stays the INTx line */
	CHECK(pdev->msix_enabled && !pdev->msi_enabled);
	CHECK(pci_irq_vector(pdev, 0) != (int)pdev->irq);
	CHECK(pci_read_config_word(pdev, PCI_COMMAND + 1, &cmd) == PCIBIOS_BAD_REGISTER_NUMBER);
	CHECK(regs[QDEV_REG_CTRL / 4] == QDEV_CTRL_RUN && regs[QDEV_REG_RX_TAIL / 4] == 3);
	CHECK(dmacheck_live_entries(&pdev->dev) == 1 + QDEV_RX_RING);
	/* ioremap() of a BAR's bus address is the BAR; outside every BAR, no mapping */
	CHECK(ioremap(pci_resource_start(pdev, 2) + 4, 8) == (void *)&stats[1]);
	CHECK(ioremap(pci_resource_start(pdev, 2) + sizeof(stats) - 4, 8) == NULL);
	CHECK(ioremap(0x1000, 4) == NULL && pci_resource_len(pdev, 1) == 0);

	/* RX: the hard handler acknowledges, the tasklet (softirq) takes the packet */
	CLEAN(device_receives(pdev, q, 0, "hello"));
	CLEAN(CHECK(dmacheck_pci_raise_irq(pdev, 0) == IRQ_HANDLED));
	CHECK(regs[QDEV_REG_IRQ_ACK / 4] == QDEV_IRQ_RX);
	regs[QDEV_REG_IRQ_STATUS / 4] &= ~QDEV_IRQ_RX;
	CHECK(q->rx_packets == 1 && q->rx_bytes == 5 && q->rx_next == 1);
	CHECK(regs[QDEV_REG_RX_TAIL / 4] == 0);

	/* A line raised while disabled is held, and handled when enabled again */
	rx_irq = pci_irq_vector(pdev, 0);
	disable_irq(rx_irq);
	CLEAN(device_receives(pdev, q, 1, "held"));
	CLEAN(CHECK(dmacheck_pci_raise_irq(pdev, 0) == IRQ_NONE));
	CHECK(q->rx_packets == 1);
	CLEAN(enable_irq(rx_irq));
	regs[QDEV_REG_IRQ_STATUS / 4] &= ~QDEV_IRQ_RX;
	CHECK(q->rx_packets == 2 && q->rx_bytes == 9);

	/* An error: the threaded handler queues the reset on the driver's own work queue */
	regs[QDEV_REG_IRQ_STATUS / 4] |= QDEV_IRQ_ERR;
	CLEAN(CHECK(dmacheck_pci_raise_irq(pdev, 1) == IRQ_HANDLED));
	CHECK(regs[QDEV_REG_IRQ_ACK / 4] == QDEV_IRQ_ERR && q->resets == 0);
	CLEAN(CHECK(dmacheck_run_scheduled_work() == 1));
	CHECK(q->resets == 1 && regs[QDEV_REG_CTRL / 4] == QDEV_CTRL_RUN);

	/* A second passes: the delayed stats work runs, reading BAR 2, and queues itself again */
	stats[QDEV_STATS_PACKETS / 4] = 42;
	CLEAN(dmacheck_advance_jiffies(HZ));
	CLEAN(CHECK(dmacheck_run_scheduled_work() == 2));	/* each device's */
	CHECK(q->stats_runs == 1 && q->hw_packets == 42);
	CHECK(timer_pending(&q->stats_work.timer));

	/* Suspend stops the device and its stats work; resume starts both again */
	CLEAN(CHECK(dmacheck_pci_suspend(pdev) == 0));
	CHECK(regs[QDEV_REG_CTRL / 4] == 0 && !timer_pending(&q->stats_work.timer));
	CLEAN(CHECK(dmacheck_pci_resume(pdev) == 0));
	CHECK(regs[QDEV_REG_CTRL / 4] == QDEV_CTRL_RUN && timer_pending(&q->stats_work.timer));

	/* Hot unplug: remove() runs, the managed rest is released, and unloading leaves it be */
	CLEAN(dmacheck_pci_remove(sub));
	CHECK(!pci_get_drvdata(sub) && !pci_is_enabled(sub) && dmacheck_pci_state(sub)->gone);
	CHECK(dmacheck_live_entries(&sub->dev) == 0 && dmacheck_pci_raise_irq(sub, 0) == IRQ_NONE);
	CHECK(dmacheck_pci_probe(sub) == -ENODEV);		/* an ended device stays ended */

	/* A device that comes ready while the probe polls it (the idle hook) */
	slow = plug("0000:0e:00.0", 0x7024, slow_regs);
	CHECK(dmacheck_pci_set_bar(slow, 2, stats, sizeof(stats), IORESOURCE_MEM) == 0);
	dmacheck_set_idle_hook(slow_device_warms_up, slow_regs);
	CLEAN(CHECK(dmacheck_pci_probe(slow) == 0));
	dmacheck_set_idle_hook(NULL, NULL);
	CHECK(slow_polls == 2 && pci_get_drvdata(slow));

	/* A device that never comes ready: the poll times out, managed resources unwind */
	stuck = plug("0000:0d:00.0", 0x7024, stuck_regs);
	CHECK(dmacheck_pci_set_bar(stuck, 2, stats, sizeof(stats), IORESOURCE_MEM) == 0);
	CLEAN(CHECK(dmacheck_pci_probe(stuck) == -ETIMEDOUT));
	CHECK(!pci_is_enabled(stuck) && dmacheck_pci_state(stuck)->regions == 0);

	/* Unload: both devices removed, their handlers and tasklets gone, nothing left mapped */
	CLEAN(dmacheck_module_exit());
	CHECK(dmacheck_pci_raise_irq(pdev, 0) == IRQ_NONE);
	CHECK(dmacheck_raise_irq((unsigned int)rx_irq) == IRQ_NONE);
	CHECK(dmacheck_run_tasklets() == 0 && dmacheck_run_scheduled_work() == 0);
	CHECK(dmacheck_advance_jiffies(2 * HZ) == 0);
	CHECK(!pci_is_enabled(pdev) && dmacheck_pci_state(pdev)->regions == 0);
	CHECK(pci_irq_vector(pdev, 0) == -EINVAL);	/* pcim: the vectors went with the driver */
	CHECK(!pdev->msix_enabled);
	CHECK(dmacheck_live_entries(&pdev->dev) == 0 && dmacheck_live_entries(&sub->dev) == 0);
	CHECK(dmacheck_live_entries(&slow->dev) == 0);
	return finish();
}
