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

typedef struct {
	unsigned long pgprot;
} pgprot_t;

/*
 * A user mapping, as a driver's mmap method gets it. Set vm_end - vm_start to the length and
 * vm_pgoff to the offset (in pages) before dma_mmap_coherent or remap_pfn_range: dmacheck maps
 * the pages a second time at an address it chooses and stores it in vm_start (and vm_end), so
 * the test can act as user space through it. dmacheck_munmap(vma) unmaps (<dmacheck.h>).
 */
struct vm_area_struct {
	unsigned long vm_start;
	unsigned long vm_end;
	unsigned long vm_pgoff;
	pgprot_t vm_page_prot;
	unsigned long vm_flags;
	void *vm_private_data;
};

#endif /* _DMACHECK_LINUX_MM_TYPES_H */
