/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* <linux/string.h>: memcpy, memset, strscpy and the rest, from the C library. */
#ifndef _DMACHECK_LINUX_STRING_H
#define _DMACHECK_LINUX_STRING_H

#include <string.h>
#include <sys/types.h>

#include <linux/errno.h>

/* Copy at most size - 1 bytes and terminate; the length copied, or -E2BIG when truncated. */
static inline ssize_t strscpy(char *dst, const char *src, size_t size)
{
	size_t len;

	if (size == 0)
		return -E2BIG;
	len = strnlen(src, size);
	if (len == size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return -E2BIG;
	}
	memcpy(dst, src, len + 1);
	return (ssize_t)len;
}

#endif /* _DMACHECK_LINUX_STRING_H */
