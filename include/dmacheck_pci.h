/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <dmacheck_pci.h>: the harness side of a PCI driver test. main() plays the bus and the
 * hardware for a driver file written as for the kernel (a `struct pci_driver`,
 * module_pci_driver() or pci_register_driver() in its module_init):
 *
 *	pdev = dmacheck_pci_dev_create("0000:01:00.0", "acme_dma", 0);	// <dmacheck.h>
 *	pdev->vendor = 0x1de5; pdev->device = 0x0101; pdev->revision = 2;
 *	dmacheck_pci_set_bar(pdev, 0, regs, sizeof(regs), IORESOURCE_MEM);
 *	dmacheck_pci_probe(pdev);		// the device appears on the bus
 *	dmacheck_module_init();			// registering the driver probes it
 *	... dmacheck_device_read/write (<dmacheck.h>), then dmacheck_pci_raise_irq(pdev, 0),
 *	    dmacheck_run_scheduled_work() (<linux/workqueue.h>),
 *	    dmacheck_advance_jiffies() (<linux/timer.h>), dmacheck_run_tasklets()
 *	    (<linux/interrupt.h>), dmacheck_pci_suspend()/dmacheck_pci_resume(), and
 *	    dmacheck_set_idle_hook() (<linux/jiffies.h>) to act while the driver waits ...
 *	dmacheck_module_exit();			// remove(), then the device ends: leaks reported
 *
 * The device's state beside `struct pci_dev` is described in <linux/pci.h>. Everything here
 * is a header: nothing needs linking but libdmacheck.
 */
#ifndef DMACHECK_PCI_H
#define DMACHECK_PCI_H

#include <dmacheck.h>
#include <linux/pci.h>
#include <linux/interrupt.h>
#include <linux/workqueue.h>
#include <linux/timer.h>
#include <linux/jiffies.h>

/*
 * Give the device BAR bar: len bytes of memory at mem (IORESOURCE_MEM, or IORESOURCE_IO, with
 * IORESOURCE_PREFETCH or IORESOURCE_MEM_64 as wanted), which the driver's MMIO reads and
 * writes: pdev->resource[bar] becomes [mem, mem + len - 1] with those flags. 0, or -EINVAL (no
 * such BAR, NULL memory or zero length).
 */
static inline int dmacheck_pci_set_bar(struct pci_dev *pdev, int bar, void *mem, size_t len,
				       unsigned long flags)
{
	if (bar < 0 || bar >= PCI_STD_NUM_BARS || !mem || !len)
		return -EINVAL;
	(void)dmacheck_pci_state(pdev);	/* the harness's now: its INTx line set */
	pdev->resource[bar] = (struct resource){
		.start = (resource_size_t)(uintptr_t)mem,
		.end = (resource_size_t)(uintptr_t)mem + len - 1,
		.name = pci_name(pdev),
		.flags = flags,
	};
	return 0;
}

/*
 * The subsystem ids and the class code (24 bits: class, subclass, interface), in `struct
 * pci_dev`: the same as setting the fields. The other fields drivers read (the revision, ...)
 * the harness sets in `struct pci_dev` too; configuration space reads them back.
 */
static inline void dmacheck_pci_set_subsystem(struct pci_dev *pdev, u32 subsystem_vendor,
					      u32 subsystem_device, u32 class_code)
{
	(void)dmacheck_pci_state(pdev);
	pdev->subsystem_vendor = (unsigned short)subsystem_vendor;
	pdev->subsystem_device = (unsigned short)subsystem_device;
	pdev->class = class_code;
}

/*
 * How many interrupt vectors the device has (1 by default; 0: no interrupt, so no INTx pin,
 * pdev->irq 0 and pci_alloc_irq_vectors() failing with -ENOSPC; more than 1 only through MSI
 * or MSI-X). With vectors, pdev->irq is the device's INTx line (IRQ 16 + its place on the bus).
 */
static inline void dmacheck_pci_set_irq_vectors(struct pci_dev *pdev, unsigned int count)
{
	struct dmacheck_pci_state *s = dmacheck_pci_state(pdev);

	s->irq_vectors_offered =
		count < DMACHECK_PCI_MAX_VECTORS ? count : DMACHECK_PCI_MAX_VECTORS;
	pdev->pin = count ? 1 : 0;
	pdev->irq = count ? DMACHECK_PCI_FIRST_INTX + (unsigned int)(s - dmacheck_pci_bus.devices)
			  : 0;
}

