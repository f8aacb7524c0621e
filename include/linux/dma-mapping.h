/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/dma-mapping.h>: the DMA API of Documentation/DMA-API.txt, checked by dmacheck.
 *
 * Every call is recorded, judged by dmacheck's rules (RULES.md) and carried out on simulated
 * physical memory: DMA addresses are bus addresses a device can use (never CPU pointers), and a
 * device's mask really limits them. Violations are printed to stderr as they happen (unless
 * DMACHECK=print=0), counted (dmacheck_error_count()), and written to DMACHECK_REPORT at exit.
 *
 * Bad arguments never crash the checker: a map, unmap, sync, allocation, free or setter
 * (dma_set_mask, ...) given NULL or a `struct device *` that dmacheck did not make is reported
 * (`invalid-device`, on the device "(NULL or unknown struct device)") and refused, and only
 * pointers dmacheck made are ever dereferenced; the queries answer as for a device that cannot
 * do DMA, unreported (dma_supported: 0, dma_get_mask: 32 bits, dma_mapping_error: the test of
 * the value). A program with its own `struct device` has its pointers registered instead (see
 * <dmacheck.h>). Every call on a released device is reported (`device-released`). An unknown
 * direction value is DMA_NONE (`direction-none`, the report showing the value given); NULL or
 * foreign memory is reported (`map-invalid-memory`); unknown DMA addresses are reported
 * (`unmap-unknown`, `sync-unknown`).
 * A refused map returns DMA_MAPPING_ERROR, a refused allocation NULL, a refused sg map 0.
 *
 * A rule at level deny stops the program: the violation is printed, the exit report written,
 * and the process aborts (SIGABRT) inside the offending call, which is where a debugger or a
 * fuzzer wants it. C code cannot unwind, so there is no other way back.
 */
#ifndef _DMACHECK_LINUX_DMA_MAPPING_H
#define _DMACHECK_LINUX_DMA_MAPPING_H

#include <linux/types.h>
#include <linux/errno.h>
#include <linux/err.h>
#include <linux/device.h>
#include <linux/dma-contiguous.h>
#include <linux/dma-direction.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>

#ifndef _DMACHECK_LINUX_DEVICE_H
/*
 * `struct device` is the program's own (its <linux/device.h> came first on the include path):
 * dmacheck registers each device pointer on first use and never dereferences it (<dmacheck.h>).
 */
void dmacheck_adopt_devices(void);
static void __attribute__((constructor, used)) dmacheck_adopt_program_devices(void)
{
	dmacheck_adopt_devices();
}
#endif

/* What a failed dma_map_single()/dma_map_page() returns. Test with dma_mapping_error(). */
#define DMA_MAPPING_ERROR	(~(dma_addr_t)0)
/* The mask of the low n bits; DMA_BIT_MASK(64) is all ones. */
#define DMA_BIT_MASK(n)		(((n) >= 64) ? ~0ULL : ((1ULL << (n)) - 1))

/* Attributes of the *_attrs calls (Documentation/DMA-attributes.txt); unknown bits are ignored. */
#define DMA_ATTR_WEAK_ORDERING		(1UL << 1)
#define DMA_ATTR_WRITE_COMBINE		(1UL << 2)
#define DMA_ATTR_NO_KERNEL_MAPPING	(1UL << 4)
#define DMA_ATTR_SKIP_CPU_SYNC		(1UL << 5)
#define DMA_ATTR_FORCE_CONTIGUOUS	(1UL << 6)
#define DMA_ATTR_ALLOC_SINGLE_PAGES	(1UL << 7)
#define DMA_ATTR_NO_WARN		(1UL << 8)
#define DMA_ATTR_PRIVILEGED		(1UL << 9)
#define DMA_ATTR_MMIO			(1UL << 10)
#define DMA_ATTR_CPU_CACHE_CLEAN	(1UL << 11)

/* ---- Addressing limits ---------------------------------------------------------------- */

/* 1 if the platform can do DMA for the device with this mask, else 0. */
int dma_supported(struct device *dev, u64 mask);
/* Set the streaming mask (and *dev->dma_mask): 0, or -EIO if not supported. */
int dma_set_mask(struct device *dev, u64 mask);
/* Set the coherent mask (and dev->coherent_dma_mask): 0, or -EIO. */
int dma_set_coherent_mask(struct device *dev, u64 mask);
/* Both: 0, or -EIO with neither changed. */
int dma_set_mask_and_coherent(struct device *dev, u64 mask);
#ifdef _DMACHECK_LINUX_DEVICE_H
/* Point dev->dma_mask at the coherent mask, then set both (for buses that left it NULL). */
static inline int dma_coerce_mask_and_coherent(struct device *dev, u64 mask)
{
	dev->dma_mask = &dev->coherent_dma_mask;
	return (dma_set_mask_and_coherent)(dev, mask);
}
#endif
/* The streaming mask in force. */
u64 dma_get_mask(struct device *dev);
/* The smallest mask that reaches all memory. */
u64 dma_get_required_mask(struct device *dev);
/* The minimum alignment and width of a mapping or partial sync (64). */
int dma_get_cache_alignment(void);

