/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* <linux/pci_regs.h>: the offsets and bits of the PCI configuration header drivers read. */
#ifndef _DMACHECK_LINUX_PCI_REGS_H
#define _DMACHECK_LINUX_PCI_REGS_H

#define PCI_CFG_SPACE_SIZE	256

#define PCI_VENDOR_ID		0x00	/* 16 bits */
#define PCI_DEVICE_ID		0x02	/* 16 bits */
#define PCI_COMMAND		0x04	/* 16 bits */
#define  PCI_COMMAND_IO		0x1
#define  PCI_COMMAND_MEMORY	0x2
#define  PCI_COMMAND_MASTER	0x4
#define  PCI_COMMAND_PARITY	0x40
#define  PCI_COMMAND_SERR	0x100
#define  PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS		0x06	/* 16 bits */
#define PCI_CLASS_REVISION	0x08	/* class code (24 bits) and revision (8 bits) */
#define PCI_REVISION_ID		0x08
#define PCI_CLASS_PROG		0x09
#define PCI_CLASS_DEVICE	0x0a	/* class and subclass */
#define PCI_CACHE_LINE_SIZE	0x0c	/* 8 bits */
#define PCI_LATENCY_TIMER	0x0d	/* 8 bits */
#define PCI_HEADER_TYPE		0x0e	/* 8 bits */
#define PCI_BASE_ADDRESS_0	0x10	/* 32 bits */
#define PCI_SUBSYSTEM_VENDOR_ID	0x2c
#define PCI_SUBSYSTEM_ID	0x2e
#define PCI_INTERRUPT_LINE	0x3c	/* 8 bits */
#define PCI_INTERRUPT_PIN	0x3d	/* 8 bits */

#endif /* _DMACHECK_LINUX_PCI_REGS_H */
