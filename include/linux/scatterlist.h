/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/scatterlist.h>: scatter-gather lists, laid out as the kernel lays them out, so drivers
 * declare arrays of them, chain them and walk them as usual.
 *
 * sg_dma_address() and sg_dma_len() are lvalues, as in the kernel, and checked: reading (or
 * writing) the DMA fields of an entry past the count dma_map_sg() returned, after a failed map
 * or after dma_unmap_sg() is reported (`sg-dma-beyond-count`).
 *
 * dmacheck keeps the state of each mapped list keyed by its address (the `sgl` pointer given to
 * dma_map_sg). sg_init_table() and sg_init_one() forget whatever was known about the entries
 * they reset, so an array reused for a new list (on the stack, say) starts afresh.
 */
#ifndef _DMACHECK_LINUX_SCATTERLIST_H
#define _DMACHECK_LINUX_SCATTERLIST_H

#include <linux/types.h>
#include <linux/mm.h>

struct scatterlist {
	unsigned long page_link;	/* the page; SG_CHAIN and SG_END in bits 0 and 1 */
	unsigned int offset;		/* of the buffer in its page */
	unsigned int length;		/* of the buffer */
	dma_addr_t dma_address;		/* use sg_dma_address() */
	unsigned int dma_length;	/* use sg_dma_len() */
	unsigned int dma_flags;
};

#define SG_CHAIN		0x01UL
#define SG_END			0x02UL
#define SG_PAGE_LINK_MASK	(SG_CHAIN | SG_END)

static inline bool sg_is_chain(const struct scatterlist *sg)
{
	return sg->page_link & SG_CHAIN;
}

static inline bool sg_is_last(const struct scatterlist *sg)
{
	return sg->page_link & SG_END;
}

static inline struct scatterlist *sg_chain_ptr(const struct scatterlist *sg)
{
	return (struct scatterlist *)(sg->page_link & ~SG_PAGE_LINK_MASK);
}

static inline struct page *sg_page(const struct scatterlist *sg)
{
	return (struct page *)(sg->page_link & ~SG_PAGE_LINK_MASK);
}

static inline void sg_assign_page(struct scatterlist *sg, struct page *page)
{
	sg->page_link = (sg->page_link & SG_PAGE_LINK_MASK) | (unsigned long)page;
}

/* Point an entry at len bytes at offset into page. */
static inline void sg_set_page(struct scatterlist *sg, struct page *page, unsigned int len,
			       unsigned int offset)
{
	sg_assign_page(sg, page);
	sg->offset = offset;
	sg->length = len;
}

/* Point an entry at buflen bytes at buf (kmalloc or page memory). */
static inline void sg_set_buf(struct scatterlist *sg, const void *buf, unsigned int buflen)
{
	sg_set_page(sg, (virt_to_page)(buf), buflen, offset_in_page(buf));
}

/* The CPU address of an entry's buffer. */
static inline void *sg_virt(const struct scatterlist *sg)
{
	return (char *)(page_address)(sg_page(sg)) + sg->offset;
}

static inline void sg_mark_end(struct scatterlist *sg)
{
	sg->page_link |= SG_END;
	sg->page_link &= ~SG_CHAIN;
}

static inline void sg_unmark_end(struct scatterlist *sg)
{
	sg->page_link &= ~SG_END;
}

/* The next entry, following chains; NULL after the last. */
static inline struct scatterlist *sg_next(struct scatterlist *sg)
{
	if (sg_is_last(sg))
		return NULL;
	sg++;
	if (sg_is_chain(sg))
		sg = sg_chain_ptr(sg);
	return sg;
}

/* Make the last of prv's prv_nents entries a link to sgl. */
static inline void sg_chain(struct scatterlist *prv, unsigned int prv_nents,
			    struct scatterlist *sgl)
{
	prv[prv_nents - 1].offset = 0;
	prv[prv_nents - 1].length = 0;
	prv[prv_nents - 1].page_link = ((unsigned long)sgl | SG_CHAIN) & ~SG_END;
}

