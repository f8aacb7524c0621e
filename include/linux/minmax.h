/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/minmax.h>: min, max and clamp that evaluate each argument once. Like today's kernel,
 * min()/max() take operands of different types when the comparison is sound; min_t()/max_t()
 * convert both to the type named first.
 */
#ifndef _DMACHECK_LINUX_MINMAX_H
#define _DMACHECK_LINUX_MINMAX_H

#define min(x, y)	({ __auto_type _min_x = (x); __auto_type _min_y = (y); _min_x < _min_y ? _min_x : _min_y; })
#define max(x, y)	({ __auto_type _max_x = (x); __auto_type _max_y = (y); _max_x > _max_y ? _max_x : _max_y; })
#define min3(x, y, z)	min((__typeof__(x))min(x, y), z)
#define max3(x, y, z)	max((__typeof__(x))max(x, y), z)
#define min_t(type, x, y)	({ type _min_x = (x); type _min_y = (y); _min_x < _min_y ? _min_x : _min_y; })
#define max_t(type, x, y)	({ type _max_x = (x); type _max_y = (y); _max_x > _max_y ? _max_x : _max_y; })
#define clamp(val, lo, hi)	min((__typeof__(val))max(val, lo), hi)
#define clamp_t(type, val, lo, hi)	min_t(type, max_t(type, val, lo), hi)
#define clamp_val(val, lo, hi)	clamp_t(__typeof__(val), val, lo, hi)
#define swap(a, b)	do { __typeof__(a) _swap_t = (a); (a) = (b); (b) = _swap_t; } while (0)

#endif /* _DMACHECK_LINUX_MINMAX_H */
