/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/delay.h>: waits. The simulated device finishes its work when the test plays it, not
 * with time, so the waits return at once.
 */
#ifndef _DMACHECK_LINUX_DELAY_H
#define _DMACHECK_LINUX_DELAY_H

#define ndelay(n)		do { (void)(n); } while (0)
#define udelay(n)		do { (void)(n); } while (0)
#define mdelay(n)		do { (void)(n); } while (0)
#define msleep(n)		do { (void)(n); } while (0)
#define usleep_range(lo, hi)	do { (void)(lo); (void)(hi); } while (0)
#define fsleep(n)		do { (void)(n); } while (0)

#endif /* _DMACHECK_LINUX_DELAY_H */