/* Clear nents entries and mark the last as the end of the list. */
void sg_init_table(struct scatterlist *sgl, unsigned int nents);
/* A list of one entry for buflen bytes at buf. */
void sg_init_one(struct scatterlist *sg, const void *buf, unsigned int buflen);

/* The checked DMA fields of an entry (what sg_dma_address and sg_dma_len expand to). */
dma_addr_t *dmacheck_sg_dma_address_ptr(struct scatterlist *sg);
unsigned int *dmacheck_sg_dma_len_ptr(struct scatterlist *sg);
#define sg_dma_address(sg)	(*dmacheck_sg_dma_address_ptr(sg))
#define sg_dma_len(sg)		(*dmacheck_sg_dma_len_ptr(sg))

/* Walk nr entries from sglist: after a map, nr is the count dma_map_sg returned. */
#define for_each_sg(sglist, sg, nr, __i) \
	for (__i = 0, sg = (sglist); __i < (nr); __i++, sg = sg_next(sg))

/*
 * Copy between a linear buffer and the CPU side of the first nents entries, entry by entry, up
 * to buflen bytes or the end of the list; the bytes copied.
 */
static inline size_t dmacheck_sg_copy(struct scatterlist *sgl, unsigned int nents, void *buf,
				      size_t buflen, bool to_buffer)
{
	struct scatterlist *sg;
	size_t done = 0;
	unsigned int i;

	for_each_sg(sgl, sg, nents, i) {
		size_t n = buflen - done < sg->length ? buflen - done : sg->length;

		if (!n)
			break;
		if (to_buffer)
			__builtin_memcpy((char *)buf + done, (sg_virt)(sg), n);
		else
			__builtin_memcpy((sg_virt)(sg), (char *)buf + done, n);
		done += n;
	}
	return done;
}

static inline size_t sg_copy_from_buffer(struct scatterlist *sgl, unsigned int nents,
					 const void *buf, size_t buflen)
{
	return dmacheck_sg_copy(sgl, nents, (void *)buf, buflen, false);
}

static inline size_t sg_copy_to_buffer(struct scatterlist *sgl, unsigned int nents, void *buf,
				       size_t buflen)
{
	return dmacheck_sg_copy(sgl, nents, buf, buflen, true);
}

/* ---- sg_table ------------------------------------------------------------------------- */

/*
 * A list with its two counts: orig_nents entries on the CPU side, nents DMA segments once
 * dma_map_sgtable() mapped it (fewer when an IOMMU merged them).
 */
struct sg_table {
	struct scatterlist *sgl;
	unsigned int nents;
	unsigned int orig_nents;
};

/* A table of nents cleared entries (the last marked as the end): 0, or -EINVAL / -ENOMEM. */
int sg_alloc_table(struct sg_table *table, unsigned int nents, gfp_t gfp_mask);
/* Free the entries of a table from sg_alloc_table*() and clear it; NULL or empty does nothing. */
void sg_free_table(struct sg_table *table);
/*
 * A table over n_pages pages holding size bytes from offset into the first: physically
 * consecutive pages share one entry of at most max_segment bytes (rounded down to pages; at
 * least a page). 0, or -EINVAL / -ENOMEM.
 */
int sg_alloc_table_from_pages_segment(struct sg_table *sgt, struct page **pages,
				      unsigned int n_pages, unsigned int offset,
				      unsigned long size, unsigned int max_segment,
				      gfp_t gfp_mask);
int sg_alloc_table_from_pages(struct sg_table *sgt, struct page **pages, unsigned int n_pages,
			      unsigned int offset, unsigned long size, gfp_t gfp_mask);

/* The entries of a list, following chains (lib/scatterlist.c). */
static inline int sg_nents(struct scatterlist *sg)
{
	int nents;

	for (nents = 0; sg; sg = sg_next(sg))
		nents++;
	return nents;
}