/* ---- Streaming mappings --------------------------------------------------------------- */

dma_addr_t dma_map_single(struct device *dev, void *cpu_addr, size_t size,
			  enum dma_data_direction dir);
dma_addr_t dma_map_single_attrs(struct device *dev, void *cpu_addr, size_t size,
				enum dma_data_direction dir, unsigned long attrs);
void dma_unmap_single(struct device *dev, dma_addr_t dma_addr, size_t size,
		      enum dma_data_direction dir);
void dma_unmap_single_attrs(struct device *dev, dma_addr_t dma_addr, size_t size,
			    enum dma_data_direction dir, unsigned long attrs);
dma_addr_t dma_map_page(struct device *dev, struct page *page, unsigned long offset,
			size_t size, enum dma_data_direction dir);
dma_addr_t dma_map_page_attrs(struct device *dev, struct page *page, unsigned long offset,
			      size_t size, enum dma_data_direction dir, unsigned long attrs);
void dma_unmap_page(struct device *dev, dma_addr_t dma_address, size_t size,
		    enum dma_data_direction dir);
void dma_unmap_page_attrs(struct device *dev, dma_addr_t dma_address, size_t size,
			  enum dma_data_direction dir, unsigned long attrs);

/*
 * Non-zero if a map failed. Calling it is what the `unmap-unchecked` rule looks for.
 *
 * Both forms compile: dma_mapping_error(dev, addr), and the one-argument form of kernels
 * before 2.6.27, dma_mapping_error(addr), which counts as the check of whichever device's
 * mapping has that address.
 */
int dma_mapping_error(struct device *dev, dma_addr_t dma_addr);
int dmacheck_mapping_error_nodev(dma_addr_t dma_addr);
#define DMACHECK_PICK2(_1, _2, name, ...) name
#define dma_mapping_error(...)						\
	DMACHECK_PICK2(__VA_ARGS__, DMACHECK_MAPPING_ERROR,		\
		       DMACHECK_MAPPING_ERROR_NODEV, )(__VA_ARGS__)

/* ---- Scatter-gather mappings (see <linux/scatterlist.h>) ------------------------------ */

/*
 * Map the first nents entries of a list; returns the number of DMA segments (walk that many
 * with for_each_sg), 0 on failure. The list's DMA fields are written as the kernel writes them
 * (sg_dma_address/sg_dma_len of the first `count` entries, the others cleared), and dmacheck
 * remembers the mapping by the list's address: unmap and sync with the same list pointer and
 * the same nents.
 */
int dma_map_sg(struct device *dev, struct scatterlist *sg, int nents,
	       enum dma_data_direction dir);
int dma_map_sg_attrs(struct device *dev, struct scatterlist *sg, int nents,
		     enum dma_data_direction dir, unsigned long attrs);
/* nents is what was passed to dma_map_sg, not what it returned. */
void dma_unmap_sg(struct device *dev, struct scatterlist *sg, int nents,
		  enum dma_data_direction dir);
void dma_unmap_sg_attrs(struct device *dev, struct scatterlist *sg, int nents,
			enum dma_data_direction dir, unsigned long attrs);

/* ---- Syncs: who owns a streaming mapping ---------------------------------------------- */

/* Hand a mapping to the CPU (after the device wrote it, before the CPU reads it). */
void dma_sync_single_for_cpu(struct device *dev, dma_addr_t dma_handle, size_t size,
			     enum dma_data_direction dir);
/* Hand it back to the device (after the CPU wrote it, before the device reads it). */
void dma_sync_single_for_device(struct device *dev, dma_addr_t dma_handle, size_t size,
				enum dma_data_direction dir);
void dma_sync_single_range_for_cpu(struct device *dev, dma_addr_t dma_handle,
				   unsigned long offset, size_t size,
				   enum dma_data_direction dir);
void dma_sync_single_range_for_device(struct device *dev, dma_addr_t dma_handle,
				      unsigned long offset, size_t size,
				      enum dma_data_direction dir);
void dma_sync_sg_for_cpu(struct device *dev, struct scatterlist *sg, int nelems,
			 enum dma_data_direction dir);
void dma_sync_sg_for_device(struct device *dev, struct scatterlist *sg, int nelems,
			    enum dma_data_direction dir);

