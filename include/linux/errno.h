/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* <linux/errno.h>: the error numbers DMA calls return negated (-EIO, -ENOMEM, -EFAULT). */
#ifndef _DMACHECK_LINUX_ERRNO_H
#define _DMACHECK_LINUX_ERRNO_H

#include <errno.h>

#endif /* _DMACHECK_LINUX_ERRNO_H */
