/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/compiler.h>: the annotations and access macros driver code is written with. Sparse's
 * address-space markers (__iomem, __user, __force, __bitwise) mean nothing to a C compiler and
 * expand to nothing, as they do in the kernel outside sparse. Includes the barriers, as the
 * kernel's does (through <asm/rwonce.h>).
 */
#ifndef _DMACHECK_LINUX_COMPILER_H
#define _DMACHECK_LINUX_COMPILER_H

#include <asm/barrier.h>

#define likely(x)		__builtin_expect(!!(x), 1)
#define unlikely(x)		__builtin_expect(!!(x), 0)

/* Each where the C library left it undefined (glibc's <sys/cdefs.h> has __always_inline). */
#ifndef __always_inline
#define __always_inline		inline __attribute__((__always_inline__))
#endif
#ifndef noinline
#define noinline		__attribute__((__noinline__))
#endif
#ifndef __maybe_unused
#define __maybe_unused		__attribute__((__unused__))
#endif
#ifndef __always_unused
#define __always_unused		__attribute__((__unused__))
#endif
#ifndef __must_check
#define __must_check		__attribute__((__warn_unused_result__))
#endif
#ifndef __packed
#define __packed		__attribute__((__packed__))
#endif
#ifndef __aligned
#define __aligned(x)		__attribute__((__aligned__(x)))
#endif
#ifndef __cold
#define __cold			__attribute__((__cold__))
#endif
#ifndef __pure
#define __pure			__attribute__((__pure__))
#endif
#ifndef __printf
#define __printf(a, b)		__attribute__((__format__(printf, a, b)))
#endif
#ifndef fallthrough
#define fallthrough		__attribute__((__fallthrough__))
#endif

#ifndef __iomem
#define __iomem
#endif
#ifndef __user
#define __user
#endif
#ifndef __force
#define __force
#endif
#ifndef __rcu
#define __rcu
#endif
#ifndef __bitwise
#define __bitwise
#endif

/* One access the compiler may neither tear, merge nor move out of a loop. */
#define READ_ONCE(x)		(*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, val)	do { *(volatile __typeof__(x) *)&(x) = (val); } while (0)

#endif /* _DMACHECK_LINUX_COMPILER_H */