/*
 * The device appears on the bus: a registered driver whose id table matches probes it now
 * (otherwise the first such driver to register will). The probe's result, -ENODEV when no
 * registered driver matches, -EBUSY when it is bound already. A failed probe ends the device
 * (see <linux/pci.h>). Subsystem ids left 0 become the vendor and device ids here.
 */
static inline int dmacheck_pci_probe_at(struct pci_dev *pdev, const char *file, int line)
{
	struct dmacheck_pci_state *s = dmacheck_pci_state(pdev);

	if (s->driver)
		return -EBUSY;
	if (!s->present && !pdev->subsystem_vendor && !pdev->subsystem_device) {
		pdev->subsystem_vendor = pdev->vendor;
		pdev->subsystem_device = pdev->device;
	}
	s->present = true;
	for (int i = 0; i < DMACHECK_PCI_MAX_DRIVERS; i++) {
		struct pci_driver *drv = dmacheck_pci_bus.drivers[i];

		if (drv && pci_match_id(drv->id_table, pdev))
			return dmacheck_pci_bind(s, drv, file, line);
	}
	return -ENODEV;
}

static inline int dmacheck_pci_probe(struct pci_dev *pdev)
{
	return dmacheck_pci_probe_at(pdev, NULL, 0);
}

/*
 * The device is unplugged: its driver's remove() runs, what pcim_ and devm_ calls took is
 * released, and the device ends (its DMA leaks reported).
 */
static inline void dmacheck_pci_remove_at(struct pci_dev *pdev, const char *file, int line)
{
	struct dmacheck_pci_state *s = dmacheck_pci_state(pdev);

	s->present = false;
	if (!s->gone)
		dmacheck_pci_unbind(s, file, line);
}

static inline void dmacheck_pci_remove(struct pci_dev *pdev)
{
	dmacheck_pci_remove_at(pdev, NULL, 0);
}

/*
 * The device raises interrupt vector nr (pci_irq_vector()): the handlers requested on it run
 * (see dmacheck_raise_irq() in <linux/interrupt.h>). With no vectors allocated, vector 0 is
 * INTx: pdev->irq, which a driver may request without allocating (when the device has a pin).
 * IRQ_NONE if the vector is not allocated.
 */
static inline irqreturn_t dmacheck_pci_raise_irq(struct pci_dev *pdev, unsigned int nr)
{
	int irq = pci_irq_vector(pdev, nr);

	if (irq < 0 && nr == 0 && !dmacheck_pci_state(pdev)->irq_vectors && pdev->pin && pdev->irq)
		irq = (int)pdev->irq;
	return irq < 0 ? IRQ_NONE : dmacheck_raise_irq((unsigned int)irq);
}

/*
 * System sleep: the bound driver's .driver.pm suspend (resume) callback on the device, as
 * SIMPLE_DEV_PM_OPS() gives it. Its result; 0 when the device is unbound or has no callback.
 */
static inline int dmacheck_pci_suspend(struct pci_dev *pdev)
{
	struct pci_driver *drv = dmacheck_pci_bound_driver(pdev);

	if (!drv || !drv->driver.pm || !drv->driver.pm->suspend)
		return 0;
	return drv->driver.pm->suspend(&pdev->dev);
}

static inline int dmacheck_pci_resume(struct pci_dev *pdev)
{
	struct pci_driver *drv = dmacheck_pci_bound_driver(pdev);

	if (!drv || !drv->driver.pm || !drv->driver.pm->resume)
		return 0;
	return drv->driver.pm->resume(&pdev->dev);
}

/* ---- Call sites (see <dmacheck_call_site.h>): the device's end names the harness's line ---- */
#ifdef DMACHECK_CALL_SITES
#define dmacheck_pci_probe(a0) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); \
	dmacheck_pci_probe_at(dmacheck_a0, __FILE__, __LINE__); })
#define dmacheck_pci_remove(a0) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); \
	dmacheck_pci_remove_at(dmacheck_a0, __FILE__, __LINE__); })
#endif
/* ---- End of call sites ---- */

#endif /* DMACHECK_PCI_H */
