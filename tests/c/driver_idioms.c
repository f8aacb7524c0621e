/*
 * A driver file as drivers are written, beyond the DMA calls: <linux/module.h> and
 * module_init(), pr_fmt and dev_err(), devm_kzalloc(), descriptors in __le32/__le64 fields
 * built with FIELD_PREP()/GENMASK() and cpu_to_le32(), the ring's DMA address written to two
 * 32-bit registers with upper_32_bits()/lower_32_bits() and writel(), dma_wmb()/dma_rmb()
 * around the hand-offs, WARN_ON(), min_t(), ALIGN(), BUILD_BUG_ON(), and a command queue in a
 * list_head under a mutex with an atomic_t count. The driver half compiles
 * unchanged against include/ (with -Wall -Wextra -Werror); main() loads the module, plays the
 * device and the register block, and unloads it. Nothing may be reported or left mapped; then
 * the managed-memory calls are checked on their own.
 */
#define pr_fmt(fmt) "mini: " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/bitfield.h>
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/atomic.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <dmacheck.h>

#include "expect.h"

/* ---- The driver ------------------------------------------------------------------------- */

#define MINI_RING		8
#define MINI_BUF_LEN		1536
#define MINI_DESC_LEN		GENMASK(15, 0)
#define MINI_DESC_OWN		BIT(31)		/* the device owns the descriptor */

#define MINI_REG_RING_LO	0x00
#define MINI_REG_RING_HI	0x04
#define MINI_REG_DOORBELL	0x08

struct mini_desc {
	__le32 ctrl;
	__le32 rsvd;
	__le64 addr;
} __packed;

struct mini_priv {
	struct pci_dev *pdev;
	void __iomem *regs;
	struct mini_desc *ring;
	dma_addr_t ring_dma;
	void **buf;
	dma_addr_t *buf_dma;
	unsigned int next;
	unsigned long rx_bytes;
	spinlock_t lock;
};

static struct pci_dev *mini_pdev;	/* what the bus would have probed */
static void __iomem *mini_bar;		/* what pci_iomap() would have returned */
static struct mini_priv *mini;

static void mini_give(struct mini_priv *p, unsigned int i)
{
	p->ring[i].addr = cpu_to_le64(p->buf_dma[i]);
	p->ring[i].rsvd = 0;
	dma_wmb();	/* the address before the ownership bit */
	WRITE_ONCE(p->ring[i].ctrl, cpu_to_le32(MINI_DESC_OWN | FIELD_PREP(MINI_DESC_LEN, MINI_BUF_LEN)));
}

static int mini_probe(struct pci_dev *pdev, void __iomem *regs)
{
	struct device *dev = &pdev->dev;
	struct mini_priv *p;
	unsigned int i;
	int err;

	BUILD_BUG_ON(sizeof(struct mini_desc) != 16);
	err = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64));
	if (err)
		return dev_err_probe(dev, err, "no usable DMA configuration\n");

	p = devm_kzalloc(dev, sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p->buf = devm_kcalloc(dev, MINI_RING, sizeof(*p->buf), GFP_KERNEL);
	p->buf_dma = devm_kcalloc(dev, MINI_RING, sizeof(*p->buf_dma), GFP_KERNEL);
	if (!p->buf || !p->buf_dma)
		return -ENOMEM;
	p->pdev = pdev;
	p->regs = regs;
	spin_lock_init(&p->lock);

	p->ring = dmam_alloc_coherent(dev, ALIGN(MINI_RING * sizeof(*p->ring), 64), &p->ring_dma,
				      GFP_KERNEL);
	if (!p->ring)
		return -ENOMEM;
	for (i = 0; i < MINI_RING; i++) {
		p->buf[i] = kmalloc(MINI_BUF_LEN, GFP_KERNEL);
		if (!p->buf[i])
			goto unwind;
		p->buf_dma[i] = dma_map_single(dev, p->buf[i], MINI_BUF_LEN, DMA_FROM_DEVICE);
		if (dma_mapping_error(dev, p->buf_dma[i])) {
			kfree(p->buf[i]);
			goto unwind;
		}
		mini_give(p, i);
	}
	writel(lower_32_bits(p->ring_dma), p->regs + MINI_REG_RING_LO);
	writel(upper_32_bits(p->ring_dma), p->regs + MINI_REG_RING_HI);
	udelay(10);
	pci_set_drvdata(pdev, p);
	mini = p;
	pr_debug("%u buffers at %llx\n", MINI_RING, (unsigned long long)p->ring_dma);
	return 0;

unwind:
	dev_err(dev, "out of memory at buffer %u\n", i);
	while (i--) {
		dma_unmap_single(dev, p->buf_dma[i], MINI_BUF_LEN, DMA_FROM_DEVICE);
		kfree(p->buf[i]);
	}
	return -ENOMEM;
}

