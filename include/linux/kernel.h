/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/kernel.h>: the everyday helpers of driver code (sizes and alignment, the halves of a
 * 64-bit DMA address, container_of, printk, WARN_ON, min/max, byte order), so that a driver
 * file that includes it compiles as it is. Sleeping and scheduling hints do nothing here.
 */
#ifndef _DMACHECK_LINUX_KERNEL_H
#define _DMACHECK_LINUX_KERNEL_H

#include <limits.h>
#include <stddef.h>
#include <linux/types.h>
#include <linux/compiler.h>
#include <linux/bits.h>
#include <linux/minmax.h>
#include <linux/printk.h>
#include <linux/bug.h>
#include <linux/err.h>
#include <linux/string.h>
#include <linux/byteorder/generic.h>

#define U8_MAX		((u8)~0U)
#define S8_MAX		((s8)(U8_MAX >> 1))
#define U16_MAX		((u16)~0U)
#define S16_MAX		((s16)(U16_MAX >> 1))
#define U32_MAX		((u32)~0U)
#define S32_MAX		((s32)(U32_MAX >> 1))
#define U64_MAX		((u64)~0ULL)
#define S64_MAX		((s64)(U64_MAX >> 1))

#define ARRAY_SIZE(arr)		(sizeof(arr) / sizeof((arr)[0]))
#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#endif

/* Alignment to a power of two `a`, in the type of `x`. */
#define __ALIGN_MASK(x, mask)	(((x) + (mask)) & ~(mask))
#define ALIGN(x, a)		__ALIGN_MASK(x, (__typeof__(x))(a) - 1)
#define ALIGN_DOWN(x, a)	((x) & ~((__typeof__(x))(a) - 1))
#define IS_ALIGNED(x, a)	(((x) & ((__typeof__(x))(a) - 1)) == 0)
#define PTR_ALIGN(p, a)		((__typeof__(p))ALIGN((unsigned long)(p), (a)))
#define round_up(x, y)		((((x) - 1) | ((__typeof__(x))((y) - 1))) + 1)
#define round_down(x, y)	((x) & ~((__typeof__(x))((y) - 1)))
/* Any divisor. */
#define DIV_ROUND_UP(n, d)	(((n) + (d) - 1) / (d))
#define roundup(x, y)		((((x) + ((y) - 1)) / (y)) * (y))
#define rounddown(x, y)		((x) - ((x) % (y)))

/* The halves of a 64-bit value (a DMA address written to two 32-bit registers). */
#define upper_32_bits(n)	((u32)(((n) >> 16) >> 16))
#define lower_32_bits(n)	((u32)((n) & 0xffffffff))
#define upper_16_bits(n)	((u16)((n) >> 16))
#define lower_16_bits(n)	((u16)((n) & 0xffff))

#define might_sleep()		do { } while (0)
#define cond_resched()		do { } while (0)
#define cpu_relax()		barrier()

#endif /* _DMACHECK_LINUX_KERNEL_H */