/*
 * The single sync calls of the older API (DMA-API.txt before 2.6.5): "before reading values
 * written by the device (DMA_FROM_DEVICE), after writing values the device will read
 * (DMA_TO_DEVICE), before *and* after handing memory to the device (DMA_BIDIRECTIONAL)".
 * dmacheck carries each out as the modern call that does that:
 *
 *   DMA_TO_DEVICE      ->  dma_sync_*_for_device   (the device reads what the CPU wrote)
 *   DMA_FROM_DEVICE    ->  dma_sync_*_for_cpu      (the CPU reads what the device wrote)
 *   DMA_BIDIRECTIONAL  ->  the hand-over the mapping is due: _for_cpu while the device owns it,
 *                          _for_device while the CPU owns it (so successive calls alternate)
 *   anything else      ->  _for_cpu, which reports the direction
 *
 * and judges it by today's rules: the CPU must not write a buffer while the device owns it, so
 * "map, write the buffer, dma_sync_single(DMA_TO_DEVICE)" is reported (`cpu-write-device-owned`)
 * unless DMACHECK=digests=0; sync for the CPU first, as today's API requires.
 */
void dma_sync_single(struct device *dev, dma_addr_t dma_handle, size_t size,
		     enum dma_data_direction dir);
void dma_sync_single_range(struct device *dev, dma_addr_t dma_handle, unsigned long offset,
			   size_t size, enum dma_data_direction dir);
void dma_sync_sg(struct device *dev, struct scatterlist *sg, int nelems,
		 enum dma_data_direction dir);

/* ---- Coherent memory ------------------------------------------------------------------ */

/*
 * size bytes of zeroed coherent memory: the CPU address, and the DMA address in *dma_handle;
 * NULL on failure. A NULL dma_handle loses the DMA address: the memory cannot be freed, and is
 * reported as a leak when the device is released.
 */
void *dma_alloc_coherent(struct device *dev, size_t size, dma_addr_t *dma_handle, gfp_t flag);
void *dma_zalloc_coherent(struct device *dev, size_t size, dma_addr_t *dma_handle, gfp_t flag);
void *dma_alloc_attrs(struct device *dev, size_t size, dma_addr_t *dma_handle, gfp_t flag,
		      unsigned long attrs);
/* The same size, CPU address and handle; IRQs must be enabled. NULL does nothing. */
void dma_free_coherent(struct device *dev, size_t size, void *cpu_addr, dma_addr_t dma_handle);
void dma_free_attrs(struct device *dev, size_t size, void *cpu_addr, dma_addr_t dma_handle,
		    unsigned long attrs);

/* ---- Noncoherent memory (DMA-API.txt, Part II) ----------------------------------------- */

/*
 * Memory the driver keeps consistent with dma_cache_sync. The CPU owns it after the
 * allocation and after dma_cache_sync(DMA_FROM_DEVICE), the device after DMA_TO_DEVICE or
 * DMA_BIDIRECTIONAL. On a coherent platform (the default) the syncs move no bytes; with
 * DMACHECK=bounce the CPU and the device see separate copies, so a missing sync reads stale data.
 */
void *dma_alloc_noncoherent(struct device *dev, size_t size, dma_addr_t *dma_handle,
			    gfp_t flag);
void dma_free_noncoherent(struct device *dev, size_t size, void *cpu_addr,
			  dma_addr_t dma_handle);
void dma_cache_sync(struct device *dev, void *vaddr, size_t size,
		    enum dma_data_direction direction);
/* 0 only for noncoherent memory on a non-coherent platform, else 1. */
int dma_is_consistent(struct device *dev, dma_addr_t dma_handle);

/* ---- Declared coherent memory --------------------------------------------------------- */

#define DMA_MEMORY_MAP			0x01
#define DMA_MEMORY_IO			0x02
#define DMA_MEMORY_INCLUDES_CHILDREN	0x04
#define DMA_MEMORY_EXCLUSIVE		0x08

/*
 * Serve the device's coherent allocations from size bytes of memory at bus (physical) address
 * bus_addr, which the device reaches at device_addr: memory on the device (a bus address
 * outside host memory, which dmacheck backs with memory of its own, so the CPU's pointers and
 * the device reach the same bytes) or host memory the platform set aside (virt_to_phys of
 * reserved pages). Returns DMA_MEMORY_MAP or DMA_MEMORY_IO, or 0 on failure (reported).
 */
int dma_declare_coherent_memory(struct device *dev, dma_addr_t bus_addr, dma_addr_t device_addr,
				size_t size, int flags);
/* Remove the region; allocations still live from it are reported. */
void dma_release_declared_memory(struct device *dev);
/* Occupy part of the region: its CPU address, or ERR_PTR(-EINVAL) / ERR_PTR(-EBUSY). */
void *dma_mark_declared_memory_occupied(struct device *dev, dma_addr_t device_addr,
					size_t size);

/* ---- User mappings -------------------------------------------------------------------- */

/*
 * Map vma->vm_end - vma->vm_start bytes of a coherent buffer, from page vma->vm_pgoff, into user
 * space: a real second mapping of the same pages, whose address dmacheck stores in vma->vm_start
 * (see struct vm_area_struct). 0, or -ENXIO for a mapping beyond the buffer (reported). Freeing
 * the buffer while the mapping lives is reported; dmacheck_munmap(vma) unmaps.
 */
