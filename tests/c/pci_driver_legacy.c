/*
 * A PCI driver in the older style many kernel drivers still have: it reads `struct pci_dev`'s
 * fields directly — `pdev->class` to refuse the other functions of its card, `pdev->revision`
 * to pick the hardware checksum and MSI, `pdev->resource[0]` and pci_resource_start() with
 * ioremap() for its registers, `pdev->bus->number` and PCI_SLOT(pdev->devfn) for its banner —
 * and requests `pdev->irq` with request_irq(IRQF_SHARED): the
 * INTx line, or, after pci_enable_msi(), the MSI vector the kernel puts there. Its handler
 * tells a shared line's other interrupts from its own by the status register.
 *
 * The driver half compiles unchanged; main() plays the bus and two revisions of the card
 * through <dmacheck_pci.h>, checks that configuration space agrees with the fields, and nothing
 * may be reported or left mapped.
 */

/* ---- The driver ------------------------------------------------------------------------- */

/*
 * lnic.c - driver for the LNIC 10/100 Ethernet controller (PCI 10ec:8129)
 *
 * One receive buffer: the chip writes a frame into it, puts the length in
 * RX_LEN and raises RX in its interrupt status.  Revision 2 and later check
 * the frame's checksum (RX_CSUM_OK); revision 3 and later can signal MSI.
 */
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/interrupt.h>
#include <linux/dma-mapping.h>
#include <linux/slab.h>
#include <linux/io.h>
#include <linux/ioport.h>

#define DRV_NAME	"lnic"

#define LNIC_REG_ISR		0x00	/* interrupt status, written back to ACK */
#define LNIC_REG_ACK		0x04
#define LNIC_REG_CTRL		0x08
#define LNIC_REG_RX_ADDR	0x0c
#define LNIC_REG_RX_LEN		0x10
#define LNIC_REG_RX_CSUM	0x14	/* revision 2 and later */
#define LNIC_REGS_SIZE		0x20

#define LNIC_ISR_RX		0x01
#define LNIC_CTRL_RX_ON		0x01
#define LNIC_CTRL_CSUM_ON	0x02
#define LNIC_CSUM_OK		0x01

#define LNIC_RX_BUF_LEN		256

struct lnic_priv {
	struct pci_dev *pdev;
	void __iomem *ioaddr;
	void *rx_buf;
	dma_addr_t rx_dma;
	bool hw_csum;
	bool msi;
	unsigned long rx_packets, rx_bytes, rx_csum_errors;
	char last_frame[32];
};

static irqreturn_t lnic_interrupt(int irq, void *dev_instance)
{
	struct lnic_priv *priv = dev_instance;
	struct device *dev = &priv->pdev->dev;
	u32 status = readl(priv->ioaddr + LNIC_REG_ISR);
	u32 len;

	if (!status)
		return IRQ_NONE;	/* another device on the shared line */
	writel(status, priv->ioaddr + LNIC_REG_ACK);
	if (!(status & LNIC_ISR_RX))
		return IRQ_HANDLED;

	len = min_t(u32, readl(priv->ioaddr + LNIC_REG_RX_LEN), LNIC_RX_BUF_LEN);
	dma_sync_single_for_cpu(dev, priv->rx_dma, LNIC_RX_BUF_LEN, DMA_FROM_DEVICE);
	if (priv->hw_csum && !(readl(priv->ioaddr + LNIC_REG_RX_CSUM) & LNIC_CSUM_OK)) {
		priv->rx_csum_errors++;
	} else {
		memcpy(priv->last_frame, priv->rx_buf, min_t(u32, len, sizeof(priv->last_frame)));
		priv->rx_packets++;
		priv->rx_bytes += len;
	}
	dma_sync_single_for_device(dev, priv->rx_dma, LNIC_RX_BUF_LEN, DMA_FROM_DEVICE);
	return IRQ_HANDLED;
}

