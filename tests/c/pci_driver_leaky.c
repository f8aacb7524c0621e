/*
 * A PCI driver with the two leaks such drivers are known for, written with the managed calls
 * (pcim_enable_device(), which makes its IRQ vectors managed too, pcim_iomap_regions(),
 * devm_kzalloc(), devm_request_irq()): its remove() forgets the descriptor ring, which
 * dma_alloc_coherent() (not the managed dmam_alloc_coherent()) allocated, and its probe's error
 * path, when no interrupt vector can be had, jumps past the unmapping of the receive buffers. main() plugs two devices, the second
 * without interrupts, and unloads the module; each leak is reported once, naming the line of
 * the driver that made the entry. Everything managed is released without a report.
 */

/* ---- The driver ------------------------------------------------------------------------- */

#include <linux/module.h>
#include <linux/pci.h>
#include <linux/interrupt.h>
#include <linux/dma-mapping.h>
#include <linux/slab.h>
#include <linux/io.h>

#define DRV_NAME "leaky_nic"

#define PCI_VENDOR_ID_LEAKY	0x1d0f
#define PCI_DEVICE_ID_LEAKY_NIC	0xec20

#define LEAKY_REG_RING_LO	0x00
#define LEAKY_REG_RING_HI	0x04
#define LEAKY_REG_STATUS	0x08

#define LEAKY_RX_RING		4
#define LEAKY_RX_BUF_LEN	2048

struct leaky_desc {
	__le64 addr;
	__le32 len;
	__le32 status;
};

struct leaky_priv {
	struct pci_dev *pdev;
	void __iomem *regs;
	struct leaky_desc *ring;
	dma_addr_t ring_dma;
	void *rx_buf[LEAKY_RX_RING];
	dma_addr_t rx_dma[LEAKY_RX_RING];
	unsigned long rx_packets;
};

static irqreturn_t leaky_irq(int irq, void *data)
{
	struct leaky_priv *priv = data;

	if (!readl(priv->regs + LEAKY_REG_STATUS))
		return IRQ_NONE;
	priv->rx_packets++;
	return IRQ_HANDLED;
}

static void leaky_free_rx(struct leaky_priv *priv, unsigned int count)
{
	while (count--) {
		dma_unmap_single(&priv->pdev->dev, priv->rx_dma[count], LEAKY_RX_BUF_LEN,
				 DMA_FROM_DEVICE);
		kfree(priv->rx_buf[count]);
	}
}

static int leaky_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct leaky_priv *priv;
	unsigned int i;
	int err;

	err = pcim_enable_device(pdev);
	if (err)
		return err;
	err = pcim_iomap_regions(pdev, BIT(0), DRV_NAME);
	if (err)
		return err;
	pci_set_master(pdev);
	err = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (err)
		return err;

	priv = devm_kzalloc(&pdev->dev, sizeof(*priv), GFP_KERNEL);
	if (!priv)
		return -ENOMEM;
	priv->pdev = pdev;
	priv->regs = pcim_iomap_table(pdev)[0];

	priv->ring = dma_alloc_coherent(&pdev->dev, LEAKY_RX_RING * sizeof(struct leaky_desc),
					&priv->ring_dma, GFP_KERNEL);
	if (!priv->ring)
		return -ENOMEM;

	for (i = 0; i < LEAKY_RX_RING; i++) {
		priv->rx_buf[i] = kmalloc(LEAKY_RX_BUF_LEN, GFP_KERNEL);
		if (!priv->rx_buf[i]) {
			err = -ENOMEM;
			goto err_free_rx;
		}
		priv->rx_dma[i] = dma_map_single(&pdev->dev, priv->rx_buf[i], LEAKY_RX_BUF_LEN,
						 DMA_FROM_DEVICE);
		if (dma_mapping_error(&pdev->dev, priv->rx_dma[i])) {
			kfree(priv->rx_buf[i]);
			err = -ENOMEM;
			goto err_free_rx;
		}
		priv->ring[i].addr = cpu_to_le64(priv->rx_dma[i]);
		priv->ring[i].len = cpu_to_le32(LEAKY_RX_BUF_LEN);
	}

	err = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_ALL_TYPES);
	if (err < 0)
		goto err_free_ring;	/* BUG: the receive buffers stay mapped */
	err = devm_request_irq(&pdev->dev, pci_irq_vector(pdev, 0), leaky_irq, IRQF_SHARED,
			       DRV_NAME, priv);
	if (err)
		goto err_free_rx;

	writel(lower_32_bits(priv->ring_dma), priv->regs + LEAKY_REG_RING_LO);
	writel(upper_32_bits(priv->ring_dma), priv->regs + LEAKY_REG_RING_HI);
	pci_set_drvdata(pdev, priv);
	dev_info(&pdev->dev, "%04x:%04x up\n", id->vendor, id->device);
	return 0;