int dma_mmap_coherent(struct device *dev, struct vm_area_struct *vma, void *cpu_addr,
		      dma_addr_t dma_addr, size_t size);

/* ---- Unmap state (what a driver keeps to unmap later) --------------------------------- */

/*
 * Real fields, as in a kernel built with CONFIG_NEED_DMA_MAP_STATE or CONFIG_DMA_API_DEBUG
 * (include/linux/dma-mapping.h): the address and length a driver stores here are the ones its
 * unmap passes, so a stale or wrong one is caught by the unmap's rules.
 */
#define DEFINE_DMA_UNMAP_ADDR(ADDR_NAME)		dma_addr_t ADDR_NAME
#define DEFINE_DMA_UNMAP_LEN(LEN_NAME)			__u32 LEN_NAME
#define dma_unmap_addr(PTR, ADDR_NAME)			((PTR)->ADDR_NAME)
#define dma_unmap_addr_set(PTR, ADDR_NAME, VAL)		(((PTR)->ADDR_NAME) = (VAL))
#define dma_unmap_len(PTR, LEN_NAME)			((PTR)->LEN_NAME)
#define dma_unmap_len_set(PTR, LEN_NAME, VAL)		(((PTR)->LEN_NAME) = (VAL))

/* ---- sg_table mappings (Linux 5.8+) ---------------------------------------------------- */

/*
 * Map all sgt->orig_nents entries of the table and store the number of DMA segments in
 * sgt->nents: 0, or a negative errno (-EINVAL for a NULL table or a bad direction, -EIO when
 * the map is refused; the cause is reported). Walk the DMA side with for_each_sgtable_dma_sg
 * (nents) and the CPU side with for_each_sgtable_sg (orig_nents). Reports name the call as
 * dma_map_sg, which it is over the table's list.
 */
int dma_map_sgtable(struct device *dev, struct sg_table *sgt, enum dma_data_direction dir,
		    unsigned long attrs);
/* Unmap with sgt->orig_nents: a table whose orig_nents changed since the map is reported. */
void dma_unmap_sgtable(struct device *dev, struct sg_table *sgt, enum dma_data_direction dir,
		       unsigned long attrs);
void dma_sync_sgtable_for_cpu(struct device *dev, struct sg_table *sgt,
			      enum dma_data_direction dir);
void dma_sync_sgtable_for_device(struct device *dev, struct sg_table *sgt,
				 enum dma_data_direction dir);

/* ---- Allocation variants --------------------------------------------------------------- */

/* Write-combined coherent memory: dma_alloc_attrs(DMA_ATTR_WRITE_COMBINE). */
void *dma_alloc_wc(struct device *dev, size_t size, dma_addr_t *dma_addr, gfp_t gfp);
void dma_free_wc(struct device *dev, size_t size, void *cpu_addr, dma_addr_t dma_addr);

/*
 * Pages for streaming DMA that stay mapped (kernel/dma/mapping.c): the device owns them after
 * the allocation, as after a dma_map_page; hand them over with dma_sync_single_for_cpu /
 * _for_device on the returned handle, free with dma_free_pages. NULL on failure.
 */
struct page *dma_alloc_pages(struct device *dev, size_t size, dma_addr_t *dma_handle,
			     enum dma_data_direction dir, gfp_t gfp);
void dma_free_pages(struct device *dev, size_t size, struct page *page, dma_addr_t dma_handle,
		    enum dma_data_direction dir);

/*
 * Memory the device sees contiguous, for streaming DMA: a mapped sg_table (nents DMA segments)
 * that the device owns after the allocation; sync it with dma_sync_sgtable_for_cpu/_device and
 * reach it from the CPU through dma_vmap_noncontiguous. As the kernel does without an IOMMU's
 * own allocator, the pages are one block and the table one entry. NULL on failure.
 */
struct sg_table *dma_alloc_noncontiguous(struct device *dev, size_t size,
					 enum dma_data_direction dir, gfp_t gfp,
					 unsigned long attrs);
void dma_free_noncontiguous(struct device *dev, size_t size, struct sg_table *sgt,
			    enum dma_data_direction dir);
void *dma_vmap_noncontiguous(struct device *dev, size_t size, struct sg_table *sgt);
void dma_vunmap_noncontiguous(struct device *dev, void *vaddr);

/*
 * Managed (devres) coherent memory: freed when the device is released (driver unbind), without
 * a leak report. dmam_free_coherent frees one early; freeing it with dma_free_coherent (or a
 * dma_alloc_coherent buffer with dmam_free_coherent) is reported (`managed-free-mismatch`).
 */
void *dmam_alloc_coherent(struct device *dev, size_t size, dma_addr_t *dma_handle, gfp_t gfp);
void *dmam_alloc_attrs(struct device *dev, size_t size, dma_addr_t *dma_handle, gfp_t gfp,
		       unsigned long attrs);
void dmam_free_coherent(struct device *dev, size_t size, void *vaddr, dma_addr_t dma_handle);