static int lnic_init_one(struct pci_dev *pdev, const struct pci_device_id *ent)
{
	struct lnic_priv *priv;
	unsigned long mmio_start, mmio_len;
	int rc;

	/* The card's other functions (a modem) share the ids: take only the Ethernet one. */
	if ((pdev->class >> 8) != PCI_CLASS_NETWORK_ETHERNET)
		return -ENODEV;

	priv = kzalloc(sizeof(*priv), GFP_KERNEL);
	if (!priv)
		return -ENOMEM;
	priv->pdev = pdev;

	rc = pci_enable_device(pdev);
	if (rc)
		goto err_free_priv;
	rc = pci_request_regions(pdev, DRV_NAME);
	if (rc)
		goto err_disable;

	mmio_start = pci_resource_start(pdev, 0);
	mmio_len = pci_resource_len(pdev, 0);
	if (!(pci_resource_flags(pdev, 0) & IORESOURCE_MEM) ||
	    resource_size(&pdev->resource[0]) < LNIC_REGS_SIZE) {
		dev_err(&pdev->dev, "region #0 is not a large enough MMIO region\n");
		rc = -ENODEV;
		goto err_release;
	}
	priv->ioaddr = ioremap(mmio_start, mmio_len);
	if (!priv->ioaddr) {
		rc = -EIO;
		goto err_release;
	}

	pci_set_master(pdev);
	rc = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(32));
	if (rc)
		goto err_unmap_io;

	priv->rx_buf = kmalloc(LNIC_RX_BUF_LEN, GFP_KERNEL);
	if (!priv->rx_buf) {
		rc = -ENOMEM;
		goto err_unmap_io;
	}
	priv->rx_dma = dma_map_single(&pdev->dev, priv->rx_buf, LNIC_RX_BUF_LEN,
				      DMA_FROM_DEVICE);
	if (dma_mapping_error(&pdev->dev, priv->rx_dma)) {
		rc = -ENOMEM;
		goto err_free_buf;
	}

	priv->hw_csum = pdev->revision >= 2;
	if (pdev->revision >= 3 && !pci_enable_msi(pdev))
		priv->msi = true;
	rc = request_irq(pdev->irq, lnic_interrupt, IRQF_SHARED, DRV_NAME, priv);
	if (rc)
		goto err_disable_msi;

	pci_set_drvdata(pdev, priv);
	writel(lower_32_bits(priv->rx_dma), priv->ioaddr + LNIC_REG_RX_ADDR);
	writel(LNIC_CTRL_RX_ON | (priv->hw_csum ? LNIC_CTRL_CSUM_ON : 0),
	       priv->ioaddr + LNIC_REG_CTRL);
	dev_info(&pdev->dev, "LNIC rev %u on bus %02x slot %u at %#lx, IRQ %u (%s), "
		 "subsystem %04x:%04x%s\n", pdev->revision, pdev->bus->number,
		 PCI_SLOT(pdev->devfn), mmio_start, pdev->irq, pdev->msi_enabled ? "MSI" : "INTx",
		 pdev->subsystem_vendor, pdev->subsystem_device,
		 priv->hw_csum ? ", hardware checksum" : "");
	return 0;

err_disable_msi:
	if (priv->msi)
		pci_disable_msi(pdev);
	dma_unmap_single(&pdev->dev, priv->rx_dma, LNIC_RX_BUF_LEN, DMA_FROM_DEVICE);
err_free_buf:
	kfree(priv->rx_buf);
err_unmap_io:
	iounmap(priv->ioaddr);
err_release:
	pci_release_regions(pdev);
err_disable:
	pci_disable_device(pdev);
err_free_priv:
	kfree(priv);
	return rc;
}

static void lnic_remove_one(struct pci_dev *pdev)
{
	struct lnic_priv *priv = pci_get_drvdata(pdev);

	writel(0, priv->ioaddr + LNIC_REG_CTRL);
	free_irq(pdev->irq, priv);
	if (priv->msi)
		pci_disable_msi(pdev);
	dma_unmap_single(&pdev->dev, priv->rx_dma, LNIC_RX_BUF_LEN, DMA_FROM_DEVICE);
	kfree(priv->rx_buf);
	iounmap(priv->ioaddr);
	pci_release_regions(pdev);
	pci_disable_device(pdev);
	kfree(priv);
}

