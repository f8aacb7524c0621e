/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <asm/barrier.h>: the memory barriers, as C11 fences. A driver orders its descriptor writes
 * against the device with dma_wmb()/dma_rmb() (the device model reads memory after them);
 * mb()/rmb()/wmb() also order MMIO. Here every one is at least the fence its name asks for.
 */
#ifndef _DMACHECK_ASM_BARRIER_H
#define _DMACHECK_ASM_BARRIER_H

#define barrier()		__atomic_signal_fence(__ATOMIC_SEQ_CST)
#define mb()			__atomic_thread_fence(__ATOMIC_SEQ_CST)
#define rmb()			__atomic_thread_fence(__ATOMIC_ACQUIRE)
#define wmb()			__atomic_thread_fence(__ATOMIC_RELEASE)
#define dma_mb()		mb()
#define dma_rmb()		rmb()
#define dma_wmb()		wmb()
#define smp_mb()		mb()
#define smp_rmb()		rmb()
#define smp_wmb()		wmb()
#define smp_store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define smp_load_acquire(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)

#endif /* _DMACHECK_ASM_BARRIER_H */