/*
 * A table describing a coherent buffer's pages, to export it (dma-buf): one entry of size
 * rounded up to pages. cpu_addr and dma_addr are what dma_alloc_attrs returned and size is within
 * the allocation, or the call is reported (`get-sgtable-unknown`) and returns -ENXIO. Free the
 * table with sg_free_table.
 */
int dma_get_sgtable_attrs(struct device *dev, struct sg_table *sgt, void *cpu_addr,
			  dma_addr_t dma_addr, size_t size, unsigned long attrs);
int dma_get_sgtable(struct device *dev, struct sg_table *sgt, void *cpu_addr,
		    dma_addr_t dma_addr, size_t size);
/* dma_mmap_coherent with the allocation's attrs, and for dma_alloc_wc memory. */
int dma_mmap_attrs(struct device *dev, struct vm_area_struct *vma, void *cpu_addr,
		   dma_addr_t dma_addr, size_t size, unsigned long attrs);
int dma_mmap_wc(struct device *dev, struct vm_area_struct *vma, void *cpu_addr,
		dma_addr_t dma_addr, size_t size);

/* ---- MMIO of another device, and physical addresses ------------------------------------ */

/*
 * Map size bytes of a peer device's MMIO at phys_addr (a BAR: memory with no struct page) for
 * dev: the bus address is phys_addr, or an IOVA behind an IOMMU; it must be under the mask.
 * Mapping RAM with it is reported (`map-resource-ram`, the kernel's WARN in dma_map_resource)
 * and refused. Test it with dma_mapping_error; unmap with dma_unmap_resource. The device model
 * cannot reach MMIO: dmacheck_device_read/_write of such a mapping fail.
 */
dma_addr_t dma_map_resource(struct device *dev, phys_addr_t phys_addr, size_t size,
			    enum dma_data_direction dir, unsigned long attrs);
void dma_unmap_resource(struct device *dev, dma_addr_t addr, size_t size,
			enum dma_data_direction dir, unsigned long attrs);
/*
 * Linux 6.18: map by physical address. RAM is mapped as dma_map_page would map it (a page
 * mapping); with DMA_ATTR_MMIO the address is MMIO, mapped as dma_map_resource maps it. Any
 * other address is refused as memory that is not DMA-able (`map-invalid-memory`). Unmap with
 * dma_unmap_phys and the same attrs.
 */
dma_addr_t dma_map_phys(struct device *dev, phys_addr_t phys, size_t size,
			enum dma_data_direction dir, unsigned long attrs);
void dma_unmap_phys(struct device *dev, dma_addr_t addr, size_t size,
		    enum dma_data_direction dir, unsigned long attrs);

/* ---- The two-step IOVA API (Linux 6.17, dma-api.rst Part Ie) ---------------------------- */

/*
 * Reserve I/O virtual address space once, link memory into it piece by piece, unlink, give it
 * back. Only behind an IOMMU (dmacheck_iommu_device_create): elsewhere dma_iova_try_alloc
 * returns false and the streaming calls are the way. Each link is a streaming mapping at its
 * IOVA (the device owns it; dma_sync_single_* on its addresses hand it over), ended by the
 * unlink. Checked: a state no try_alloc made (`iova-not-allocated`), links past the space or at
 * another in-page offset (`iova-link-out-of-range`) or over linked pages (`iova-link-overlap`),
 * unlinks cutting a link (`iova-unlink-partial`), and frees with live links (`iova-free-linked`).
 * A device access is judged per link: one access across two links is reported.
 */
struct dma_iova_state {
	dma_addr_t addr;
	u64 __size;
};

static inline bool dma_use_iova(struct dma_iova_state *state)
{
	return state->__size != 0;
}

bool dma_iova_try_alloc(struct device *dev, struct dma_iova_state *state, phys_addr_t phys,
			size_t size);
void dma_iova_free(struct device *dev, struct dma_iova_state *state);
void dma_iova_destroy(struct device *dev, struct dma_iova_state *state, size_t mapped_len,
		      enum dma_data_direction dir, unsigned long attrs);
int dma_iova_sync(struct device *dev, struct dma_iova_state *state, size_t offset, size_t size);
int dma_iova_link(struct device *dev, struct dma_iova_state *state, phys_addr_t phys,
		  size_t offset, size_t size, enum dma_data_direction dir, unsigned long attrs);
void dma_iova_unlink(struct device *dev, struct dma_iova_state *state, size_t offset,
		     size_t size, enum dma_data_direction dir, unsigned long attrs);

/* ---- Device limits and queries ---------------------------------------------------------- */

/*
 * The longest DMA segment and the boundary no segment crosses, as an IOMMU merging an sg list
 * respects them (the PCI defaults: 64 KiB, 4 GiB). Both setters return 0 (older kernels returned
 * int, 6.11+ void: both uses compile).
 */
