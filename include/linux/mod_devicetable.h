/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/mod_devicetable.h>: the id tables a driver matches devices with. A PCI table ends
 * with an all-zero entry; PCI_ANY_ID in a field matches any value (see PCI_DEVICE()).
 */
#ifndef _DMACHECK_LINUX_MOD_DEVICETABLE_H
#define _DMACHECK_LINUX_MOD_DEVICETABLE_H

#include <linux/types.h>

typedef unsigned long kernel_ulong_t;

#define PCI_ANY_ID (~0)

struct pci_device_id {
	__u32 vendor, device;		/* vendor and device ids, or PCI_ANY_ID */
	__u32 subvendor, subdevice;	/* subsystem ids, or PCI_ANY_ID */
	__u32 class, class_mask;	/* (class, subclass, prog-if) triplet */
	kernel_ulong_t driver_data;	/* data private to the driver */
	__u32 override_only;
};

#endif /* _DMACHECK_LINUX_MOD_DEVICETABLE_H */
