/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/errno.h>: the error numbers DMA calls return negated (-EIO, -ENOMEM, -EFAULT).
 *
 * The system's own <linux/errno.h> (which glibc's <errno.h> includes) is included when there is
 * one, so either header may come first.
 */
#ifndef _DMACHECK_LINUX_ERRNO_H
#define _DMACHECK_LINUX_ERRNO_H

#if defined(__has_include_next)
#if __has_include_next(<linux/errno.h>)
#include_next <linux/errno.h>
#define DMACHECK_HAVE_SYSTEM_ERRNO 1
#endif
#endif

#ifndef DMACHECK_HAVE_SYSTEM_ERRNO
#include <errno.h>
#endif

#endif /* _DMACHECK_LINUX_ERRNO_H */
