/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* <linux/atomic.h>: atomic_t counters (in-flight buffers, references), over C11 atomics. */
#ifndef _DMACHECK_LINUX_ATOMIC_H
#define _DMACHECK_LINUX_ATOMIC_H

typedef struct {
	int counter;
} atomic_t;

#define ATOMIC_INIT(i)		{ (i) }
#define atomic_read(v)		__atomic_load_n(&(v)->counter, __ATOMIC_RELAXED)
#define atomic_set(v, i)	__atomic_store_n(&(v)->counter, (i), __ATOMIC_RELAXED)
#define atomic_add(i, v)	((void)__atomic_add_fetch(&(v)->counter, (i), __ATOMIC_RELAXED))
#define atomic_sub(i, v)	((void)__atomic_sub_fetch(&(v)->counter, (i), __ATOMIC_RELAXED))
#define atomic_inc(v)		atomic_add(1, v)
#define atomic_dec(v)		atomic_sub(1, v)
/* The value-returning operations are full barriers, as in the kernel. */
#define atomic_add_return(i, v)	__atomic_add_fetch(&(v)->counter, (i), __ATOMIC_SEQ_CST)
#define atomic_sub_return(i, v)	__atomic_sub_fetch(&(v)->counter, (i), __ATOMIC_SEQ_CST)
#define atomic_inc_return(v)	atomic_add_return(1, v)
#define atomic_dec_return(v)	atomic_sub_return(1, v)
#define atomic_dec_and_test(v)	(atomic_dec_return(v) == 0)
#define atomic_inc_and_test(v)	(atomic_inc_return(v) == 0)
#define atomic_xchg(v, i)	__atomic_exchange_n(&(v)->counter, (i), __ATOMIC_SEQ_CST)
#define atomic_cmpxchg(v, old, new) ({						\
	int _atomic_old = (old);						\
	__atomic_compare_exchange_n(&(v)->counter, &_atomic_old, (new), 0,	\
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);	\
	_atomic_old; })

#endif /* _DMACHECK_LINUX_ATOMIC_H */
