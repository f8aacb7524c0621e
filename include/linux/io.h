/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/io.h>: physical addresses of dmacheck's simulated memory (which starts at 1 MiB, so
 * physical addresses are never CPU pointers), and the MMIO accessors. A test gives the driver
 * its registers as ordinary memory (a struct or an array standing in for the BAR the driver
 * would ioremap); readl()/writel() are single volatile accesses in little-endian order, with
 * the barriers of the kernel's: writel() orders earlier writes to DMA memory before the
 * register write (the doorbell), readl() orders the read before later reads of DMA memory.
 */
#ifndef _DMACHECK_LINUX_IO_H
#define _DMACHECK_LINUX_IO_H

#include <linux/types.h>
#include <linux/compiler.h>
#include <linux/byteorder/generic.h>

/* The physical address of DMA-able memory (kmalloc, pages, coherent); 0 for anything else. */
phys_addr_t virt_to_phys(const volatile void *address);
/* The CPU address of a physical address of that memory; NULL for anything else. */
void *phys_to_virt(phys_addr_t address);

#define __raw_readb(a)		(*(const volatile u8 __force *)(a))
#define __raw_readw(a)		(*(const volatile u16 __force *)(a))
#define __raw_readl(a)		(*(const volatile u32 __force *)(a))
#define __raw_readq(a)		(*(const volatile u64 __force *)(a))
#define __raw_writeb(v, a)	(*(volatile u8 __force *)(a) = (v))
#define __raw_writew(v, a)	(*(volatile u16 __force *)(a) = (v))
#define __raw_writel(v, a)	(*(volatile u32 __force *)(a) = (v))
#define __raw_writeq(v, a)	(*(volatile u64 __force *)(a) = (v))

#define readb_relaxed(a)	__raw_readb(a)
#define readw_relaxed(a)	le16_to_cpu(__raw_readw(a))
#define readl_relaxed(a)	le32_to_cpu(__raw_readl(a))
#define readq_relaxed(a)	le64_to_cpu(__raw_readq(a))
#define writeb_relaxed(v, a)	__raw_writeb((v), a)
#define writew_relaxed(v, a)	__raw_writew(cpu_to_le16(v), a)
#define writel_relaxed(v, a)	__raw_writel(cpu_to_le32(v), a)
#define writeq_relaxed(v, a)	__raw_writeq(cpu_to_le64(v), a)

#define readb(a)	({ u8 _io_v = readb_relaxed(a); rmb(); _io_v; })
#define readw(a)	({ u16 _io_v = readw_relaxed(a); rmb(); _io_v; })
#define readl(a)	({ u32 _io_v = readl_relaxed(a); rmb(); _io_v; })
#define readq(a)	({ u64 _io_v = readq_relaxed(a); rmb(); _io_v; })
#define writeb(v, a)	do { wmb(); writeb_relaxed((v), a); } while (0)
#define writew(v, a)	do { wmb(); writew_relaxed((v), a); } while (0)
#define writel(v, a)	do { wmb(); writel_relaxed((v), a); } while (0)
#define writeq(v, a)	do { wmb(); writeq_relaxed((v), a); } while (0)

#define ioread8(a)		readb(a)
#define ioread16(a)		readw(a)
#define ioread32(a)		readl(a)
#define iowrite8(v, a)		writeb((v), a)
#define iowrite16(v, a)		writew((v), a)
#define iowrite32(v, a)		writel((v), a)

#endif /* _DMACHECK_LINUX_IO_H */