static irqreturn_t mini_irq(int irq, void *data)
{
	struct mini_priv *p = data;
	struct device *dev = &p->pdev->dev;
	unsigned int done = 0;

	(void)irq;
	spin_lock(&p->lock);
	while (!(le32_to_cpu(READ_ONCE(p->ring[p->next].ctrl)) & MINI_DESC_OWN)) {
		unsigned int i = p->next;
		u32 len;

		dma_rmb();	/* the length after the ownership bit */
		len = FIELD_GET(MINI_DESC_LEN, le32_to_cpu(p->ring[i].ctrl));
		if (WARN_ON(len > MINI_BUF_LEN))
			len = MINI_BUF_LEN;
		dma_sync_single_for_cpu(dev, p->buf_dma[i], min_t(u32, len, MINI_BUF_LEN),
					DMA_FROM_DEVICE);
		p->rx_bytes += strnlen(p->buf[i], len);
		dma_sync_single_for_device(dev, p->buf_dma[i], MINI_BUF_LEN, DMA_FROM_DEVICE);
		mini_give(p, i);
		p->next = (i + 1) % MINI_RING;
		done++;
	}
	spin_unlock(&p->lock);
	if (done)
		writel(p->next, p->regs + MINI_REG_DOORBELL);
	return done ? IRQ_HANDLED : IRQ_NONE;
}

static void mini_remove(struct pci_dev *pdev)
{
	struct mini_priv *p = pci_get_drvdata(pdev);
	unsigned int i;

	for (i = 0; i < MINI_RING; i++) {
		dma_unmap_single(&pdev->dev, p->buf_dma[i], MINI_BUF_LEN, DMA_FROM_DEVICE);
		kfree(p->buf[i]);
	}
	/* p, its arrays and the ring are managed: devres frees them at unbind */
}

static int __init mini_init(void)
{
	return mini_probe(mini_pdev, mini_bar);
}

static void __exit mini_exit(void)
{
	mini_remove(mini_pdev);
}

