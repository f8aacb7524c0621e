/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/bitfield.h>: a value placed in, and taken out of, the field a constant mask covers
 * (register and descriptor layouts: FIELD_PREP(GENMASK(15, 0), len)).
 */
#ifndef _DMACHECK_LINUX_BITFIELD_H
#define _DMACHECK_LINUX_BITFIELD_H

#include <linux/bits.h>

#define __bf_shf(mask)		__builtin_ctzll(mask)
#define FIELD_PREP(mask, val)	((((__typeof__(mask))(val)) << __bf_shf(mask)) & (mask))
#define FIELD_GET(mask, reg)	((__typeof__(mask))(((reg) & (mask)) >> __bf_shf(mask)))
#define FIELD_FIT(mask, val)	(!((((__typeof__(mask))(val)) << __bf_shf(mask)) & ~(mask)))
#define FIELD_MAX(mask)		((__typeof__(mask))((mask) >> __bf_shf(mask)))

#endif /* _DMACHECK_LINUX_BITFIELD_H */
