/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/vmalloc.h>: virtually contiguous memory. Not DMA-able: mapping it is reported
 * (`map-vmalloc-memory`), as the kernel's dma-debug does.
 */
#ifndef _DMACHECK_LINUX_VMALLOC_H
#define _DMACHECK_LINUX_VMALLOC_H

#include <linux/types.h>

/* `size` bytes; NULL for 0. */
void *vmalloc(unsigned long size);
/* vmalloc, zeroed. */
void *vzalloc(unsigned long size);
/* Free vmalloc memory; NULL does nothing. */
void vfree(const void *addr);

#endif /* _DMACHECK_LINUX_VMALLOC_H */