/* How many entries hold len bytes; -EINVAL if the list is shorter. */
static inline int sg_nents_for_len(struct scatterlist *sg, u64 len)
{
	int nents;
	u64 total;

	if (!len)
		return 0;
	for (nents = 0, total = 0; sg; sg = sg_next(sg)) {
		nents++;
		total += sg->length;
		if (total >= len)
			return nents;
	}
	return -22; /* -EINVAL */
}

/* The physical address of an entry's buffer. */
static inline phys_addr_t sg_phys(struct scatterlist *sg)
{
	return page_to_phys(sg_page(sg)) + sg->offset;
}

/*
 * Every CPU-side entry of a table (orig_nents), and every DMA segment (nents). The count takes
 * the type of i, so drivers' `int i` compiles under -Wsign-compare too.
 */
#define for_each_sgtable_sg(sgt, sg, i) \
	for_each_sg((sgt)->sgl, sg, (__typeof__(i))(sgt)->orig_nents, i)
#define for_each_sgtable_dma_sg(sgt, sg, i) \
	for_each_sg((sgt)->sgl, sg, (__typeof__(i))(sgt)->nents, i)

/* ---- Call sites (see <dmacheck_call_site.h>) ---- */
#include <dmacheck_call_site.h>
#ifdef DMACHECK_CALL_SITES
#define sg_init_table(a0, a1) __extension__ ({ \
	struct scatterlist *dmacheck_a0 = (a0); unsigned int dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); sg_init_table(dmacheck_a0, dmacheck_a1); })
#define sg_init_one(a0, a1, a2) __extension__ ({ \
	struct scatterlist *dmacheck_a0 = (a0); const void *dmacheck_a1 = (a1); unsigned int dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); sg_init_one(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define dmacheck_sg_dma_address_ptr(a0) __extension__ ({ \
	struct scatterlist *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_sg_dma_address_ptr(dmacheck_a0); })
#define dmacheck_sg_dma_len_ptr(a0) __extension__ ({ \
	struct scatterlist *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_sg_dma_len_ptr(dmacheck_a0); })
#define sg_alloc_table(a0, a1, a2) __extension__ ({ \
	struct sg_table *dmacheck_a0 = (a0); unsigned int dmacheck_a1 = (a1); gfp_t dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); sg_alloc_table(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define sg_free_table(a0) __extension__ ({ \
	struct sg_table *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); sg_free_table(dmacheck_a0); })
#define sg_alloc_table_from_pages_segment(a0, a1, a2, a3, a4, a5, a6) __extension__ ({ \
	struct sg_table *dmacheck_a0 = (a0); struct page **dmacheck_a1 = (a1); unsigned int dmacheck_a2 = (a2); unsigned int dmacheck_a3 = (a3); unsigned long dmacheck_a4 = (a4); unsigned int dmacheck_a5 = (a5); gfp_t dmacheck_a6 = (a6); \
	dmacheck_call_site(__FILE__, __LINE__); sg_alloc_table_from_pages_segment(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4, dmacheck_a5, dmacheck_a6); })
#define sg_alloc_table_from_pages(a0, a1, a2, a3, a4, a5) __extension__ ({ \
	struct sg_table *dmacheck_a0 = (a0); struct page **dmacheck_a1 = (a1); unsigned int dmacheck_a2 = (a2); unsigned int dmacheck_a3 = (a3); unsigned long dmacheck_a4 = (a4); gfp_t dmacheck_a5 = (a5); \
	dmacheck_call_site(__FILE__, __LINE__); sg_alloc_table_from_pages(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4, dmacheck_a5); })
#define sg_set_buf(a0, a1, a2) __extension__ ({ \
	struct scatterlist *dmacheck_a0 = (a0); const void *dmacheck_a1 = (a1); unsigned int dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); sg_set_buf(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define sg_virt(a0) __extension__ ({ \
	const struct scatterlist *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); sg_virt(dmacheck_a0); })
#endif
/* ---- End of call sites ---- */

#endif /* _DMACHECK_LINUX_SCATTERLIST_H */
