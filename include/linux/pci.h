/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/pci.h>: `struct pci_dev` and the pci_* DMA calls of DMA-mapping.txt, which are the
 * dma_* calls on &pdev->dev (as the kernel's pci-dma-compat.h has them). Directions are the
 * PCI_DMA_* ints, equal to the DMA_* values. pci_alloc_consistent allocates with GFP_ATOMIC.
 *
 * A NULL pci_dev is what DMA-mapping.txt says to pass "for PCI like buses where devices don't
 * have struct pci_dev (like ISA, EISA)": the calls then use an ISA device with 24-bit masks
 * (as the x86 fallback device did), whose memory must lie below 16 MiB (GFP_DMA). Only the
 * mask setters refuse NULL (-EIO).
 *
 * The driver model, for a test playing the PCI bus (<dmacheck_pci.h> has the harness side):
 * `struct pci_driver` with its id table, pci_register_driver() / module_pci_driver(), and the
 * probe-time calls (enable, bus master, regions, BAR mapping, configuration space, IRQ
 * vectors, pci_enable_msi()). `struct pci_dev` has the fields drivers read, with the kernel's
 * names: `bus`, the ids, subsystem ids, `class`, `revision`, `pin`, `irq` (the INTx line, or MSI
 * vector 0 while MSI is enabled), `resource[]` (what pci_resource_start()/len()/flags() read)
 * and `msi_enabled`/`msix_enabled`; configuration space reads them. The rest of what the kernel
 * keeps (IRQ vectors, enable count, requested regions, the other configuration registers, the
 * bound driver) lives in a table beside it, one for the whole program (a weak definition),
 * holding DMACHECK_PCI_MAX_DEVICES devices and DMACHECK_PCI_MAX_DRIVERS drivers.
 *
 * BARs are plain memory the harness gives (dmacheck_pci_set_bar()): the bus address
 * pci_resource_start() returns is that memory's CPU address, and pci_iomap(),
 * pci_ioremap_bar(), pcim_iomap() and ioremap() of that address return it. A device whose
 * probe fails, or that is removed, has ended: it is never probed again. Registering a driver probes the present devices
 * its table matches (as the kernel's does); unregistering it, or the harness removing the
 * device, calls remove(), frees what pcim_ and devm_ calls took, and ends the device
 * (dmacheck_device_release(): every DMA mapping or allocation left is reported as a leak, and
 * later DMA calls on it are reported). A probe that fails ends the device the same way, so
 * what its error path forgot is reported too. Misuse the kernel warns about (disabling a
 * disabled device) prints the kernel's warning.
 */
#ifndef _DMACHECK_LINUX_PCI_H
#define _DMACHECK_LINUX_PCI_H

#include <linux/types.h>
#include <linux/ioport.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/dmapool.h>
#include <linux/scatterlist.h>
#include <linux/mod_devicetable.h>
#include <linux/pci_regs.h>
#include <linux/pci_ids.h>
#include <linux/pm.h>
#include <linux/module.h>
#include <linux/errno.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/interrupt.h>
#include <dmacheck.h>

#define PCI_STD_RESOURCES	0
#define PCI_STD_RESOURCE_END	5
#define PCI_ROM_RESOURCE	6
#define PCI_NUM_RESOURCES	7	/* the six BARs and the ROM: no IOV or bridge windows */

/* The bus a device sits on: its number is the BB of the device's name, DDDD:BB:SS.F. */
struct pci_bus {
	struct pci_bus *parent;	/* NULL: a root bus */
	unsigned char number;
};

#define PCI_DEVFN(slot, func)	((((slot) & 0x1f) << 3) | ((func) & 0x07))
#define PCI_SLOT(devfn)		(((devfn) >> 3) & 0x1f)
#define PCI_FUNC(devfn)		((devfn) & 0x07)

/*
 * The fields drivers read, with the kernel's names and types; dmacheck_pci_dev_create()
 * allocates it zeroed (the layout `CPciDev` mirrors), and the harness of <dmacheck_pci.h> fills
 * in the rest as enumeration would.
 */
struct pci_dev {
	unsigned short vendor;
	unsigned short device;
	unsigned int devfn;
	u64 dma_mask;		/* dev.dma_mask points here */
	struct device dev;
	struct pci_bus *bus;
	unsigned short subsystem_vendor;
	unsigned short subsystem_device;
	unsigned int class;	/* 3 bytes: base class, subclass, programming interface */
	u8 revision;
	u8 pin;			/* the interrupt pin: 1 (INTA) when the device has interrupts */
	unsigned int irq;	/* the INTx line; vector 0 while MSI is enabled */
	struct resource resource[PCI_NUM_RESOURCES];
	unsigned int msi_enabled:1;
	unsigned int msix_enabled:1;
};

#define to_pci_dev(d) ((struct pci_dev *)((char *)(d) - offsetof(struct pci_dev, dev)))

#define PCI_DMA_BIDIRECTIONAL	DMA_BIDIRECTIONAL
#define PCI_DMA_TODEVICE	DMA_TO_DEVICE
#define PCI_DMA_FROMDEVICE	DMA_FROM_DEVICE
#define PCI_DMA_NONE		DMA_NONE

/* The device of NULL-pci_dev calls: ISA, 24-bit masks. */
struct device *dmacheck_isa_device(void);

static inline struct device *dmacheck_pci_dma_dev(struct pci_dev *hwdev)
{
	return hwdev ? &hwdev->dev : dmacheck_isa_device();
}

static inline const char *pci_name(const struct pci_dev *pdev)
{
	return dev_name(&pdev->dev);
}

static inline void *pci_get_drvdata(struct pci_dev *pdev)
{
	return dev_get_drvdata(&pdev->dev);
}

static inline void pci_set_drvdata(struct pci_dev *pdev, void *data)
{
	dev_set_drvdata(&pdev->dev, data);
}

static inline void *pci_alloc_consistent(struct pci_dev *hwdev, size_t size,
					 dma_addr_t *dma_handle)
{
	return (dma_alloc_coherent)(dmacheck_pci_dma_dev(hwdev), size, dma_handle, GFP_ATOMIC);
}

static inline void *pci_zalloc_consistent(struct pci_dev *hwdev, size_t size,
					  dma_addr_t *dma_handle)
{
	return (dma_alloc_coherent)(dmacheck_pci_dma_dev(hwdev), size, dma_handle,
				  GFP_ATOMIC | __GFP_ZERO);
}

static inline void pci_free_consistent(struct pci_dev *hwdev, size_t size, void *vaddr,
				       dma_addr_t dma_handle)
{
	(dma_free_coherent)(dmacheck_pci_dma_dev(hwdev), size, vaddr, dma_handle);
}

static inline dma_addr_t pci_map_single(struct pci_dev *hwdev, void *ptr, size_t size,
					int direction)
{
	return (dma_map_single)(dmacheck_pci_dma_dev(hwdev), ptr, size,
			      (enum dma_data_direction)direction);
}

static inline void pci_unmap_single(struct pci_dev *hwdev, dma_addr_t dma_addr, size_t size,
				    int direction)
{
	(dma_unmap_single)(dmacheck_pci_dma_dev(hwdev), dma_addr, size,
			 (enum dma_data_direction)direction);
}

static inline dma_addr_t pci_map_page(struct pci_dev *hwdev, struct page *page,
				      unsigned long offset, size_t size, int direction)
{
	return (dma_map_page)(dmacheck_pci_dma_dev(hwdev), page, offset, size,
			    (enum dma_data_direction)direction);
}

static inline void pci_unmap_page(struct pci_dev *hwdev, dma_addr_t dma_address, size_t size,
				  int direction)
{
	(dma_unmap_page)(dmacheck_pci_dma_dev(hwdev), dma_address, size,
		       (enum dma_data_direction)direction);
}

static inline int pci_map_sg(struct pci_dev *hwdev, struct scatterlist *sg, int nents,
			     int direction)
{
	return (dma_map_sg)(dmacheck_pci_dma_dev(hwdev), sg, nents,
			  (enum dma_data_direction)direction);
}

static inline void pci_unmap_sg(struct pci_dev *hwdev, struct scatterlist *sg, int nents,
				int direction)
{
	(dma_unmap_sg)(dmacheck_pci_dma_dev(hwdev), sg, nents, (enum dma_data_direction)direction);
}

/* The older syncs: see dma_sync_single() in <linux/dma-mapping.h> for how they are carried out. */
static inline void pci_dma_sync_single(struct pci_dev *hwdev, dma_addr_t dma_handle,
				       size_t size, int direction)
{
	(dma_sync_single)(dmacheck_pci_dma_dev(hwdev), dma_handle, size,
			(enum dma_data_direction)direction);
}

static inline void pci_dma_sync_sg(struct pci_dev *hwdev, struct scatterlist *sg, int nelems,
				   int direction)
{
	(dma_sync_sg)(dmacheck_pci_dma_dev(hwdev), sg, nelems, (enum dma_data_direction)direction);
}

static inline void pci_dma_sync_single_for_cpu(struct pci_dev *hwdev, dma_addr_t dma_handle,
					       size_t size, int direction)
{
	(dma_sync_single_for_cpu)(dmacheck_pci_dma_dev(hwdev), dma_handle, size,
				(enum dma_data_direction)direction);
}

static inline void pci_dma_sync_single_for_device(struct pci_dev *hwdev,
						  dma_addr_t dma_handle, size_t size,
						  int direction)
{
	(dma_sync_single_for_device)(dmacheck_pci_dma_dev(hwdev), dma_handle, size,
				   (enum dma_data_direction)direction);
}

static inline void pci_dma_sync_sg_for_cpu(struct pci_dev *hwdev, struct scatterlist *sg,
					   int nelems, int direction)
{
	(dma_sync_sg_for_cpu)(dmacheck_pci_dma_dev(hwdev), sg, nelems,
			    (enum dma_data_direction)direction);
}

static inline void pci_dma_sync_sg_for_device(struct pci_dev *hwdev, struct scatterlist *sg,
					      int nelems, int direction)
{
	(dma_sync_sg_for_device)(dmacheck_pci_dma_dev(hwdev), sg, nelems,
			       (enum dma_data_direction)direction);
}

/* pci_dma_mapping_error(hwdev, addr), or the one-argument form of kernels before 2.6.27. */
static inline int dmacheck_pci_dma_mapping_error(struct pci_dev *hwdev, dma_addr_t dma_addr)
{
	return (dma_mapping_error)(dmacheck_pci_dma_dev(hwdev), dma_addr);
}
#define pci_dma_mapping_error(...)					\
	DMACHECK_PICK2(__VA_ARGS__, dmacheck_pci_dma_mapping_error,	\
		       dmacheck_mapping_error_nodev, )(__VA_ARGS__)

static inline int pci_dma_supported(struct pci_dev *hwdev, u64 mask)
{
	return (dma_supported)(dmacheck_pci_dma_dev(hwdev), mask);
}

static inline int pci_set_dma_mask(struct pci_dev *dev, u64 mask)
{
	return (dma_set_mask)(dev ? &dev->dev : NULL, mask);
}

static inline int pci_set_consistent_dma_mask(struct pci_dev *dev, u64 mask)
{
	return (dma_set_coherent_mask)(dev ? &dev->dev : NULL, mask);
}

/*
 * pci_pool: dma_pool on &pdev->dev. pci_pool_create takes the five arguments of DMA-API.txt,
 * or the six of 2.4's DMA-mapping.txt (the trailing SLAB_ flags are ignored).
 */
#define pci_pool dma_pool
#define DMACHECK_FIRST(a, ...) a
#define pci_pool_create(name, pdev, size, align, ...)				\
	dma_pool_create(name, dmacheck_pci_dma_dev(pdev), size, align,		\
			DMACHECK_FIRST(__VA_ARGS__, ))
#define pci_pool_alloc(pool, flags, handle)	dma_pool_alloc(pool, flags, handle)
#define pci_pool_zalloc(pool, flags, handle)	dma_pool_zalloc(pool, flags, handle)
#define pci_pool_free(pool, vaddr, addr)	dma_pool_free(pool, vaddr, addr)
#define pci_pool_destroy(pool)			dma_pool_destroy(pool)


/* ---- The driver model ---- */

#define PCI_STD_NUM_BARS	6

#define PCI_IRQ_INTX		(1 << 0)
#define PCI_IRQ_LEGACY		PCI_IRQ_INTX
#define PCI_IRQ_MSI		(1 << 1)
#define PCI_IRQ_MSIX		(1 << 2)
#define PCI_IRQ_AFFINITY	(1 << 3)
#define PCI_IRQ_ALL_TYPES	(PCI_IRQ_INTX | PCI_IRQ_MSI | PCI_IRQ_MSIX)

/* Entries of a `struct pci_device_id` table. */
#define PCI_DEVICE(vend, dev) \
	.vendor = (vend), .device = (dev), .subvendor = PCI_ANY_ID, .subdevice = PCI_ANY_ID
#define PCI_DEVICE_SUB(vend, dev, subvend, subdev) \
	.vendor = (vend), .device = (dev), .subvendor = (subvend), .subdevice = (subdev)
#define PCI_DEVICE_CLASS(dev_class, dev_class_mask) \
	.class = (dev_class), .class_mask = (dev_class_mask), .vendor = PCI_ANY_ID, \
	.device = PCI_ANY_ID, .subvendor = PCI_ANY_ID, .subdevice = PCI_ANY_ID
#define PCI_VDEVICE(vend, dev) \
	.vendor = PCI_VENDOR_ID_##vend, .device = (dev), .subvendor = PCI_ANY_ID, \
	.subdevice = PCI_ANY_ID, 0, 0
#define PCI_DEVICE_DATA(vend, dev, data) \
	.vendor = PCI_VENDOR_ID_##vend, .device = PCI_DEVICE_ID_##vend##_##dev, \
	.subvendor = PCI_ANY_ID, .subdevice = PCI_ANY_ID, 0, 0, \
	.driver_data = (kernel_ulong_t)(data)

struct pci_driver {
	const char *name;
	const struct pci_device_id *id_table;	/* ends with an all-zero entry */
	int (*probe)(struct pci_dev *dev, const struct pci_device_id *id);
	void (*remove)(struct pci_dev *dev);
	void (*shutdown)(struct pci_dev *dev);
	struct device_driver driver;		/* .driver.pm: dmacheck_pci_suspend()/resume() */
};

/*
 * What the kernel keeps around `struct pci_dev` (the BARs, ids, revision and IRQ lines are in
 * it, the one place they are kept).
 */
struct dmacheck_pci_state {
	struct pci_dev *pdev;		/* NULL: a free entry */
	struct pci_driver *driver;	/* bound to */
	unsigned int irq_vectors_offered;	/* the vectors the device has */
	unsigned int irq_vectors;		/* allocated by pci_alloc_irq_vectors() */
	unsigned int irq_type;			/* of those: PCI_IRQ_INTX, _MSI or _MSIX */
	unsigned int irq_base;			/* the IRQ of MSI or MSI-X vector 0 */
	unsigned int intx_irq;			/* pdev->irq, kept while MSI holds vector 0 there */
	unsigned int enable_count;
	unsigned int regions;		/* a bit per BAR requested */
	unsigned int managed_regions;	/* those pcim_iomap_regions() took: released at unbind */
	bool managed;			/* pcim_enable_device(): disabled at unbind */
	bool master;
	bool present;			/* on the bus: dmacheck_pci_probe() */
	bool gone;			/* removed, or its probe failed: the device has ended */
	void __iomem *iomap_table[PCI_STD_NUM_BARS];	/* pcim_iomap() */
	/*
	 * Configuration space; the ids, revision, class, command bits (I/O, memory, bus master)
	 * and interrupt pin are kept up to date from `struct pci_dev` and the fields above at
	 * each access.
	 */
	u8 config[PCI_CFG_SPACE_SIZE];
};

#define DMACHECK_PCI_MAX_DEVICES 16
#define DMACHECK_PCI_MAX_DRIVERS 8
#define DMACHECK_PCI_FIRST_INTX	16	/* device i's INTx line is IRQ 16 + i */
#define DMACHECK_PCI_FIRST_IRQ	32	/* its MSI or MSI-X vectors are IRQs 32 + 32 * i ... */
#define DMACHECK_PCI_MAX_VECTORS 32

struct dmacheck_pci_bus {
	struct dmacheck_pci_state devices[DMACHECK_PCI_MAX_DEVICES];
	struct pci_driver *drivers[DMACHECK_PCI_MAX_DRIVERS];
	struct pci_bus buses[DMACHECK_PCI_MAX_DEVICES];	/* the devices' buses, one a number */
	unsigned int nr_buses;
};

__attribute__((weak)) struct dmacheck_pci_bus dmacheck_pci_bus;

/*
 * The bus of pdev, shared with the devices on the same bus: its number, and devfn unless the
 * harness set it, are read from the device's name (DDDD:BB:SS.F, as lspci shows it; bus 0 if
 * the name is not one).
 */
static inline struct pci_bus *dmacheck_pci_bus_of(struct pci_dev *pdev)
{
	unsigned int domain, number = 0, slot, fn;

	if (sscanf(pci_name(pdev), "%x:%x:%x.%x", &domain, &number, &slot, &fn) == 4 &&
	    !pdev->devfn)
		pdev->devfn = PCI_DEVFN(slot, fn);
	for (unsigned int i = 0; i < dmacheck_pci_bus.nr_buses; i++) {
		if (dmacheck_pci_bus.buses[i].number == (unsigned char)number)
			return &dmacheck_pci_bus.buses[i];
	}
	/* As many buses as devices: one is always free. */
	dmacheck_pci_bus.buses[dmacheck_pci_bus.nr_buses].number = (unsigned char)number;
	return &dmacheck_pci_bus.buses[dmacheck_pci_bus.nr_buses++];
}

/*
 * The state of pdev, made on first use (a device the harness has not described: no BARs). It
 * gives the device INTA, routed to a line of its own, in pdev->irq.
 */
static inline struct dmacheck_pci_state *dmacheck_pci_state(struct pci_dev *pdev)
{
	struct dmacheck_pci_state *free_entry = NULL;

	for (int i = 0; i < DMACHECK_PCI_MAX_DEVICES; i++) {
		struct dmacheck_pci_state *s = &dmacheck_pci_bus.devices[i];

		if (s->pdev == pdev)
			return s;
		if (!s->pdev && !free_entry)
			free_entry = s;
	}
	if (!free_entry) {
		fprintf(stderr, "dmacheck: more than %d PCI devices\n", DMACHECK_PCI_MAX_DEVICES);
		abort();
	}
	unsigned int place = (unsigned int)(free_entry - dmacheck_pci_bus.devices);

	*free_entry = (struct dmacheck_pci_state){
		.pdev = pdev,
		.irq_vectors_offered = 1,
		.irq_base = DMACHECK_PCI_FIRST_IRQ + DMACHECK_PCI_MAX_VECTORS * place,
	};
	/* One vector by default: the device has INTA, routed to its own line. */
	pdev->pin = 1;
	pdev->irq = DMACHECK_PCI_FIRST_INTX + place;
	pdev->bus = dmacheck_pci_bus_of(pdev);
	return free_entry;
}

/* A standard BAR the harness gave (resource[bar] describes it). */
static inline bool dmacheck_pci_bar_valid(struct pci_dev *pdev, int bar)
{
	return bar >= 0 && bar < PCI_STD_NUM_BARS && pdev->resource[bar].end;
}

/* The memory standing for BAR bar: its bus address is that memory's CPU address. */
static inline void *dmacheck_pci_bar_mem(struct pci_dev *pdev, int bar)
{
	return (void *)(uintptr_t)pdev->resource[bar].start;
}

/* The kernel's macros over pdev->resource[]; a number past the resources reads as no BAR. */
static inline resource_size_t pci_resource_start(struct pci_dev *pdev, int bar)
{
	return bar >= 0 && bar < PCI_NUM_RESOURCES ? pdev->resource[bar].start : 0;
}

static inline resource_size_t pci_resource_end(struct pci_dev *pdev, int bar)
{
	return bar >= 0 && bar < PCI_NUM_RESOURCES ? pdev->resource[bar].end : 0;
}

static inline resource_size_t pci_resource_len(struct pci_dev *pdev, int bar)
{
	return pci_resource_end(pdev, bar)
		? pci_resource_end(pdev, bar) - pci_resource_start(pdev, bar) + 1 : 0;
}

static inline unsigned long pci_resource_flags(struct pci_dev *pdev, int bar)
{
	return bar >= 0 && bar < PCI_NUM_RESOURCES ? pdev->resource[bar].flags : 0;
}

/* The BARs whose flags include any of flags, a bit each. */
static inline int pci_select_bars(struct pci_dev *pdev, unsigned long flags)
{
	int bars = 0;

	for (int i = 0; i < PCI_STD_NUM_BARS; i++) {
		if (pci_resource_flags(pdev, i) & flags)
			bars |= 1 << i;
	}
	return bars;
}

static inline int pci_enable_device(struct pci_dev *pdev)
{
	dmacheck_pci_state(pdev)->enable_count++;
	return 0;
}

#define pci_enable_device_mem(pdev)	pci_enable_device(pdev)
#define pci_enable_device_io(pdev)	pci_enable_device(pdev)

/* Enabled until the driver unbinds, with the regions and iomaps it takes after. */
static inline int pcim_enable_device(struct pci_dev *pdev)
{
	dmacheck_pci_state(pdev)->managed = true;
	return pci_enable_device(pdev);
}

static inline void pci_disable_device(struct pci_dev *pdev)
{
	struct dmacheck_pci_state *s = dmacheck_pci_state(pdev);

	if (!s->enable_count) {
		fprintf(stderr, "WARNING: %s: disabling already-disabled device\n", pci_name(pdev));
		return;
	}
	if (--s->enable_count == 0)
		s->master = false;
}

static inline int pci_is_enabled(struct pci_dev *pdev)
{
	return dmacheck_pci_state(pdev)->enable_count > 0;
}

static inline void pci_set_master(struct pci_dev *pdev)
{
	dmacheck_pci_state(pdev)->master = true;
}

static inline void pci_clear_master(struct pci_dev *pdev)
{
	dmacheck_pci_state(pdev)->master = false;
}

/* The regions of the BARs in mask; -EBUSY, taking none, if one of them is taken already. */
static inline int pci_request_selected_regions(struct pci_dev *pdev, int mask, const char *name)
{
	struct dmacheck_pci_state *s = dmacheck_pci_state(pdev);

	(void)name;
	mask &= pci_select_bars(pdev, IORESOURCE_MEM | IORESOURCE_IO);
	if (s->regions & (unsigned int)mask)
		return -EBUSY;
	s->regions |= (unsigned int)mask;
	return 0;
}

static inline void pci_release_selected_regions(struct pci_dev *pdev, int mask)
{
	dmacheck_pci_state(pdev)->regions &= ~(unsigned int)mask;
}

static inline int pci_request_regions(struct pci_dev *pdev, const char *name)
{
	return pci_request_selected_regions(pdev, (1 << PCI_STD_NUM_BARS) - 1, name);
}

static inline void pci_release_regions(struct pci_dev *pdev)
{
	pci_release_selected_regions(pdev, (1 << PCI_STD_NUM_BARS) - 1);
}

static inline int pci_request_region(struct pci_dev *pdev, int bar, const char *name)
{
	if (!dmacheck_pci_bar_valid(pdev, bar))
		return -EINVAL;
	return pci_request_selected_regions(pdev, 1 << bar, name);
}

static inline void pci_release_region(struct pci_dev *pdev, int bar)
{
	if (bar >= 0 && bar < PCI_STD_NUM_BARS)
		pci_release_selected_regions(pdev, 1 << bar);
}

static inline int pci_request_mem_regions(struct pci_dev *pdev, const char *name)
{
	return pci_request_selected_regions(pdev, pci_select_bars(pdev, IORESOURCE_MEM), name);
}

static inline void pci_release_mem_regions(struct pci_dev *pdev)
{
	pci_release_selected_regions(pdev, pci_select_bars(pdev, IORESOURCE_MEM));
}

/* The BAR's memory from offset, or NULL: no such BAR, or offset past its end (maxlen ignored). */
static inline void __iomem *pci_iomap_range(struct pci_dev *pdev, int bar, unsigned long offset,
					    unsigned long maxlen)
{
	(void)maxlen;
	if (!dmacheck_pci_bar_valid(pdev, bar) || offset >= pci_resource_len(pdev, bar))
		return NULL;
	return (char *)dmacheck_pci_bar_mem(pdev, bar) + offset;
}

static inline void __iomem *pci_iomap(struct pci_dev *pdev, int bar, unsigned long maxlen)
{
	return pci_iomap_range(pdev, bar, 0, maxlen);
}

#define pci_iomap_wc(pdev, bar, maxlen)	pci_iomap((pdev), (bar), (maxlen))

/* A memory BAR's memory; NULL for an I/O port BAR, as the kernel's. */
static inline void __iomem *pci_ioremap_bar(struct pci_dev *pdev, int bar)
{
	if (!(pci_resource_flags(pdev, bar) & IORESOURCE_MEM))
		return NULL;
	return pci_iomap(pdev, bar, 0);
}

#define pci_ioremap_wc_bar(pdev, bar)	pci_ioremap_bar((pdev), (bar))

static inline void pci_iounmap(struct pci_dev *pdev, void __iomem *addr)
{
	(void)pdev;
	(void)addr;
}

/*
 * ioremap() of a range inside a BAR, by the bus address pci_resource_start() gave: the BAR's
 * memory at that place. Any other range is no MMIO the harness gave: NULL, as a failed
 * mapping. (Here rather than in <linux/io.h>: only the PCI bus knows the BARs.)
 */
static inline void __iomem *ioremap(phys_addr_t offset, size_t size)
{
	for (int i = 0; i < DMACHECK_PCI_MAX_DEVICES; i++) {
		struct dmacheck_pci_state *s = &dmacheck_pci_bus.devices[i];

		for (int bar = 0; s->pdev && bar < PCI_STD_NUM_BARS; bar++) {
			phys_addr_t start = pci_resource_start(s->pdev, bar);
			resource_size_t len = pci_resource_len(s->pdev, bar);

			if (len && offset >= start && size <= len && offset - start <= len - size)
				return (char *)dmacheck_pci_bar_mem(s->pdev, bar) + (offset - start);
		}
	}
	return NULL;
}

#define ioremap_wc(offset, size)	ioremap((offset), (size))
#define ioremap_uc(offset, size)	ioremap((offset), (size))
#define ioremap_cache(offset, size)	ioremap((offset), (size))

static inline void iounmap(volatile void __iomem *addr)
{
	(void)addr;
}

/* Managed: nothing to undo here either. */
static inline void __iomem *devm_ioremap(struct device *dev, resource_size_t offset,
					 resource_size_t size)
{
	(void)dev;
	return ioremap(offset, size);
}

static inline void __iomem *pcim_iomap(struct pci_dev *pdev, int bar, unsigned long maxlen)
{
	void __iomem *addr = pci_iomap(pdev, bar, maxlen);

	if (addr)
		dmacheck_pci_state(pdev)->iomap_table[bar] = addr;
	return addr;
}

static inline void pcim_iounmap(struct pci_dev *pdev, void __iomem *addr)
{
	struct dmacheck_pci_state *s = dmacheck_pci_state(pdev);

	for (int i = 0; i < PCI_STD_NUM_BARS; i++) {
		if (s->iomap_table[i] == addr)
			s->iomap_table[i] = NULL;
	}
}

/* The BARs' mappings made by pcim_iomap() and pcim_iomap_regions(), by BAR. */
static inline void __iomem *const *pcim_iomap_table(struct pci_dev *pdev)
{
	return dmacheck_pci_state(pdev)->iomap_table;
}

/* Request and map the BARs in mask (managed: released when the driver unbinds). */
static inline int pcim_iomap_regions(struct pci_dev *pdev, int mask, const char *name)
{
	int err = pci_request_selected_regions(pdev, mask, name);

	if (err)
		return err;
	for (int i = 0; i < PCI_STD_NUM_BARS; i++) {
		if ((mask & (1 << i)) && dmacheck_pci_bar_valid(pdev, i) && !pcim_iomap(pdev, i, 0)) {
			pci_release_selected_regions(pdev, mask);
			return -ENOMEM;
		}
	}
	dmacheck_pci_state(pdev)->managed_regions |= (unsigned int)mask;
	return 0;
}

#define pcim_iomap_regions_request_all(pdev, mask, name) \
	pcim_iomap_regions((pdev), (mask), (name))

/* No vectors: pdev->irq is the INTx line again, MSI and MSI-X are off. */
static inline void dmacheck_pci_free_vectors(struct pci_dev *pdev, struct dmacheck_pci_state *s)
{
	if (s->irq_type == PCI_IRQ_MSI)
		pdev->irq = s->intx_irq;
	pdev->msi_enabled = 0;
	pdev->msix_enabled = 0;
	s->irq_vectors = 0;
	s->irq_type = 0;
}

/*
 * Between min_vecs and max_vecs of the vectors the device has (one unless the harness said
 * otherwise), tried as the kernel does: MSI-X, then MSI, then INTx (one vector, pdev->irq).
 * MSI puts vector 0 in pdev->irq until the vectors are freed; MSI-X leaves it the INTx line.
 * How many, or -ENOSPC.
 */
static inline int pci_alloc_irq_vectors(struct pci_dev *pdev, unsigned int min_vecs,
					unsigned int max_vecs, unsigned int flags)
{
	struct dmacheck_pci_state *s = dmacheck_pci_state(pdev);
	unsigned int n = s->irq_vectors_offered < max_vecs ? s->irq_vectors_offered : max_vecs;

	if (s->irq_vectors)
		return -EINVAL;	/* allocated already */
	if (n && n >= min_vecs && (flags & (PCI_IRQ_MSIX | PCI_IRQ_MSI))) {
		s->irq_vectors = n;
		if (flags & PCI_IRQ_MSIX) {
			s->irq_type = PCI_IRQ_MSIX;
			pdev->msix_enabled = 1;
		} else {
			s->irq_type = PCI_IRQ_MSI;
			s->intx_irq = pdev->irq;
			pdev->irq = s->irq_base;
			pdev->msi_enabled = 1;
		}
		return (int)n;
	}
	if ((flags & PCI_IRQ_INTX) && min_vecs <= 1 && max_vecs >= 1 && pdev->pin && pdev->irq) {
		s->irq_vectors = 1;
		s->irq_type = PCI_IRQ_INTX;
		return 1;
	}
	return -ENOSPC;
}

struct irq_affinity;

/* The affinity spreading means nothing with one CPU to run handlers on. */
static inline int pci_alloc_irq_vectors_affinity(struct pci_dev *pdev, unsigned int min_vecs,
						 unsigned int max_vecs, unsigned int flags,
						 struct irq_affinity *affd)
{
	(void)affd;
	return pci_alloc_irq_vectors(pdev, min_vecs, max_vecs, flags);
}

static inline void pci_free_irq_vectors(struct pci_dev *pdev)
{
	dmacheck_pci_free_vectors(pdev, dmacheck_pci_state(pdev));
}

/* The IRQ line of vector nr (INTx: pdev->irq), or -EINVAL if it is not allocated. */
static inline int pci_irq_vector(struct pci_dev *pdev, unsigned int nr)
{
	struct dmacheck_pci_state *s = dmacheck_pci_state(pdev);

	if (nr >= s->irq_vectors)
		return -EINVAL;
	return s->irq_type == PCI_IRQ_INTX ? (int)pdev->irq : (int)(s->irq_base + nr);
}

/* The older calls: one MSI vector, in pdev->irq. 0, or -ENOSPC. */
static inline int pci_enable_msi(struct pci_dev *pdev)
{
	int n = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSI);

	return n < 0 ? n : 0;
}

static inline void pci_disable_msi(struct pci_dev *pdev)
{
	struct dmacheck_pci_state *s = dmacheck_pci_state(pdev);

	if (s->irq_type == PCI_IRQ_MSI)
		dmacheck_pci_free_vectors(pdev, s);
}

static inline int pci_dev_msi_enabled(struct pci_dev *pdev)
{
	return pdev->msi_enabled || pdev->msix_enabled;
}

/* ---- Configuration space ---- */

#define PCIBIOS_SUCCESSFUL		0x00
#define PCIBIOS_BAD_REGISTER_NUMBER	0x87

static inline void dmacheck_pci_config_put(u8 *config, int where, u32 val, int size)
{
	for (int i = 0; i < size; i++)
		config[where + i] = (u8)(val >> (8 * i));
}

/* The header's fields that follow the device's state, written before each access. */
static inline void dmacheck_pci_config_sync(struct pci_dev *pdev, struct dmacheck_pci_state *s)
{
	u16 command = (u16)(s->config[PCI_COMMAND] | s->config[PCI_COMMAND + 1] << 8);

	command &= (u16)~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	if (s->enable_count) {
		if (pci_select_bars(pdev, IORESOURCE_IO))
			command |= PCI_COMMAND_IO;
		if (pci_select_bars(pdev, IORESOURCE_MEM))
			command |= PCI_COMMAND_MEMORY;
	}
	if (s->master)
		command |= PCI_COMMAND_MASTER;
	dmacheck_pci_config_put(s->config, PCI_VENDOR_ID, pdev->vendor, 2);
	dmacheck_pci_config_put(s->config, PCI_DEVICE_ID, pdev->device, 2);
	dmacheck_pci_config_put(s->config, PCI_COMMAND, command, 2);
	dmacheck_pci_config_put(s->config, PCI_REVISION_ID, pdev->revision, 1);
	dmacheck_pci_config_put(s->config, PCI_CLASS_PROG, pdev->class, 3);
	dmacheck_pci_config_put(s->config, PCI_SUBSYSTEM_VENDOR_ID, pdev->subsystem_vendor, 2);
	dmacheck_pci_config_put(s->config, PCI_SUBSYSTEM_ID, pdev->subsystem_device, 2);
	dmacheck_pci_config_put(s->config, PCI_INTERRUPT_PIN, pdev->pin, 1);
}

/* size bytes at where, little-endian: PCIBIOS_SUCCESSFUL, or a bad (misaligned) register. */
static inline int dmacheck_pci_config_read(struct pci_dev *pdev, int where, u32 *val, int size)
{
	struct dmacheck_pci_state *s = dmacheck_pci_state(pdev);

	if (where < 0 || where % size || where + size > PCI_CFG_SPACE_SIZE) {
		*val = ~0u;
		return PCIBIOS_BAD_REGISTER_NUMBER;
	}
	dmacheck_pci_config_sync(pdev, s);
	*val = 0;
	for (int i = size - 1; i >= 0; i--)
		*val = *val << 8 | s->config[where + i];
	return PCIBIOS_SUCCESSFUL;
}

/*
 * The ids, revision, class and pin are the device's (read-only: set them in `struct pci_dev`);
 * the command's master bit sets bus mastering.
 */
static inline int dmacheck_pci_config_write(struct pci_dev *pdev, int where, u32 val, int size)
{
	struct dmacheck_pci_state *s = dmacheck_pci_state(pdev);

	if (where < 0 || where % size || where + size > PCI_CFG_SPACE_SIZE)
		return PCIBIOS_BAD_REGISTER_NUMBER;
	dmacheck_pci_config_put(s->config, where, val, size);
	if (where <= PCI_COMMAND && where + size > PCI_COMMAND)
		s->master = (s->config[PCI_COMMAND] & PCI_COMMAND_MASTER) != 0;
	dmacheck_pci_config_sync(pdev, s);
	return PCIBIOS_SUCCESSFUL;
}

static inline int pci_read_config_byte(struct pci_dev *pdev, int where, u8 *val)
{
	u32 v;
	int err = dmacheck_pci_config_read(pdev, where, &v, 1);

	*val = (u8)v;
	return err;
}

static inline int pci_read_config_word(struct pci_dev *pdev, int where, u16 *val)
{
	u32 v;
	int err = dmacheck_pci_config_read(pdev, where, &v, 2);

	*val = (u16)v;
	return err;
}

static inline int pci_read_config_dword(struct pci_dev *pdev, int where, u32 *val)
{
	return dmacheck_pci_config_read(pdev, where, val, 4);
}

static inline int pci_write_config_byte(struct pci_dev *pdev, int where, u8 val)
{
	return dmacheck_pci_config_write(pdev, where, val, 1);
}

static inline int pci_write_config_word(struct pci_dev *pdev, int where, u16 val)
{
	return dmacheck_pci_config_write(pdev, where, val, 2);
}

static inline int pci_write_config_dword(struct pci_dev *pdev, int where, u32 val)
{
	return dmacheck_pci_config_write(pdev, where, val, 4);
}

/* A PCIBIOS_ code as a negative errno. */
static inline int pcibios_err_to_errno(int err)
{
	return err == PCIBIOS_SUCCESSFUL ? 0 : -ERANGE;
}

/* ---- IRQs by vector ---- */

/*
 * request_threaded_irq() on vector nr, shared (so dev_id must not be NULL), one-shot without a
 * hard handler, as the kernel's; named by the format, unformatted.
 */
static inline int pci_request_irq(struct pci_dev *pdev, unsigned int nr, irq_handler_t handler,
				  irq_handler_t thread_fn, void *dev_id, const char *fmt, ...)
{
	int irq = pci_irq_vector(pdev, nr);

	if (irq < 0)
		return irq;
	return request_threaded_irq((unsigned int)irq, handler, thread_fn,
				    IRQF_SHARED | (handler ? 0 : IRQF_ONESHOT), fmt, dev_id);
}

static inline void pci_free_irq(struct pci_dev *pdev, unsigned int nr, void *dev_id)
{
	int irq = pci_irq_vector(pdev, nr);

	if (irq >= 0)
		free_irq((unsigned int)irq, dev_id);
}

static inline struct pci_dev *pci_dev_get(struct pci_dev *pdev)
{
	return pdev;
}

static inline void pci_dev_put(struct pci_dev *pdev)
{
	(void)pdev;
}

static inline int dmacheck_pci_id_field_matches(__u32 id_field, __u32 value)
{
	return id_field == (__u32)PCI_ANY_ID || id_field == value;
}

/* The entry of ids that matches pdev, or NULL. */
static inline const struct pci_device_id *pci_match_id(const struct pci_device_id *ids,
							struct pci_dev *pdev)
{
	for (; ids && (ids->vendor || ids->subvendor || ids->class_mask); ids++) {
		if (dmacheck_pci_id_field_matches(ids->vendor, pdev->vendor) &&
		    dmacheck_pci_id_field_matches(ids->device, pdev->device) &&
		    dmacheck_pci_id_field_matches(ids->subvendor, pdev->subsystem_vendor) &&
		    dmacheck_pci_id_field_matches(ids->subdevice, pdev->subsystem_device) &&
		    !((ids->class ^ pdev->class) & ids->class_mask))
			return ids;
	}
	return NULL;
}

static inline struct pci_driver *dmacheck_pci_bound_driver(struct pci_dev *pdev)
{
	return dmacheck_pci_state(pdev)->driver;
}

/*
 * The device's end: what pcim_ and devm_ calls took is released, the drvdata cleared, and the
 * dmacheck device released (its leaks reported), named by the caller's file and line.
 */
static inline void dmacheck_pci_end_device(struct dmacheck_pci_state *s, const char *file,
					   int line)
{
	struct pci_dev *pdev = s->pdev;

	dmacheck_free_device_irqs(&pdev->dev);
	s->regions &= ~s->managed_regions;
	s->managed_regions = 0;
	for (int i = 0; i < PCI_STD_NUM_BARS; i++)
		s->iomap_table[i] = NULL;
	if (s->managed) {
		/* pcim_enable_device() makes the IRQ vectors managed too */
		dmacheck_pci_free_vectors(pdev, s);
		s->enable_count = 0;
		s->master = false;
		s->managed = false;
	}
	s->driver = NULL;
	s->gone = true;
	pci_set_drvdata(pdev, NULL);
	if (file)
		dmacheck_call_site(file, line);
	(dmacheck_device_release)(&pdev->dev);
}

/* Probe drv for a present device if its table matches: the probe's result, or -ENODEV. */
static inline int dmacheck_pci_bind(struct dmacheck_pci_state *s, struct pci_driver *drv,
				    const char *file, int line)
{
	const struct pci_device_id *id = pci_match_id(drv->id_table, s->pdev);
	int err;

	if (!id || s->driver || s->gone || !s->present)
		return -ENODEV;
	s->driver = drv;
	err = drv->probe(s->pdev, id);
	if (err) {
		/* The kernel's message; -ENODEV and -ENXIO ("not mine") are quiet there too. */
		if (err != -ENODEV && err != -ENXIO)
			fprintf(stderr, "%s %s: probe with driver %s failed with error %d\n",
				drv->name, pci_name(s->pdev), drv->name, err);
		dmacheck_pci_end_device(s, file, line);
	}
	return err;
}

static inline void dmacheck_pci_unbind(struct dmacheck_pci_state *s, const char *file,
				       int line)
{
	if (s->driver && s->driver->remove)
		s->driver->remove(s->pdev);
	dmacheck_pci_end_device(s, file, line);
}

/* Record drv and probe the present devices it matches; -EBUSY if it is registered already. */
static inline int dmacheck_pci_register_driver(struct pci_driver *drv, const char *file,
					       int line)
{
	struct pci_driver **free_slot = NULL;

	for (int i = 0; i < DMACHECK_PCI_MAX_DRIVERS; i++) {
		if (dmacheck_pci_bus.drivers[i] == drv)
			return -EBUSY;
		if (!dmacheck_pci_bus.drivers[i] && !free_slot)
			free_slot = &dmacheck_pci_bus.drivers[i];
	}
	if (!free_slot)
		return -ENOMEM;
	*free_slot = drv;
	/* A failed probe leaves the device unbound; registration still succeeds. */
	for (int i = 0; i < DMACHECK_PCI_MAX_DEVICES; i++) {
		if (dmacheck_pci_bus.devices[i].pdev)
			dmacheck_pci_bind(&dmacheck_pci_bus.devices[i], drv, file, line);
	}
	return 0;
}

/* Remove drv from the devices bound to it, then forget it. */
static inline void dmacheck_pci_unregister_driver(struct pci_driver *drv, const char *file,
						  int line)
{
	for (int i = 0; i < DMACHECK_PCI_MAX_DEVICES; i++) {
		if (dmacheck_pci_bus.devices[i].pdev && dmacheck_pci_bus.devices[i].driver == drv)
			dmacheck_pci_unbind(&dmacheck_pci_bus.devices[i], file, line);
	}
	for (int i = 0; i < DMACHECK_PCI_MAX_DRIVERS; i++) {
		if (dmacheck_pci_bus.drivers[i] == drv)
			dmacheck_pci_bus.drivers[i] = NULL;
	}
}

static inline int pci_register_driver(struct pci_driver *drv)
{
	return dmacheck_pci_register_driver(drv, NULL, 0);
}

static inline void pci_unregister_driver(struct pci_driver *drv)
{
	dmacheck_pci_unregister_driver(drv, NULL, 0);
}

/* module_pci_driver(drv): module_init and module_exit that register and unregister it. */
#define module_pci_driver(__pci_driver) \
	module_driver(__pci_driver, pci_register_driver, pci_unregister_driver)

/* ---- Call sites (see <dmacheck_call_site.h>) ---- */
#ifdef DMACHECK_CALL_SITES
#define pci_alloc_consistent(a0, a1, a2) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); dma_addr_t *dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); pci_alloc_consistent(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define pci_zalloc_consistent(a0, a1, a2) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); dma_addr_t *dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); pci_zalloc_consistent(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define pci_free_consistent(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); void *dmacheck_a2 = (a2); dma_addr_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_free_consistent(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_map_single(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); void *dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_map_single(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_unmap_single(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_unmap_single(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_map_page(a0, a1, a2, a3, a4) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); struct page *dmacheck_a1 = (a1); unsigned long dmacheck_a2 = (a2); size_t dmacheck_a3 = (a3); int dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); pci_map_page(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define pci_unmap_page(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_unmap_page(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_map_sg(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); struct scatterlist *dmacheck_a1 = (a1); int dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_map_sg(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_unmap_sg(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); struct scatterlist *dmacheck_a1 = (a1); int dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_unmap_sg(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_dma_sync_single(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_dma_sync_single(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_dma_sync_sg(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); struct scatterlist *dmacheck_a1 = (a1); int dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_dma_sync_sg(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_dma_sync_single_for_cpu(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_dma_sync_single_for_cpu(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_dma_sync_single_for_device(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_dma_sync_single_for_device(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_dma_sync_sg_for_cpu(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); struct scatterlist *dmacheck_a1 = (a1); int dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_dma_sync_sg_for_cpu(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_dma_sync_sg_for_device(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); struct scatterlist *dmacheck_a1 = (a1); int dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_dma_sync_sg_for_device(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dmacheck_pci_dma_mapping_error(a0, a1) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_pci_dma_mapping_error(dmacheck_a0, dmacheck_a1); })
#define pci_dma_supported(a0, a1) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); u64 dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); pci_dma_supported(dmacheck_a0, dmacheck_a1); })
#define pci_set_dma_mask(a0, a1) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); u64 dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); pci_set_dma_mask(dmacheck_a0, dmacheck_a1); })
#define pci_set_consistent_dma_mask(a0, a1) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); u64 dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); pci_set_consistent_dma_mask(dmacheck_a0, dmacheck_a1); })
#define pci_register_driver(a0) __extension__ ({ \
	struct pci_driver *dmacheck_a0 = (a0); \
	dmacheck_pci_register_driver(dmacheck_a0, __FILE__, __LINE__); })
#define pci_unregister_driver(a0) __extension__ ({ \
	struct pci_driver *dmacheck_a0 = (a0); \
	dmacheck_pci_unregister_driver(dmacheck_a0, __FILE__, __LINE__); })
#endif
/* ---- End of call sites ---- */

#endif /* _DMACHECK_LINUX_PCI_H */
