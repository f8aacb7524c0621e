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

/* ---- Call sites (see <dmacheck_call_site.h>) ---- */
#include <dmacheck_call_site.h>
#ifdef DMACHECK_CALL_SITES
#define vmalloc(a0) __extension__ ({ \
	unsigned long dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); vmalloc(dmacheck_a0); })
#define vzalloc(a0) __extension__ ({ \
	unsigned long dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); vzalloc(dmacheck_a0); })
#define vfree(a0) __extension__ ({ \
	const void *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); vfree(dmacheck_a0); })
#endif
/* ---- End of call sites ---- */

#endif /* _DMACHECK_LINUX_VMALLOC_H */
