/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* <linux/bottom_half.h>: disabling softirqs on the calling thread (nesting). */
#ifndef _DMACHECK_LINUX_BOTTOM_HALF_H
#define _DMACHECK_LINUX_BOTTOM_HALF_H

void local_bh_disable(void);
void local_bh_enable(void);

#endif /* _DMACHECK_LINUX_BOTTOM_HALF_H */