err_free_rx:
	leaky_free_rx(priv, i);
err_free_ring:
	dma_free_coherent(&pdev->dev, LEAKY_RX_RING * sizeof(struct leaky_desc), priv->ring,
			  priv->ring_dma);
	return err;
}

static void leaky_remove(struct pci_dev *pdev)
{
	struct leaky_priv *priv = pci_get_drvdata(pdev);

	writel(0, priv->regs + LEAKY_REG_RING_LO);
	writel(0, priv->regs + LEAKY_REG_RING_HI);
	leaky_free_rx(priv, LEAKY_RX_RING);
	/* BUG: the ring is not freed; it was not allocated with dmam_alloc_coherent() */
}

static const struct pci_device_id leaky_ids[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_LEAKY, PCI_DEVICE_ID_LEAKY_NIC) },
	{ 0, }
};
MODULE_DEVICE_TABLE(pci, leaky_ids);

static struct pci_driver leaky_driver = {
	.name		= DRV_NAME,
	.id_table	= leaky_ids,
	.probe		= leaky_probe,
	.remove		= leaky_remove,
};
module_pci_driver(leaky_driver);

MODULE_LICENSE("GPL");

/* ---- The bus: main() plays it ----------------------------------------------------------- */

#include <dmacheck_pci.h>

#include "expect.h"

static u32 nic_bar0[16], noirq_bar0[16];

static struct pci_dev *plug(const char *name, u32 *bar0)
{
	struct pci_dev *pdev = dmacheck_pci_dev_create(name, DRV_NAME, 0);

	pdev->vendor = PCI_VENDOR_ID_LEAKY;
	pdev->device = PCI_DEVICE_ID_LEAKY_NIC;
	CHECK(dmacheck_pci_set_bar(pdev, 0, bar0, sizeof(nic_bar0), IORESOURCE_MEM) == 0);
	return pdev;
}

int main(void)
{
	struct pci_dev *nic = plug("0000:06:00.0", nic_bar0);
	struct pci_dev *noirq = plug("0000:07:00.0", noirq_bar0);
	struct leaky_priv *priv;

	dmacheck_pci_set_irq_vectors(noirq, 0);
	CHECK(dmacheck_pci_probe(nic) == -ENODEV);
	CLEAN(CHECK(dmacheck_module_init() == 0));
	priv = pci_get_drvdata(nic);
	CHECK(priv && priv->regs == (void *)nic_bar0);
	CHECK(dmacheck_live_entries(&nic->dev) == 1 + LEAKY_RX_RING);

	/* The device interrupts: the managed handler runs */
	nic_bar0[LEAKY_REG_STATUS / 4] = 1;
	CLEAN(CHECK(dmacheck_pci_raise_irq(nic, 0) == IRQ_HANDLED && priv->rx_packets == 1));

	/* The probe's error path leaves the receive buffers mapped: each reported at the end */
	EXPECT(CHECK(dmacheck_pci_probe(noirq) == -ENOSPC), "leak", "leak", "leak", "leak");
	CHECK(dmacheck_live_entries(&noirq->dev) == 0);

	/* remove() leaves the ring: reported when the device ends; the managed IRQ is freed */
	EXPECT(dmacheck_module_exit(), "leak");
	CHECK(dmacheck_raise_irq(DMACHECK_PCI_FIRST_IRQ) == IRQ_NONE);
	CHECK(!pci_is_enabled(nic) && dmacheck_pci_state(nic)->regions == 0);
	CHECK(pcim_iomap_table(nic)[0] == NULL);
	return finish();
}