int dma_set_max_seg_size(struct device *dev, unsigned int size);
int dma_set_seg_boundary(struct device *dev, unsigned long mask);
unsigned int dma_get_max_seg_size(struct device *dev);
unsigned long dma_get_seg_boundary(struct device *dev);
/* The largest single mapping: SIZE_MAX, or 256 KiB behind bounce buffers (swiotlb). */
size_t dma_max_mapping_size(struct device *dev);
/* The largest mapping without a slow path: 128 KiB behind an IOMMU, else the maximum. */
size_t dma_opt_mapping_size(struct device *dev);
/*
 * Whether the syncs of a mapping at dma_addr do anything. Always true here: the kernel too
 * calls every sync when CONFIG_DMA_API_DEBUG is on, so a driver that skips them when this is
 * false is still checked.
 */
bool dma_need_sync(struct device *dev, dma_addr_t dma_addr);
/* Whether the streaming mask reaches less than all memory (bounce buffering may be needed). */
bool dma_addressing_limited(struct device *dev);
/* Whether mappings must be unmapped: always (as with CONFIG_DMA_API_DEBUG), so every unmap is checked. */
bool dma_need_unmap(struct device *dev);
/* Whether coherent memory can be mapped to user space (dma_mmap_coherent): always. */
bool dma_can_mmap(struct device *dev);
/* The boundary below which dma_map_sg may merge segments: the IOMMU page mask, 0 without one. */
unsigned long dma_get_merge_boundary(struct device *dev);

/* ---- Call sites (see <dmacheck_call_site.h>) ---- */
#include <dmacheck_call_site.h>
#ifdef DMACHECK_CALL_SITES
#define dma_supported(a0, a1) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); u64 dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); dma_supported(dmacheck_a0, dmacheck_a1); })
#define dma_set_mask(a0, a1) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); u64 dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); dma_set_mask(dmacheck_a0, dmacheck_a1); })
#define dma_set_coherent_mask(a0, a1) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); u64 dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); dma_set_coherent_mask(dmacheck_a0, dmacheck_a1); })
#define dma_set_mask_and_coherent(a0, a1) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); u64 dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); dma_set_mask_and_coherent(dmacheck_a0, dmacheck_a1); })
#define dma_get_mask(a0) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dma_get_mask(dmacheck_a0); })
#define dma_get_required_mask(a0) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dma_get_required_mask(dmacheck_a0); })
#define dma_map_single(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); void *dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_map_single(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_map_single_attrs(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); void *dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); unsigned long dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_map_single_attrs(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_unmap_single(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_unmap_single(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_unmap_single_attrs(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); unsigned long dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_unmap_single_attrs(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_map_page(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct page *dmacheck_a1 = (a1); unsigned long dmacheck_a2 = (a2); size_t dmacheck_a3 = (a3); enum dma_data_direction dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_map_page(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_map_page_attrs(a0, a1, a2, a3, a4, a5) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct page *dmacheck_a1 = (a1); unsigned long dmacheck_a2 = (a2); size_t dmacheck_a3 = (a3); enum dma_data_direction dmacheck_a4 = (a4); unsigned long dmacheck_a5 = (a5); \
	dmacheck_call_site(__FILE__, __LINE__); dma_map_page_attrs(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4, dmacheck_a5); })
#define dma_unmap_page(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_unmap_page(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_unmap_page_attrs(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); unsigned long dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_unmap_page_attrs(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dmacheck_site_dma_mapping_error(a0, a1) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); dma_mapping_error(dmacheck_a0, dmacheck_a1); })
#define dmacheck_site_dmacheck_mapping_error_nodev(a0) __extension__ ({ \
	dma_addr_t dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dmacheck_mapping_error_nodev(dmacheck_a0); })
