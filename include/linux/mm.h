/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* <linux/mm.h>: pages and their addresses. */
#ifndef _DMACHECK_LINUX_MM_H
#define _DMACHECK_LINUX_MM_H

#include <linux/types.h>
#include <linux/mm_types.h>
#include <linux/gfp.h>

#define PAGE_SHIFT	12
#define PAGE_SIZE	(1UL << PAGE_SHIFT)
#define PAGE_MASK	(~(PAGE_SIZE - 1))
#define PAGE_ALIGN(addr) (((unsigned long)(addr) + PAGE_SIZE - 1) & PAGE_MASK)
#define offset_in_page(p) ((unsigned long)(p) & ~PAGE_MASK)
#define nth_page(page, n) ((page) + (n))

/* The CPU address of a page's first byte; NULL for NULL or a pointer that names no page. */
void *page_address(const struct page *page);
/* The page containing a CPU address (kmalloc, page or stack memory alike); NULL for NULL. */
struct page *virt_to_page(const void *addr);

/* The smallest order whose 2^order pages hold `size` bytes. */
static inline int get_order(unsigned long size)
{
	int order = 0;

	size = (size - 1) >> PAGE_SHIFT;
	while (size) {
		order++;
		size >>= 1;
	}
	return order;
}

#endif /* _DMACHECK_LINUX_MM_H */
