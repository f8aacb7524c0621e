/*
 * Dropping dmacheck into an existing kernel-code harness. The harness (tests/c/harness/include,
 * first on the include path) has its own <linux/types.h>, <linux/kernel.h> and <linux/device.h>
 * with its own `struct device`; it takes only dmacheck's DMA headers (<linux/dma-mapping.h>,
 * <linux/scatterlist.h>, <linux/dmapool.h> and the memory headers they include). Its device
 * pointers are registered on first use, named by the harness's hook, or attached explicitly;
 * dmacheck never touches the structures.
 */
#include <linux/kernel.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/dmapool.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <dmacheck.h>

#include "expect.h"

/* ---- Driver code, as the harness compiles it ---------------------------------------------- */

struct vring_desc {
	__u64 addr;
	__u32 len;
	__u16 flags;
	__u16 next;
};

struct vq {
	struct device *dev;
	struct vring_desc *desc;
	dma_addr_t desc_dma;
};

static int vq_create(struct vq *vq, struct device *dev)
{
	vq->dev = dev;
	vq->desc = dma_alloc_coherent(dev, 16 * sizeof(*vq->desc), &vq->desc_dma, GFP_KERNEL);
	return vq->desc ? 0 : -ENOMEM;
}

static void vq_destroy(struct vq *vq)
{
	dma_free_coherent(vq->dev, 16 * sizeof(*vq->desc), vq->desc, vq->desc_dma);
}

/* Add an outgoing buffer of two parts as one sg list. */
static int vq_add_out(struct vq *vq, struct scatterlist *sg, void *a, void *b, unsigned int len)
{
	int n;

	sg_init_table(sg, 2);
	sg_set_buf(&sg[0], a, len);
	sg_set_buf(&sg[1], b, len);
	n = dma_map_sg(vq->dev, sg, 2, DMA_TO_DEVICE);
	if (!n)
		return -EIO;
	vq->desc[0].addr = sg_dma_address(&sg[0]);
	vq->desc[0].len = sg_dma_len(&sg[0]);
	return n;
}

/* ---- The harness ---------------------------------------------------------------------------- */

/* The harness names its devices from its own fields; a device named "refused" is not one. */
static int describe(const struct device *dev, struct dmacheck_device_info *info)
{
	if (dev->init_name && strcmp(dev->init_name, "refused") == 0)
		return -1;
	info->name = dev->init_name;
	info->driver = "virtio_harness";
	info->dma_mask = DMA_BIT_MASK(64);
	return 0;
}

int main(void)
{
	struct device early = { .init_name = "early" };
	struct device vda = { .init_name = "vda" };
	struct device vdb = { .init_name = "vdb" };
	struct device refused = { .init_name = "refused" };
	struct dmacheck_device_info info = { .name = "blk0", .driver = "virtio_blk",
					     .dma_mask = DMA_BIT_MASK(32) };
	char *a = kmalloc(512, GFP_KERNEL), *b = kmalloc(512, GFP_KERNEL);
	struct scatterlist sg[2];
	struct dma_pool *pool;
	struct vq vq;
	dma_addr_t h;
	void *blk;
	int n;

	/* Before any hook: registered on first use with the defaults (32-bit masks). */
	CHECK(dma_get_mask(&early) == DMA_BIT_MASK(32));
	CLEAN(h = dma_map_single(&early, a, 64, DMA_TO_DEVICE));
	CHECK(!dma_mapping_error(&early, h));
	CLEAN(dma_unmap_single(&early, h, 64, DMA_TO_DEVICE));

	dmacheck_set_device_hook(describe);

	/* Named by the hook on first use; driver code runs unchanged. */
	CHECK(dma_get_mask(&vda) == DMA_BIT_MASK(64));
	CLEAN(CHECK(vq_create(&vq, &vda) == 0));
	CLEAN(n = vq_add_out(&vq, sg, a, b, 256));
	CHECK(n == 2 && vq.desc[0].len == 256);
	CLEAN(dma_unmap_sg(&vda, sg, 2, DMA_TO_DEVICE));
	/* Its mistakes are reported under its name (the runner reads "on vda (virtio_harness)"). */
	EXPECT(dma_unmap_sg(&vda, sg, 2, DMA_TO_DEVICE), "double-unmap");
	CLEAN(vq_destroy(&vq));

	/* Attached explicitly: name, driver and masks as given; the masks then live in dmacheck. */
	CHECK(dmacheck_device_attach(&vdb, &info) == 0);
	CHECK(dmacheck_device_attach(&vdb, &info) == -EBUSY);
	CHECK(dma_get_mask(&vdb) == DMA_BIT_MASK(32));
	CHECK(dma_set_mask_and_coherent(&vdb, DMA_BIT_MASK(40)) == 0);
	CHECK(dma_get_mask(&vdb) == DMA_BIT_MASK(40) && vdb.dma_mask == NULL);
	CLEAN(pool = dma_pool_create("req", &vdb, 64, 8, 0));
	CLEAN(blk = dma_pool_alloc(pool, GFP_KERNEL, &h));
	CLEAN(dma_pool_free(pool, blk, h));
	CLEAN(dma_pool_destroy(pool));
	/* Released (unbind): what is still live is a leak, named; later calls are reported. */
	CLEAN(h = dma_map_single(&vdb, a, 64, DMA_FROM_DEVICE));
	CHECK(!dma_mapping_error(&vdb, h));
	EXPECT(dmacheck_device_release(&vdb), "leak");
	EXPECT(dma_unmap_single(&vdb, h, 64, DMA_FROM_DEVICE), "device-released");
	/* The structure used again for a new device: attach replaces the released one. */
	CHECK(dmacheck_device_attach(&vdb, NULL) == 0);
	CLEAN(h = dma_map_single(&vdb, a, 64, DMA_FROM_DEVICE));
	CHECK(!dma_mapping_error(&vdb, h));
	CLEAN(dma_unmap_single(&vdb, h, 64, DMA_FROM_DEVICE));

	/* What the hook refuses, NULL, and pointers that cannot be a structure: invalid-device. */
	EXPECT(h = dma_map_single(&refused, a, 64, DMA_TO_DEVICE), "invalid-device");
	EXPECT(h = dma_map_single(NULL, a, 64, DMA_TO_DEVICE), "invalid-device");
	EXPECT(h = dma_map_single((struct device *)(uintptr_t)0x10, a, 64, DMA_TO_DEVICE),
	       "invalid-device");
	CHECK(dmacheck_device_attach(NULL, NULL) == -EINVAL);

	kfree(a);
	kfree(b);
	dmacheck_device_release(&early);
	dmacheck_device_release(&vda);
	dmacheck_device_release(&vdb);
	return finish();
}
