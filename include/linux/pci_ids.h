/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/pci_ids.h>: a few of the kernel's vendor ids and class codes, for PCI_VDEVICE() and
 * PCI_DEVICE_CLASS(). A driver whose vendor is not here defines its PCI_VENDOR_ID_ itself, as
 * drivers for new hardware do until the id is added.
 */
#ifndef _DMACHECK_LINUX_PCI_IDS_H
#define _DMACHECK_LINUX_PCI_IDS_H

#define PCI_CLASS_STORAGE_SCSI		0x0100
#define PCI_CLASS_STORAGE_SATA_AHCI	0x010601
#define PCI_CLASS_STORAGE_EXPRESS	0x010802
#define PCI_CLASS_NETWORK_ETHERNET	0x0200
#define PCI_CLASS_DISPLAY_VGA		0x0300
#define PCI_CLASS_MULTIMEDIA_AUDIO	0x0401
#define PCI_CLASS_SERIAL_USB_XHCI	0x0c0330
#define PCI_CLASS_SYSTEM_OTHER		0x0880

#define PCI_VENDOR_ID_REDHAT_QUMRANET	0x1af4
#define PCI_VENDOR_ID_REDHAT		0x1b36
#define PCI_VENDOR_ID_AMD		0x1022
#define PCI_VENDOR_ID_ATI		0x1002
#define PCI_VENDOR_ID_NVIDIA		0x10de
#define PCI_VENDOR_ID_INTEL		0x8086
#define PCI_VENDOR_ID_BROADCOM		0x14e4
#define PCI_VENDOR_ID_REALTEK		0x10ec
#define PCI_VENDOR_ID_MELLANOX		0x15b3
#define PCI_VENDOR_ID_XILINX		0x10ee
#define PCI_VENDOR_ID_AMAZON		0x1d0f
#define PCI_VENDOR_ID_QCOM		0x17cb
#define PCI_VENDOR_ID_SAMSUNG		0x144d

#endif /* _DMACHECK_LINUX_PCI_IDS_H */
