/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* <linux/mm.h>: pages and their addresses. */
#ifndef _DMACHECK_LINUX_MM_H
#define _DMACHECK_LINUX_MM_H

#include <linux/types.h>
#include <linux/mm_types.h>
#include <linux/gfp.h>
#include <linux/io.h>

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

/* Whether a CPU address is in the linear map (kmalloc, page or coherent memory here). */
#define virt_addr_valid(kaddr)	(virt_to_phys(kaddr) != 0)

/* Page frame numbers: the physical address >> PAGE_SHIFT. */
#define page_to_phys(page)	virt_to_phys(page_address(page))
#define page_to_pfn(page)	((unsigned long)(page_to_phys(page) >> PAGE_SHIFT))
#define pfn_to_page(pfn)	virt_to_page(phys_to_virt((phys_addr_t)(pfn) << PAGE_SHIFT))
#define virt_to_pfn(addr)	((unsigned long)(virt_to_phys(addr) >> PAGE_SHIFT))

/*
 * Map size bytes of page frames from pfn into user space (a driver's mmap method). The frames
 * must lie inside one live coherent buffer, or the call is reported (`mmap-out-of-bounds`) and
 * fails with -EINVAL. dmacheck chooses the user address (addr is not used) and stores it in
 * vma->vm_start; see struct vm_area_struct.
 */
int remap_pfn_range(struct vm_area_struct *vma, unsigned long addr, unsigned long pfn,
		    unsigned long size, pgprot_t prot);
#define io_remap_pfn_range remap_pfn_range

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

/* ---- Call sites (see <dmacheck_call_site.h>) ---- */
#include <dmacheck_call_site.h>
#ifdef DMACHECK_CALL_SITES
#define page_address(a0) __extension__ ({ \
	const struct page *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); page_address(dmacheck_a0); })
#define virt_to_page(a0) __extension__ ({ \
	const void *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); virt_to_page(dmacheck_a0); })
#define remap_pfn_range(a0, a1, a2, a3, a4) __extension__ ({ \
	struct vm_area_struct *dmacheck_a0 = (a0); unsigned long dmacheck_a1 = (a1); unsigned long dmacheck_a2 = (a2); unsigned long dmacheck_a3 = (a3); pgprot_t dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); remap_pfn_range(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#endif
/* ---- End of call sites ---- */

#endif /* _DMACHECK_LINUX_MM_H */
