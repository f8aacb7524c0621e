/*
 * The `ownership` family through the C ABI: the test acts as the device with
 * dmacheck_device_read/dmacheck_device_write, which are checked against the device's mappings
 * (and return -EFAULT, copying nothing, when refused); a CPU write while the device owns a
 * buffer is reported when the buffer is handed back; writes past the end of coherent memory are
 * found at the free.
 */
#include <stdint.h>

#include <linux/dma-mapping.h>
#include <linux/slab.h>
#include <dmacheck.h>

#include "expect.h"

int main(void)
{
	struct device *dev = dmacheck_device_create("own0", "owntest", 0);
	char *buf = kzalloc(256, GFP_KERNEL), *out = kzalloc(256, GFP_KERNEL);
	char tmp[32] = "untouched";
	dma_addr_t rx, tx;
	int rc;

	rx = dma_map_single(dev, buf, 256, DMA_FROM_DEVICE);
	CHECK(!dma_mapping_error(dev, rx));
	tx = dma_map_single(dev, out, 256, DMA_TO_DEVICE);
	CHECK(!dma_mapping_error(dev, tx));

	/* Good accesses. */
	CLEAN(rc = dmacheck_device_write(dev, rx, "hello", 6));
	CHECK(rc == 0);
	CLEAN(rc = dmacheck_device_read(dev, tx + 16, tmp, 16));
	CHECK(rc == 0);

	/* Refused accesses: reported, nothing copied, -EFAULT. */
	memcpy(tmp, "untouched", 10);
	EXPECT(rc = dmacheck_device_read(dev, 0x1000, tmp, 4), "device-access-unmapped");
	CHECK(rc == -EFAULT && strcmp(tmp, "untouched") == 0);
	/* A CPU pointer is no bus address. */
	EXPECT(rc = dmacheck_device_write(dev, (dma_addr_t)(uintptr_t)buf, "x", 1),
	       "device-access-unmapped");
	CHECK(rc == -EFAULT);
	EXPECT(rc = dmacheck_device_write(dev, rx + 250, tmp, 16), "device-access-overrun");
	CHECK(rc == -EFAULT);
	EXPECT(rc = dmacheck_device_read(dev, rx, tmp, 4), "device-access-direction");
	EXPECT(rc = dmacheck_device_write(dev, tx, "x", 1), "device-access-direction");
	CHECK(rc == -EFAULT);

	/*
	 * The CPU owns the buffer between the syncs: the device must keep off. It is reported,
	 * and the access happens, as it would on the bus.
	 */
	dma_sync_single_for_cpu(dev, rx, 256, DMA_FROM_DEVICE);
	CHECK(strcmp(buf, "hello") == 0);
	EXPECT(rc = dmacheck_device_write(dev, rx, "late", 5), "device-access-cpu-owned");
	CHECK(rc == 0 && strcmp(buf, "late") == 0);
	dma_sync_single_for_device(dev, rx, 256, DMA_FROM_DEVICE);
	CLEAN(rc = dmacheck_device_write(dev, rx, "again", 6));

	/* A CPU write while the device owns the buffer, found when it is handed back. */
	memcpy(out, "changed under the device", 25);
	EXPECT(dma_unmap_single(dev, tx, 256, DMA_TO_DEVICE), "cpu-write-device-owned");

	/* The device after the unmap. */
	CLEAN(dma_unmap_single(dev, rx, 256, DMA_FROM_DEVICE));
	EXPECT(rc = dmacheck_device_write(dev, rx, "gone", 5), "device-access-after-unmap");
	CHECK(rc == -EFAULT);

	/* A write past the end of coherent memory lands in its guard bytes. */
	dma_addr_t ch;
	char *ring = dma_alloc_coherent(dev, 100, &ch, GFP_KERNEL);
	CLEAN(rc = dmacheck_device_write(dev, ch, "ring", 4));
	CHECK(rc == 0 && memcmp(ring, "ring", 4) == 0);
	memset(ring, 0x55, 104); /* 4 bytes too many */
	EXPECT(dma_free_coherent(dev, 100, ring, ch), "coherent-overrun");

	/* Bad arguments of the device model itself. */
	CHECK(dmacheck_device_read(dev, rx, NULL, 4) == -EINVAL);
	CHECK(dmacheck_device_write(dev, rx, NULL, 4) == -EINVAL);

	kfree(buf);
	kfree(out);
	CHECK(dmacheck_live_entries(NULL) == 0);
	return finish();
}
