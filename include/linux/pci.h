/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/pci.h>: `struct pci_dev` and the pci_* DMA calls of DMA-mapping.txt, which are the
 * dma_* calls on &pdev->dev (as the kernel's pci-dma-compat.h has them). Directions are the
 * PCI_DMA_* ints, equal to the DMA_* values. pci_alloc_consistent allocates with GFP_ATOMIC.
 *
 * A NULL pci_dev is what DMA-mapping.txt says to pass "for PCI like buses where devices don't
 * have struct pci_dev (like ISA, EISA)": the calls then use an ISA device with 24-bit masks
 * (as the x86 fallback device did), whose memory must lie below 16 MiB (GFP_DMA). Only the
 * mask setters refuse NULL (-EIO).
 */
#ifndef _DMACHECK_LINUX_PCI_H
#define _DMACHECK_LINUX_PCI_H

#include <linux/types.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/dmapool.h>
#include <linux/scatterlist.h>

struct pci_dev {
	unsigned short vendor;
	unsigned short device;
	unsigned int devfn;
	u64 dma_mask;		/* dev.dma_mask points here */
	struct device dev;
};

#define to_pci_dev(d) ((struct pci_dev *)((char *)(d) - offsetof(struct pci_dev, dev)))

#define PCI_DMA_BIDIRECTIONAL	DMA_BIDIRECTIONAL
#define PCI_DMA_TODEVICE	DMA_TO_DEVICE
#define PCI_DMA_FROMDEVICE	DMA_FROM_DEVICE
#define PCI_DMA_NONE		DMA_NONE

/* The device of NULL-pci_dev calls: ISA, 24-bit masks. */
struct device *dmacheck_isa_device(void);

static inline struct device *dmacheck_pci_dma_dev(struct pci_dev *hwdev)
{
	return hwdev ? &hwdev->dev : dmacheck_isa_device();
}

static inline const char *pci_name(const struct pci_dev *pdev)
{
	return dev_name(&pdev->dev);
}

static inline void *pci_get_drvdata(struct pci_dev *pdev)
{
	return dev_get_drvdata(&pdev->dev);
}

static inline void pci_set_drvdata(struct pci_dev *pdev, void *data)
{
	dev_set_drvdata(&pdev->dev, data);
}

static inline void *pci_alloc_consistent(struct pci_dev *hwdev, size_t size,
					 dma_addr_t *dma_handle)
{
	return (dma_alloc_coherent)(dmacheck_pci_dma_dev(hwdev), size, dma_handle, GFP_ATOMIC);
}

static inline void *pci_zalloc_consistent(struct pci_dev *hwdev, size_t size,
					  dma_addr_t *dma_handle)
{
	return (dma_alloc_coherent)(dmacheck_pci_dma_dev(hwdev), size, dma_handle,
				  GFP_ATOMIC | __GFP_ZERO);
}

static inline void pci_free_consistent(struct pci_dev *hwdev, size_t size, void *vaddr,
				       dma_addr_t dma_handle)
{
	(dma_free_coherent)(dmacheck_pci_dma_dev(hwdev), size, vaddr, dma_handle);
}

static inline dma_addr_t pci_map_single(struct pci_dev *hwdev, void *ptr, size_t size,
					int direction)
{
	return (dma_map_single)(dmacheck_pci_dma_dev(hwdev), ptr, size,
			      (enum dma_data_direction)direction);
}

static inline void pci_unmap_single(struct pci_dev *hwdev, dma_addr_t dma_addr, size_t size,
				    int direction)
{
	(dma_unmap_single)(dmacheck_pci_dma_dev(hwdev), dma_addr, size,
			 (enum dma_data_direction)direction);
}

static inline dma_addr_t pci_map_page(struct pci_dev *hwdev, struct page *page,
				      unsigned long offset, size_t size, int direction)
{
	return (dma_map_page)(dmacheck_pci_dma_dev(hwdev), page, offset, size,
			    (enum dma_data_direction)direction);
}

static inline void pci_unmap_page(struct pci_dev *hwdev, dma_addr_t dma_address, size_t size,
				  int direction)
{
	(dma_unmap_page)(dmacheck_pci_dma_dev(hwdev), dma_address, size,
		       (enum dma_data_direction)direction);
}

static inline int pci_map_sg(struct pci_dev *hwdev, struct scatterlist *sg, int nents,
			     int direction)
{
	return (dma_map_sg)(dmacheck_pci_dma_dev(hwdev), sg, nents,
			  (enum dma_data_direction)direction);
}

static inline void pci_unmap_sg(struct pci_dev *hwdev, struct scatterlist *sg, int nents,
				int direction)
{
	(dma_unmap_sg)(dmacheck_pci_dma_dev(hwdev), sg, nents, (enum dma_data_direction)direction);
}

/* The older syncs: see dma_sync_single() in <linux/dma-mapping.h> for how they are carried out. */
static inline void pci_dma_sync_single(struct pci_dev *hwdev, dma_addr_t dma_handle,
				       size_t size, int direction)
{
	(dma_sync_single)(dmacheck_pci_dma_dev(hwdev), dma_handle, size,
			(enum dma_data_direction)direction);
}

static inline void pci_dma_sync_sg(struct pci_dev *hwdev, struct scatterlist *sg, int nelems,
				   int direction)
{
	(dma_sync_sg)(dmacheck_pci_dma_dev(hwdev), sg, nelems, (enum dma_data_direction)direction);
}

static inline void pci_dma_sync_single_for_cpu(struct pci_dev *hwdev, dma_addr_t dma_handle,
					       size_t size, int direction)
{
	(dma_sync_single_for_cpu)(dmacheck_pci_dma_dev(hwdev), dma_handle, size,
				(enum dma_data_direction)direction);
}

static inline void pci_dma_sync_single_for_device(struct pci_dev *hwdev,
						  dma_addr_t dma_handle, size_t size,
						  int direction)
{
	(dma_sync_single_for_device)(dmacheck_pci_dma_dev(hwdev), dma_handle, size,
				   (enum dma_data_direction)direction);
}

static inline void pci_dma_sync_sg_for_cpu(struct pci_dev *hwdev, struct scatterlist *sg,
					   int nelems, int direction)
{
	(dma_sync_sg_for_cpu)(dmacheck_pci_dma_dev(hwdev), sg, nelems,
			    (enum dma_data_direction)direction);
}

static inline void pci_dma_sync_sg_for_device(struct pci_dev *hwdev, struct scatterlist *sg,
					      int nelems, int direction)
{
	(dma_sync_sg_for_device)(dmacheck_pci_dma_dev(hwdev), sg, nelems,
			       (enum dma_data_direction)direction);
}

/* pci_dma_mapping_error(hwdev, addr), or the one-argument form of kernels before 2.6.27. */
static inline int dmacheck_pci_dma_mapping_error(struct pci_dev *hwdev, dma_addr_t dma_addr)
{
	return (dma_mapping_error)(dmacheck_pci_dma_dev(hwdev), dma_addr);
}
#define pci_dma_mapping_error(...)					\
	DMACHECK_PICK2(__VA_ARGS__, dmacheck_pci_dma_mapping_error,	\
		       dmacheck_mapping_error_nodev, )(__VA_ARGS__)

static inline int pci_dma_supported(struct pci_dev *hwdev, u64 mask)
{
	return (dma_supported)(dmacheck_pci_dma_dev(hwdev), mask);
}

static inline int pci_set_dma_mask(struct pci_dev *dev, u64 mask)
{
	return (dma_set_mask)(dev ? &dev->dev : NULL, mask);
}

static inline int pci_set_consistent_dma_mask(struct pci_dev *dev, u64 mask)
{
	return (dma_set_coherent_mask)(dev ? &dev->dev : NULL, mask);
}

/*
 * pci_pool: dma_pool on &pdev->dev. pci_pool_create takes the five arguments of DMA-API.txt,
 * or the six of 2.4's DMA-mapping.txt (the trailing SLAB_ flags are ignored).
 */
#define pci_pool dma_pool
#define DMACHECK_FIRST(a, ...) a
#define pci_pool_create(name, pdev, size, align, ...)				\
	dma_pool_create(name, dmacheck_pci_dma_dev(pdev), size, align,		\
			DMACHECK_FIRST(__VA_ARGS__, ))
#define pci_pool_alloc(pool, flags, handle)	dma_pool_alloc(pool, flags, handle)
#define pci_pool_zalloc(pool, flags, handle)	dma_pool_zalloc(pool, flags, handle)
#define pci_pool_free(pool, vaddr, addr)	dma_pool_free(pool, vaddr, addr)
#define pci_pool_destroy(pool)			dma_pool_destroy(pool)

/* ---- Call sites (see <dmacheck_call_site.h>) ---- */
#include <dmacheck_call_site.h>
#ifdef DMACHECK_CALL_SITES
#define pci_alloc_consistent(a0, a1, a2) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); dma_addr_t *dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); pci_alloc_consistent(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define pci_zalloc_consistent(a0, a1, a2) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); dma_addr_t *dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); pci_zalloc_consistent(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define pci_free_consistent(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); void *dmacheck_a2 = (a2); dma_addr_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_free_consistent(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_map_single(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); void *dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_map_single(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_unmap_single(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_unmap_single(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_map_page(a0, a1, a2, a3, a4) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); struct page *dmacheck_a1 = (a1); unsigned long dmacheck_a2 = (a2); size_t dmacheck_a3 = (a3); int dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); pci_map_page(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define pci_unmap_page(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_unmap_page(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_map_sg(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); struct scatterlist *dmacheck_a1 = (a1); int dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_map_sg(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_unmap_sg(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); struct scatterlist *dmacheck_a1 = (a1); int dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_unmap_sg(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_dma_sync_single(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_dma_sync_single(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_dma_sync_sg(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); struct scatterlist *dmacheck_a1 = (a1); int dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_dma_sync_sg(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_dma_sync_single_for_cpu(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_dma_sync_single_for_cpu(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_dma_sync_single_for_device(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_dma_sync_single_for_device(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_dma_sync_sg_for_cpu(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); struct scatterlist *dmacheck_a1 = (a1); int dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_dma_sync_sg_for_cpu(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define pci_dma_sync_sg_for_device(a0, a1, a2, a3) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); struct scatterlist *dmacheck_a1 = (a1); int dmacheck_a2 = (a2); int dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); pci_dma_sync_sg_for_device(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dmacheck_pci_dma_mapping_error(a0, a1) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_pci_dma_mapping_error(dmacheck_a0, dmacheck_a1); })
#define pci_dma_supported(a0, a1) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); u64 dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); pci_dma_supported(dmacheck_a0, dmacheck_a1); })
#define pci_set_dma_mask(a0, a1) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); u64 dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); pci_set_dma_mask(dmacheck_a0, dmacheck_a1); })
#define pci_set_consistent_dma_mask(a0, a1) __extension__ ({ \
	struct pci_dev *dmacheck_a0 = (a0); u64 dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); pci_set_consistent_dma_mask(dmacheck_a0, dmacheck_a1); })
#endif
/* ---- End of call sites ---- */

#endif /* _DMACHECK_LINUX_PCI_H */