static const struct pci_device_id lnic_pci_tbl[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_REALTEK, 0x8129) },
	{ }
};
MODULE_DEVICE_TABLE(pci, lnic_pci_tbl);

static struct pci_driver lnic_pci_driver = {
	.name		= DRV_NAME,
	.id_table	= lnic_pci_tbl,
	.probe		= lnic_init_one,
	.remove		= lnic_remove_one,
};

module_pci_driver(lnic_pci_driver);
MODULE_LICENSE("GPL");

/* ---- The bus and the card: main() plays them -------------------------------------------- */

#include <dmacheck_pci.h>

#include "expect.h"

static u32 old_regs[LNIC_REGS_SIZE / 4], new_regs[LNIC_REGS_SIZE / 4];
static u32 modem_regs[LNIC_REGS_SIZE / 4];

static struct pci_dev *plug(const char *name, u8 revision, u32 class_code, u32 *regs)
{
	struct pci_dev *pdev = dmacheck_pci_dev_create(name, DRV_NAME, 0);

	pdev->vendor = PCI_VENDOR_ID_REALTEK;
	pdev->device = 0x8129;
	pdev->revision = revision;
	pdev->class = class_code;
	CHECK(dmacheck_pci_set_bar(pdev, 0, regs, LNIC_REGS_SIZE, IORESOURCE_MEM) == 0);
	return pdev;
}

/* The chip receives a frame into the buffer the driver gave it and raises RX. */
static void chip_receives(struct pci_dev *pdev, u32 *regs, const char *frame, bool csum_ok)
{
	CHECK(dmacheck_device_write(&pdev->dev, regs[LNIC_REG_RX_ADDR / 4], frame,
				    strlen(frame) + 1) == 0);
	regs[LNIC_REG_RX_LEN / 4] = (u32)strlen(frame) + 1;
	regs[LNIC_REG_RX_CSUM / 4] = csum_ok ? LNIC_CSUM_OK : 0;
	regs[LNIC_REG_ISR / 4] = LNIC_ISR_RX;
}

/* Configuration space says what the fields say. */
static void config_agrees(struct pci_dev *pdev)
{
	u32 class_rev;
	u16 subvendor, subdevice;
	u8 revision, pin;

	CHECK(pci_read_config_dword(pdev, PCI_CLASS_REVISION, &class_rev) == 0);
	CHECK(class_rev == (pdev->class << 8 | pdev->revision));
	CHECK(pci_read_config_byte(pdev, PCI_REVISION_ID, &revision) == 0);
	CHECK(revision == pdev->revision);
	CHECK(pci_read_config_word(pdev, PCI_SUBSYSTEM_VENDOR_ID, &subvendor) == 0);
	CHECK(pci_read_config_word(pdev, PCI_SUBSYSTEM_ID, &subdevice) == 0);
	CHECK(subvendor == pdev->subsystem_vendor && subdevice == pdev->subsystem_device);
	CHECK(pci_read_config_byte(pdev, PCI_INTERRUPT_PIN, &pin) == 0 && pin == pdev->pin);
}

