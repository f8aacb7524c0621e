/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/io.h>: physical addresses of dmacheck's simulated memory (which starts at 1 MiB, so
 * physical addresses are never CPU pointers).
 */
#ifndef _DMACHECK_LINUX_IO_H
#define _DMACHECK_LINUX_IO_H

#include <linux/types.h>

/* The physical address of DMA-able memory (kmalloc, pages, coherent); 0 for anything else. */
phys_addr_t virt_to_phys(const volatile void *address);
/* The CPU address of a physical address of that memory; NULL for anything else. */
void *phys_to_virt(phys_addr_t address);

#endif /* _DMACHECK_LINUX_IO_H */
