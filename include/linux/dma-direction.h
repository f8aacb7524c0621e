/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* <linux/dma-direction.h>: the direction of a streaming mapping, with the kernel's values. */
#ifndef _DMACHECK_LINUX_DMA_DIRECTION_H
#define _DMACHECK_LINUX_DMA_DIRECTION_H

enum dma_data_direction {
	DMA_BIDIRECTIONAL = 0, /* the device may read and write */
	DMA_TO_DEVICE = 1,     /* the device only reads */
	DMA_FROM_DEVICE = 2,   /* the device only writes */
	DMA_NONE = 3,          /* for debugging only: every call given it is reported */
};

/*
 * Any other value (a cast integer, uninitialized memory) is treated as DMA_NONE: the call is
 * reported as `direction-none` and refused.
 */

#endif /* _DMACHECK_LINUX_DMA_DIRECTION_H */
