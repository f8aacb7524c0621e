/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/mm_types.h>: `struct page`.
 *
 * As in the kernel, a `struct page *` names a page of memory and is not the page's address:
 * get that with page_address(). dmacheck hands out pointers into a kernel-like "vmemmap" range
 * (one 64-byte `struct page` per 4 KiB page), which a user-space program cannot dereference, so
 * a `struct page *` used as a buffer is caught. Pointer arithmetic works as in the kernel:
 * `page + 1` is the next page (nth_page). Do not read or write the structure itself.
 */
#ifndef _DMACHECK_LINUX_MM_TYPES_H
#define _DMACHECK_LINUX_MM_TYPES_H

struct page {
	unsigned long dmacheck_opaque[8];
};

#endif /* _DMACHECK_LINUX_MM_TYPES_H */
