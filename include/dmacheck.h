/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <dmacheck.h>: what the kernel does not have. Devices to run a driver against, a device model
 * to act as the bus master, interrupt context, and the checker's findings.
 *
 * Everything uses the process-wide checker. Rule levels default to warn (report and go on) and
 * follow the DMACHECK environment variable (DMACHECK=deny, DMACHECK=leak=allow, ...; see the
 * README). At exit, the report goes where DMACHECK_REPORT says (DMACHECK_REPORT=json:dir/), or
 * the leak summary to stderr when something leaked.
 *
 * Build: cc -Iinclude -c test.c && cc test.o target/debug/libdmacheck.a -lpthread -ldl -lm
 */
#ifndef DMACHECK_H
#define DMACHECK_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

struct device;
struct pci_dev;
struct vm_area_struct;

/*
 * A device with both DMA masks set to dma_mask (0: the PCI default, DMA_BIT_MASK(32)). name and
 * driver appear in reports; NULL gives "(unnamed)" and "unknown". The device lives until the
 * process ends: after dmacheck_device_release, DMA calls on it are reported.
 */
struct device *dmacheck_device_create(const char *name, const char *driver, uint64_t dma_mask);
/*
 * The same, behind dmacheck's IOMMU: its own I/O virtual address space (addresses allocated
 * top-down below the mask), and scatter-gather entries that meet at page boundaries merged into
 * one DMA segment, so dma_map_sg returns fewer segments than nents, as on real hardware.
 */
struct device *dmacheck_iommu_device_create(const char *name, const char *driver,
					    uint64_t dma_mask);
/* The same, as a PCI device: use &pdev->dev, or the pci_* calls. */
struct pci_dev *dmacheck_pci_dev_create(const char *name, const char *driver, uint64_t dma_mask);
/*
 * Driver unbind: every mapping and allocation still live on the device is reported as a leak
 * (`leak`, one per entry, with the site that made it) and forgotten. Releasing twice, or NULL,
 * does nothing.
 */
void dmacheck_device_release(struct device *dev);

/*
 * The device reads (writes) len bytes at DMA address addr, as the hardware would see them
 * (through the device's IOMMU or bounce buffers). Checked: the bytes must lie in one live
 * mapping of this device that allows the access (`device-access-*`); such a fault is reported,
 * nothing is copied, and -EFAULT returned. An access to a buffer the CPU owns (after a sync for
 * the CPU) is reported and carried out, as on a real bus. -EINVAL: buf is NULL. 0 otherwise.
 */
int dmacheck_device_read(struct device *dev, dma_addr_t addr, void *buf, size_t len);
int dmacheck_device_write(struct device *dev, dma_addr_t addr, const void *buf, size_t len);

/* Run handler(arg) as a hard interrupt handler: in_interrupt(), IRQs disabled. */
void dmacheck_run_in_irq(void (*handler)(void *), void *arg);

/* User space unmaps what dma_mmap_coherent or remap_pfn_range mapped through vma. */
void dmacheck_munmap(struct vm_area_struct *vma);

/* Violations reported so far, of every rule, leaks reported by device releases included. */
unsigned long dmacheck_error_count(void);
/* Violations of one rule ("unmap-size-mismatch"); ULONG_MAX if no rule has that id. */
unsigned long dmacheck_violation_count(const char *rule_id);
/*
 * Trap mode (DMACHECK=trap, Linux x86_64): report the plain-pointer accesses to device-owned
 * buffers recorded so far (syncs and unmaps report them too). Does nothing in other modes.
 */
void dmacheck_trap_flush(void);
/* Mappings and allocations live now on dev; NULL: on all devices. */
unsigned long dmacheck_live_entries(struct device *dev);
/*
 * Write the checker's report as JSON (schema dmacheck-report/1) to path: a file (replaced; its
 * directory must exist), a directory (a path ending in '/', created if missing, or an existing
 * one: a new uniquely named file in it), or "-" for stderr. 0, or a negative errno (-EIO for a
 * file under a missing directory).
 */