#define dma_map_sg(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct scatterlist *dmacheck_a1 = (a1); int dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_map_sg(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_map_sg_attrs(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct scatterlist *dmacheck_a1 = (a1); int dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); unsigned long dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_map_sg_attrs(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_unmap_sg(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct scatterlist *dmacheck_a1 = (a1); int dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_unmap_sg(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_unmap_sg_attrs(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct scatterlist *dmacheck_a1 = (a1); int dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); unsigned long dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_unmap_sg_attrs(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_sync_single_for_cpu(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_sync_single_for_cpu(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_sync_single_for_device(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_sync_single_for_device(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_sync_single_range_for_cpu(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); unsigned long dmacheck_a2 = (a2); size_t dmacheck_a3 = (a3); enum dma_data_direction dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_sync_single_range_for_cpu(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_sync_single_range_for_device(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); unsigned long dmacheck_a2 = (a2); size_t dmacheck_a3 = (a3); enum dma_data_direction dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_sync_single_range_for_device(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_sync_sg_for_cpu(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct scatterlist *dmacheck_a1 = (a1); int dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_sync_sg_for_cpu(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_sync_sg_for_device(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct scatterlist *dmacheck_a1 = (a1); int dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_sync_sg_for_device(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_sync_single(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_sync_single(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_sync_single_range(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); unsigned long dmacheck_a2 = (a2); size_t dmacheck_a3 = (a3); enum dma_data_direction dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_sync_single_range(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_sync_sg(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct scatterlist *dmacheck_a1 = (a1); int dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_sync_sg(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_alloc_coherent(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); dma_addr_t *dmacheck_a2 = (a2); gfp_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_alloc_coherent(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_zalloc_coherent(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); dma_addr_t *dmacheck_a2 = (a2); gfp_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_zalloc_coherent(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_alloc_attrs(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); dma_addr_t *dmacheck_a2 = (a2); gfp_t dmacheck_a3 = (a3); unsigned long dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_alloc_attrs(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_free_coherent(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); void *dmacheck_a2 = (a2); dma_addr_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_free_coherent(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_free_attrs(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); void *dmacheck_a2 = (a2); dma_addr_t dmacheck_a3 = (a3); unsigned long dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_free_attrs(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_alloc_noncoherent(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); dma_addr_t *dmacheck_a2 = (a2); gfp_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_alloc_noncoherent(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_free_noncoherent(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); void *dmacheck_a2 = (a2); dma_addr_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_free_noncoherent(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_cache_sync(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); void *dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_cache_sync(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_is_consistent(a0, a1) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); dma_is_consistent(dmacheck_a0, dmacheck_a1); })
#define dma_declare_coherent_memory(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); dma_addr_t dmacheck_a2 = (a2); size_t dmacheck_a3 = (a3); int dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_declare_coherent_memory(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_release_declared_memory(a0) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dma_release_declared_memory(dmacheck_a0); })
#define dma_mark_declared_memory_occupied(a0, a1, a2) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); dma_mark_declared_memory_occupied(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define dma_mmap_coherent(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct vm_area_struct *dmacheck_a1 = (a1); void *dmacheck_a2 = (a2); dma_addr_t dmacheck_a3 = (a3); size_t dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_mmap_coherent(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_map_sgtable(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct sg_table *dmacheck_a1 = (a1); enum dma_data_direction dmacheck_a2 = (a2); unsigned long dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_map_sgtable(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_unmap_sgtable(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct sg_table *dmacheck_a1 = (a1); enum dma_data_direction dmacheck_a2 = (a2); unsigned long dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_unmap_sgtable(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_sync_sgtable_for_cpu(a0, a1, a2) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct sg_table *dmacheck_a1 = (a1); enum dma_data_direction dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); dma_sync_sgtable_for_cpu(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define dma_sync_sgtable_for_device(a0, a1, a2) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct sg_table *dmacheck_a1 = (a1); enum dma_data_direction dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); dma_sync_sgtable_for_device(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define dma_alloc_wc(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); dma_addr_t *dmacheck_a2 = (a2); gfp_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_alloc_wc(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_free_wc(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); void *dmacheck_a2 = (a2); dma_addr_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_free_wc(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_alloc_pages(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); dma_addr_t *dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); gfp_t dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_alloc_pages(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_free_pages(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); struct page *dmacheck_a2 = (a2); dma_addr_t dmacheck_a3 = (a3); enum dma_data_direction dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_free_pages(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_alloc_noncontiguous(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); enum dma_data_direction dmacheck_a2 = (a2); gfp_t dmacheck_a3 = (a3); unsigned long dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_alloc_noncontiguous(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_free_noncontiguous(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); struct sg_table *dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_free_noncontiguous(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_vmap_noncontiguous(a0, a1, a2) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); struct sg_table *dmacheck_a2 = (a2); \
	dmacheck_call_site(__FILE__, __LINE__); dma_vmap_noncontiguous(dmacheck_a0, dmacheck_a1, dmacheck_a2); })
#define dmam_alloc_coherent(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); dma_addr_t *dmacheck_a2 = (a2); gfp_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dmam_alloc_coherent(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dmam_alloc_attrs(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); dma_addr_t *dmacheck_a2 = (a2); gfp_t dmacheck_a3 = (a3); unsigned long dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dmam_alloc_attrs(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dmam_free_coherent(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); size_t dmacheck_a1 = (a1); void *dmacheck_a2 = (a2); dma_addr_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dmam_free_coherent(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_get_sgtable_attrs(a0, a1, a2, a3, a4, a5) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct sg_table *dmacheck_a1 = (a1); void *dmacheck_a2 = (a2); dma_addr_t dmacheck_a3 = (a3); size_t dmacheck_a4 = (a4); unsigned long dmacheck_a5 = (a5); \
	dmacheck_call_site(__FILE__, __LINE__); dma_get_sgtable_attrs(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4, dmacheck_a5); })