int main(void)
{
	struct pci_dev *old, *new, *modem, *spare;
	struct lnic_priv *old_priv, *new_priv;
	unsigned int old_intx, new_intx;
	u8 revision;

	old = plug("0000:03:00.0", 1, PCI_CLASS_NETWORK_ETHERNET << 8, old_regs);
	new = plug("0000:04:00.0", 3, PCI_CLASS_NETWORK_ETHERNET << 8, new_regs);
	new->subsystem_vendor = 0x1186;
	new->subsystem_device = 0x1300;
	modem = plug("0000:04:00.1", 3, 0x0703 << 8, modem_regs);	/* a modem function */

	/* The harness gave each an INTx line of its own; BAR 0 is resource[0] */
	old_intx = old->irq;
	new_intx = new->irq;
	CHECK(old->pin == 1 && old_intx > 0 && new_intx > 0 && old_intx != new_intx);
	CHECK(old->resource[0].start == (resource_size_t)(uintptr_t)old_regs);
	CHECK(old->resource[0].end == old->resource[0].start + LNIC_REGS_SIZE - 1);
	CHECK(old->resource[0].flags == IORESOURCE_MEM);
	CHECK(pci_resource_len(old, 0) == LNIC_REGS_SIZE);
	CHECK(strcmp(old->resource[0].name, "0000:03:00.0") == 0);
	/* The bus number and devfn are the name's */
	CHECK(old->bus->number == 3 && new->bus->number == 4 && modem->bus == new->bus);
	CHECK(old->bus != new->bus && !old->bus->parent);
	CHECK(PCI_SLOT(new->devfn) == 0 && PCI_FUNC(new->devfn) == 0);
	CHECK(PCI_SLOT(modem->devfn) == 0 && PCI_FUNC(modem->devfn) == 1);
	CHECK(pci_resource_len(old, 1) == 0 && pci_resource_len(old, PCI_ROM_RESOURCE) == 0);

	CLEAN(CHECK(dmacheck_pci_probe(old) == -ENODEV));
	CLEAN(CHECK(dmacheck_pci_probe(new) == -ENODEV));
	CLEAN(CHECK(dmacheck_pci_probe(modem) == -ENODEV));
	/* On the bus, subsystem ids left 0 read as the vendor and device ids */
	CHECK(old->subsystem_vendor == PCI_VENDOR_ID_REALTEK && old->subsystem_device == 0x8129);
	CHECK(new->subsystem_vendor == 0x1186 && new->subsystem_device == 0x1300);

	/* Loading probes both revisions; the modem function's probe declines, quietly */
	CLEAN(CHECK(dmacheck_module_init() == 0));
	old_priv = pci_get_drvdata(old);
	new_priv = pci_get_drvdata(new);
	CHECK(old_priv && new_priv && !pci_get_drvdata(modem) && !pci_is_enabled(modem));
	CHECK(dmacheck_live_entries(&modem->dev) == 0 && dmacheck_pci_state(modem)->gone);
	CHECK(old_priv->ioaddr == (void *)old_regs && new_priv->ioaddr == (void *)new_regs);
	CHECK(!old_priv->hw_csum && new_priv->hw_csum);
	CHECK(old_regs[LNIC_REG_CTRL / 4] == LNIC_CTRL_RX_ON);
	CHECK(new_regs[LNIC_REG_CTRL / 4] == (LNIC_CTRL_RX_ON | LNIC_CTRL_CSUM_ON));
	config_agrees(old);
	config_agrees(new);
	config_agrees(modem);
	/* The revision is read-only, as in hardware */
	CHECK(pci_write_config_byte(old, PCI_REVISION_ID, 9) == 0);
	CHECK(pci_read_config_byte(old, PCI_REVISION_ID, &revision) == 0 && revision == 1);

	/* Revision 1 stays on INTx: pdev->irq is its line */
	CHECK(!old_priv->msi && !old->msi_enabled && !old->msix_enabled);
	CHECK(old->irq == old_intx);
	/* Revision 3 enabled MSI: pdev->irq is vector 0, not the INTx line */
	CHECK(new_priv->msi && new->msi_enabled && !new->msix_enabled);
	CHECK(new->irq != new_intx && (int)new->irq == pci_irq_vector(new, 0));

	/* A frame on the INTx line; then the line raised for another device on it */
	CLEAN(chip_receives(old, old_regs, "hello", true));
	CLEAN(CHECK(dmacheck_raise_irq(old->irq) == IRQ_HANDLED));
	CHECK(old_regs[LNIC_REG_ACK / 4] == LNIC_ISR_RX);
	old_regs[LNIC_REG_ISR / 4] = 0;		/* the acknowledge clears it */
	CHECK(old_priv->rx_packets == 1 && old_priv->rx_bytes == 6);
	CHECK(strcmp(old_priv->last_frame, "hello") == 0);
	CLEAN(CHECK(dmacheck_pci_raise_irq(old, 0) == IRQ_NONE));

	/* Frames by MSI: the checksum is checked; nothing was requested on the INTx line */
	CLEAN(chip_receives(new, new_regs, "world", true));
	CLEAN(CHECK(dmacheck_pci_raise_irq(new, 0) == IRQ_HANDLED));
	new_regs[LNIC_REG_ISR / 4] = 0;
	CHECK(new_priv->rx_packets == 1 && strcmp(new_priv->last_frame, "world") == 0);
	CLEAN(chip_receives(new, new_regs, "garbled", false));
	CHECK(dmacheck_raise_irq(new_intx) == IRQ_NONE);
	CLEAN(CHECK(dmacheck_raise_irq(new->irq) == IRQ_HANDLED));
	new_regs[LNIC_REG_ISR / 4] = 0;
	CHECK(new_priv->rx_packets == 1 && new_priv->rx_csum_errors == 1);

	/* Unloading: the handlers go, MSI is disabled and pdev->irq is the INTx line again */
	CLEAN(dmacheck_module_exit());
	CHECK(!new->msi_enabled && new->irq == new_intx && old->irq == old_intx);
	CHECK(pci_irq_vector(new, 0) == -EINVAL);
	CHECK(dmacheck_raise_irq(old_intx) == IRQ_NONE && dmacheck_raise_irq(new_intx) == IRQ_NONE);
	CHECK(!pci_is_enabled(old) && !pci_is_enabled(new));
	CHECK(dmacheck_pci_state(old)->regions == 0 && dmacheck_pci_state(new)->regions == 0);
	CHECK(dmacheck_live_entries(&old->dev) == 0 && dmacheck_live_entries(&new->dev) == 0);

	/* Vectors as the kernel hands them: INTx is pdev->irq, MSI moves vector 0 there */
	spare = dmacheck_pci_dev_create("0000:06:00.0", DRV_NAME, 0);
	dmacheck_pci_set_irq_vectors(spare, 4);
	old_intx = spare->irq;
	CHECK(pci_alloc_irq_vectors(spare, 1, 1, PCI_IRQ_INTX) == 1);
	CHECK(pci_irq_vector(spare, 0) == (int)old_intx && !pci_dev_msi_enabled(spare));
	pci_free_irq_vectors(spare);
	CHECK(pci_alloc_irq_vectors(spare, 1, 8, PCI_IRQ_MSI | PCI_IRQ_INTX) == 4);
	CHECK(spare->msi_enabled && spare->irq != old_intx);
	CHECK(pci_irq_vector(spare, 0) == (int)spare->irq);
	CHECK(pci_irq_vector(spare, 3) == (int)spare->irq + 3);
	CHECK(pci_irq_vector(spare, 4) == -EINVAL);
	pci_free_irq_vectors(spare);
	CHECK(!spare->msi_enabled && spare->irq == old_intx);
	CHECK(pci_alloc_irq_vectors(spare, 2, 2, PCI_IRQ_ALL_TYPES) == 2);
	CHECK(spare->msix_enabled && !spare->msi_enabled && spare->irq == old_intx);
	pci_disable_msi(spare);		/* MSI is not what is enabled: nothing changes */
	CHECK(spare->msix_enabled && pci_irq_vector(spare, 1) > 0);
	pci_free_irq_vectors(spare);
	dmacheck_pci_set_irq_vectors(spare, 0);
	CHECK(!spare->irq && !spare->pin && !spare->msix_enabled);
	CHECK(pci_alloc_irq_vectors(spare, 1, 1, PCI_IRQ_ALL_TYPES) == -ENOSPC);
	CHECK(pci_enable_msi(spare) == -ENOSPC && !spare->msi_enabled);
	return finish();
}