int dmacheck_write_report(const char *path);
/*
 * Write the exit report now (where DMACHECK_REPORT says), for a program about to leave by a
 * path that skips atexit handlers (_exit, a signal). It is written once per process; returns the
 * number of files written.
 */
int dmacheck_write_exit_report(void);

/*
 * A program's own `struct device` (a kernel-code harness with its own stub headers, which
 * replaces only <linux/dma-mapping.h>, and where wanted <linux/scatterlist.h> and
 * <linux/dmapool.h>, with dmacheck's). dmacheck never reads or writes such a structure: it
 * registers each device pointer on first use, with the name "device@<address>", driver
 * "unknown" and 32-bit masks, or as a hook or an explicit attach describes it. Masks then live
 * in dmacheck (dma_set_mask() and friends). NULL, and pointers below 4096 or misaligned, stay
 * `invalid-device`.
 *
 * Adoption is on when <linux/dma-mapping.h> is compiled against a `struct device` that is not
 * dmacheck's (it calls dmacheck_adopt_devices() from a constructor), or after
 * dmacheck_adopt_devices() or dmacheck_set_device_hook().
 */
struct dmacheck_device_info {
	const char *name;		/* dev_name(); NULL: "device@<address>" */
	const char *driver;		/* NULL: "unknown" */
	uint64_t dma_mask;		/* 0: DMA_BIT_MASK(32) */
	uint64_t coherent_dma_mask;	/* 0: dma_mask */
	int iommu;			/* non-zero: behind dmacheck's IOMMU */
};
void dmacheck_adopt_devices(void);
/*
 * Describe each new device with hook(dev, info) (info holds the defaults): return 0 to
 * register it as info says, non-zero to refuse it (`invalid-device`).
 */
void dmacheck_set_device_hook(int (*hook)(const struct device *dev,
					  struct dmacheck_device_info *info));
/*
 * Register dev now (info NULL: the defaults); a released device at the same address (a
 * structure freed and allocated again) is replaced. 0, -EINVAL (NULL, or a device dmacheck
 * made) or -EBUSY (registered and not released).
 */
int dmacheck_device_attach(struct device *dev, const struct dmacheck_device_info *info);

/* ---- Call sites (see <dmacheck_call_site.h>) ---- */
#include <dmacheck_call_site.h>
#ifdef DMACHECK_CALL_SITES
#define dmacheck_device_create(a0, a1, a2) __extension__ ({ \
	const char *dmacheck_a0 = (a0); const char *dmacheck_a1 = (a1); uint64_t dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_device_create(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define dmacheck_iommu_device_create(a0, a1, a2) __extension__ ({ \
	const char *dmacheck_a0 = (a0); const char *dmacheck_a1 = (a1); uint64_t dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_iommu_device_create(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define dmacheck_pci_dev_create(a0, a1, a2) __extension__ ({ \
	const char *dmacheck_a0 = (a0); const char *dmacheck_a1 = (a1); uint64_t dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_pci_dev_create(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define dmacheck_device_release(a0) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_device_release(dmacheck_a0); })
#define dmacheck_device_read(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); void *dmacheck_a2 = (a2); size_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_device_read(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dmacheck_device_write(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); const void *dmacheck_a2 = (a2); size_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_device_write(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dmacheck_munmap(a0) __extension__ ({ \
	struct vm_area_struct *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_munmap(dmacheck_a0); })
#define dmacheck_error_count() __extension__ ({ \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_error_count(); })
#define dmacheck_violation_count(a0) __extension__ ({ \
	const char *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_violation_count(dmacheck_a0); })
#define dmacheck_trap_flush() __extension__ ({ \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_trap_flush(); })
#define dmacheck_live_entries(a0) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_live_entries(dmacheck_a0); })
#define dmacheck_write_report(a0) __extension__ ({ \
	const char *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_write_report(dmacheck_a0); })
#define dmacheck_write_exit_report() __extension__ ({ \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_write_exit_report(); })
#define dmacheck_device_attach(a0, a1) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); const struct dmacheck_device_info *dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_device_attach(dmacheck_a0, dmacheck_a1); })
#endif
/* ---- End of call sites ---- */

#endif /* DMACHECK_H */
