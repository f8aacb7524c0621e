/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/types.h> for dmacheck's C ABI: the kernel's fixed-width and DMA types.
 *
 * dmacheck's C ABI targets LP64 systems (64-bit Linux and macOS), where `unsigned long`, pointers,
 * `dma_addr_t` and `u64` are all 64 bits wide.
 */
#ifndef _DMACHECK_LINUX_TYPES_H
#define _DMACHECK_LINUX_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

_Static_assert(sizeof(void *) == 8 && sizeof(unsigned long) == 8,
	       "dmacheck's C ABI needs an LP64 target");

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;

/*
 * The __u8 ... __u64 family: the system's <linux/types.h> when there is one (system headers that
 * include <linux/types.h> find everything they expect), else our own.
 */
#if defined(__has_include_next)
#if __has_include_next(<linux/types.h>)
#include_next <linux/types.h>
#define DMACHECK_HAVE_SYSTEM_TYPES 1
#endif
#endif
#ifndef DMACHECK_HAVE_SYSTEM_TYPES
typedef u8 __u8;
typedef u16 __u16;
typedef u32 __u32;
typedef u64 __u64;
/* Values in the device's byte order (<linux/byteorder/generic.h> converts them). */
typedef u16 __le16;
typedef u32 __le32;
typedef u64 __le64;
typedef u16 __be16;
typedef u32 __be32;
typedef u64 __be64;
#endif

/* A bus address as the device sees it. Never a CPU pointer. */
typedef u64 dma_addr_t;
/* A (simulated) physical address. */
typedef u64 phys_addr_t;
/* Allocation flags: GFP_KERNEL, GFP_ATOMIC, ... (<linux/gfp.h>). */
typedef unsigned int gfp_t;
/* The address or size of a bus resource (a PCI BAR). */
typedef phys_addr_t resource_size_t;

#endif /* _DMACHECK_LINUX_TYPES_H */