module_init(mini_init);
module_exit(mini_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("dmacheck tests");
MODULE_DESCRIPTION("a receive ring written with the everyday kernel helpers");

/* Commands queued for the device, each with its mapped buffer, under a mutex. */
struct mini_cmd {
	struct list_head node;
	void *buf;
	dma_addr_t dma;
};

static LIST_HEAD(mini_cmds);
static DEFINE_MUTEX(mini_cmds_lock);
static atomic_t mini_in_flight = ATOMIC_INIT(0);

static int mini_queue_cmd(struct device *dev, size_t len)
{
	struct mini_cmd *cmd = kzalloc(sizeof(*cmd), GFP_KERNEL);

	if (!cmd)
		return -ENOMEM;
	cmd->buf = kzalloc(len, GFP_KERNEL);
	cmd->dma = dma_map_single(dev, cmd->buf, len, DMA_TO_DEVICE);
	if (dma_mapping_error(dev, cmd->dma)) {
		kfree(cmd->buf);
		kfree(cmd);
		return -ENOMEM;
	}
	mutex_lock(&mini_cmds_lock);
	list_add_tail(&cmd->node, &mini_cmds);
	atomic_inc(&mini_in_flight);
	mutex_unlock(&mini_cmds_lock);
	return 0;
}

static void mini_complete_all(struct device *dev, size_t len)
{
	struct mini_cmd *cmd, *next;

	mutex_lock(&mini_cmds_lock);
	list_for_each_entry_safe(cmd, next, &mini_cmds, node) {
		dma_unmap_single(dev, cmd->dma, len, DMA_TO_DEVICE);
		list_del(&cmd->node);
		kfree(cmd->buf);
		kfree(cmd);
		if (atomic_dec_and_test(&mini_in_flight))
			pr_debug("all commands done\n");
	}
	mutex_unlock(&mini_cmds_lock);
}

/* ---- The bus: main() acts as the hardware ------------------------------------------------ */

static u32 bar[4];	/* RING_LO, RING_HI, DOORBELL, spare */

static void device_receives(unsigned int i, const char *packet)
{
	struct device *dev = &mini_pdev->dev;
	dma_addr_t desc = mini->ring_dma + i * sizeof(struct mini_desc);
	dma_addr_t buf = le64_to_cpu(mini->ring[i].addr);
	__le32 ctrl = cpu_to_le32(FIELD_PREP(MINI_DESC_LEN, strlen(packet) + 1));

	CHECK(dmacheck_device_write(dev, buf, packet, strlen(packet) + 1) == 0);
	CHECK(dmacheck_device_write(dev, desc + offsetof(struct mini_desc, ctrl), &ctrl,
				    sizeof(ctrl)) == 0);
}

static void run_irq(void *data)
{
	mini_irq(17, data);
}

int main(void)
{
	struct device *dev;
	void *managed, *plain;
	u64 ring;

	mini_pdev = dmacheck_pci_dev_create("0000:00:04.0", "mini", 0);
	mini_bar = bar;
	dev = &mini_pdev->dev;

	CLEAN(CHECK(dmacheck_module_init() == 0));
	ring = ((u64)bar[MINI_REG_RING_HI / 4] << 32) | bar[MINI_REG_RING_LO / 4];
	CHECK(ring == mini->ring_dma);
	CHECK(FIELD_GET(MINI_DESC_LEN, le32_to_cpu(mini->ring[0].ctrl)) == MINI_BUF_LEN);
	CLEAN(device_receives(0, "hello"));
	CLEAN(device_receives(1, "world!"));
	CLEAN(dmacheck_run_in_irq(run_irq, mini));
	CHECK(mini->rx_bytes == 11 && mini->next == 2 && bar[MINI_REG_DOORBELL / 4] == 2);
	CHECK(min(3, 5) == 3 && max_t(int, -1, 2) == 2 && clamp(9, 1, 4) == 4);
	CHECK(ALIGN(13u, 8) == 16 && IS_ALIGNED(64ul, 64) && DIV_ROUND_UP(10, 4) == 3);
	CHECK(GENMASK(7, 4) == 0xf0 && BIT_ULL(40) == 1ULL << 40);
	CHECK(!WARN_ON(1 + 1 == 3));
	CHECK(dma_need_unmap(dev) && dma_can_mmap(dev) && dma_get_merge_boundary(dev) == 0);
	CHECK(dma_coerce_mask_and_coherent(dev, DMA_BIT_MASK(32)) == 0);
	CHECK(dev->dma_mask == &dev->coherent_dma_mask && dma_get_mask(dev) == DMA_BIT_MASK(32));
	CHECK(virt_addr_valid(mini->ring) && !virt_addr_valid(&ring));
	CLEAN(CHECK(mini_queue_cmd(dev, 256) == 0 && mini_queue_cmd(dev, 256) == 0));
	CHECK(atomic_read(&mini_in_flight) == 2 && !list_empty(&mini_cmds));
	CHECK(dmacheck_live_entries(dev) == 1 + MINI_RING + 2);
	CLEAN(mini_complete_all(dev, 256));
	CHECK(atomic_read(&mini_in_flight) == 0 && list_empty(&mini_cmds));
	CLEAN(dmacheck_module_exit());
	CHECK(dmacheck_live_entries(dev) == 1);	/* the managed ring, nothing mapped */
	CLEAN(dmacheck_device_release(dev));	/* devres: the ring and the kmalloc memory */
	CHECK(dmacheck_live_entries(dev) == 0);

	/* devm_kfree: of managed memory, early; of memory devm_kmalloc did not give, reported */
	dev = dmacheck_device_create("mini1", "mini", 0);
	{
		static const char cfg[] = "mtu=1500";
		char *copy = kstrdup(cfg, GFP_KERNEL), *bytes = kmemdup(cfg, 4, GFP_KERNEL);
		char *managed_copy = devm_kmemdup(dev, cfg, sizeof(cfg), GFP_KERNEL);
		struct scatterlist sgl[2];
		char out[sizeof(cfg)] = "";
		void *halves[2] = { kmalloc(4, GFP_KERNEL), kmalloc(64, GFP_KERNEL) };

		CHECK(copy && strcmp(copy, cfg) == 0 && bytes && memcmp(bytes, "mtu=", 4) == 0);
		CHECK(managed_copy && strcmp(managed_copy, cfg) == 0 && !kstrdup(NULL, GFP_KERNEL));
		sg_init_table(sgl, 2);
		sg_set_buf(&sgl[0], halves[0], 4);
		sg_set_buf(&sgl[1], halves[1], 64);
		CHECK(sg_copy_from_buffer(sgl, 2, cfg, sizeof(cfg)) == sizeof(cfg));
		CHECK(memcmp(halves[0], "mtu=", 4) == 0);
		CHECK(sg_copy_to_buffer(sgl, 2, out, sizeof(out)) == sizeof(cfg));
		CHECK(strcmp(out, cfg) == 0);
		kfree(halves[0]);
		kfree(halves[1]);
		kfree(copy);
		kfree(bytes);
	}
	managed = devm_kmalloc(dev, 100, GFP_KERNEL);
	plain = kmalloc(100, GFP_KERNEL);
	CHECK(managed && plain);
	CLEAN(devm_kfree(dev, managed));
	CLEAN(devm_kfree(dev, NULL));
	EXPECT(devm_kfree(dev, plain), "managed-free-mismatch");
	CLEAN(kfree(plain));	/* devm_kfree left it allocated */
	EXPECT(devm_kfree(dmacheck_device_create("mini2", "mini", 0), devm_kzalloc(dev, 8, GFP_KERNEL)),
	       "managed-free-mismatch");	/* another device's managed memory */
	CLEAN(dmacheck_device_release(dev));
	return finish();
}
