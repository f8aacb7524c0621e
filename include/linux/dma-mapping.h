/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/dma-mapping.h>: the DMA API of Documentation/DMA-API.txt, checked by dmacheck.
 *
 * Every call is recorded, judged by dmacheck's rules (RULES.md) and carried out on simulated
 * physical memory: DMA addresses are bus addresses a device can use (never CPU pointers), and a
 * device's mask really limits them. Violations are printed to stderr as they happen (unless
 * DMACHECK=print=0), counted (dmacheck_error_count()), and written to DMACHECK_REPORT at exit.
 *
 * Bad arguments never crash the checker: a map, unmap, sync, allocation or free given NULL or
 * a `struct device *` that dmacheck did not make is reported (`device-released`, on the device
 * "(NULL or unknown struct device)") and refused, and only pointers dmacheck made are ever
 * dereferenced; the queries answer as for a device that cannot do DMA, unreported
 * (dma_set_mask: -EIO, dma_supported: 0, dma_mapping_error: the test of the value). An unknown
 * direction value is DMA_NONE (`direction-none`); NULL or foreign memory is reported
 * (`map-invalid-memory`); unknown DMA addresses are reported (`unmap-unknown`, `sync-unknown`).
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
	DMACHECK_PICK2(__VA_ARGS__, dma_mapping_error,			\
		       dmacheck_mapping_error_nodev, )(__VA_ARGS__)

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

#endif /* _DMACHECK_LINUX_DMA_MAPPING_H */