#define dma_get_sgtable(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct sg_table *dmacheck_a1 = (a1); void *dmacheck_a2 = (a2); dma_addr_t dmacheck_a3 = (a3); size_t dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_get_sgtable(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_mmap_attrs(a0, a1, a2, a3, a4, a5) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct vm_area_struct *dmacheck_a1 = (a1); void *dmacheck_a2 = (a2); dma_addr_t dmacheck_a3 = (a3); size_t dmacheck_a4 = (a4); unsigned long dmacheck_a5 = (a5); \
	dmacheck_call_site(__FILE__, __LINE__); dma_mmap_attrs(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4, dmacheck_a5); })
#define dma_mmap_wc(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct vm_area_struct *dmacheck_a1 = (a1); void *dmacheck_a2 = (a2); dma_addr_t dmacheck_a3 = (a3); size_t dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_mmap_wc(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_map_resource(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); phys_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); unsigned long dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_map_resource(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_unmap_resource(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); unsigned long dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_unmap_resource(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_map_phys(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); phys_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); unsigned long dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_map_phys(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_unmap_phys(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); unsigned long dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_unmap_phys(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_iova_try_alloc(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct dma_iova_state *dmacheck_a1 = (a1); phys_addr_t dmacheck_a2 = (a2); size_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_iova_try_alloc(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_iova_free(a0, a1) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct dma_iova_state *dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); dma_iova_free(dmacheck_a0, dmacheck_a1); })
#define dma_iova_destroy(a0, a1, a2, a3, a4) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct dma_iova_state *dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); enum dma_data_direction dmacheck_a3 = (a3); unsigned long dmacheck_a4 = (a4); \
	dmacheck_call_site(__FILE__, __LINE__); dma_iova_destroy(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4); })
#define dma_iova_sync(a0, a1, a2, a3) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct dma_iova_state *dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); size_t dmacheck_a3 = (a3); \
	dmacheck_call_site(__FILE__, __LINE__); dma_iova_sync(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3); })
#define dma_iova_link(a0, a1, a2, a3, a4, a5, a6) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct dma_iova_state *dmacheck_a1 = (a1); phys_addr_t dmacheck_a2 = (a2); size_t dmacheck_a3 = (a3); size_t dmacheck_a4 = (a4); enum dma_data_direction dmacheck_a5 = (a5); unsigned long dmacheck_a6 = (a6); \
	dmacheck_call_site(__FILE__, __LINE__); dma_iova_link(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4, dmacheck_a5, dmacheck_a6); })
#define dma_iova_unlink(a0, a1, a2, a3, a4, a5) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); struct dma_iova_state *dmacheck_a1 = (a1); size_t dmacheck_a2 = (a2); size_t dmacheck_a3 = (a3); enum dma_data_direction dmacheck_a4 = (a4); unsigned long dmacheck_a5 = (a5); \
	dmacheck_call_site(__FILE__, __LINE__); dma_iova_unlink(dmacheck_a0, dmacheck_a1, dmacheck_a2, dmacheck_a3, dmacheck_a4, dmacheck_a5); })
#define dma_set_max_seg_size(a0, a1) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); unsigned int dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); dma_set_max_seg_size(dmacheck_a0, dmacheck_a1); })
#define dma_set_seg_boundary(a0, a1) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); unsigned long dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); dma_set_seg_boundary(dmacheck_a0, dmacheck_a1); })
#define dma_get_max_seg_size(a0) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dma_get_max_seg_size(dmacheck_a0); })
#define dma_get_seg_boundary(a0) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dma_get_seg_boundary(dmacheck_a0); })
#define dma_max_mapping_size(a0) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dma_max_mapping_size(dmacheck_a0); })
#define dma_opt_mapping_size(a0) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dma_opt_mapping_size(dmacheck_a0); })
#define dma_need_sync(a0, a1) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); dma_addr_t dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); dma_need_sync(dmacheck_a0, dmacheck_a1); })
#define dma_addressing_limited(a0) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dma_addressing_limited(dmacheck_a0); })
#define dma_need_unmap(a0) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dma_need_unmap(dmacheck_a0); })
#define dma_can_mmap(a0) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dma_can_mmap(dmacheck_a0); })
#define dma_get_merge_boundary(a0) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); \
	dmacheck_call_site(__FILE__, __LINE__); dma_get_merge_boundary(dmacheck_a0); })
#define dma_coerce_mask_and_coherent(a0, a1) __extension__ ({ \
	struct device *dmacheck_a0 = (a0); u64 dmacheck_a1 = (a1); \
	dmacheck_call_site(__FILE__, __LINE__); dma_coerce_mask_and_coherent(dmacheck_a0, dmacheck_a1); })
#define DMACHECK_MAPPING_ERROR dmacheck_site_dma_mapping_error
#define DMACHECK_MAPPING_ERROR_NODEV dmacheck_site_dmacheck_mapping_error_nodev
#else
#define DMACHECK_MAPPING_ERROR dma_mapping_error
#define DMACHECK_MAPPING_ERROR_NODEV dmacheck_mapping_error_nodev
#endif
/* ---- End of call sites ---- */

#endif /* _DMACHECK_LINUX_DMA_MAPPING_H */
