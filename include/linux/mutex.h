/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/mutex.h>: sleeping locks, over POSIX mutexes. Unlike spinlocks they do not put the
 * holder in atomic context, so GFP_KERNEL allocations under them are fine, as in the kernel.
 */
#ifndef _DMACHECK_LINUX_MUTEX_H
#define _DMACHECK_LINUX_MUTEX_H

#include <pthread.h>

struct mutex {
	pthread_mutex_t lock;
};

#define DEFINE_MUTEX(name)	struct mutex name = { PTHREAD_MUTEX_INITIALIZER }
#define mutex_init(m)		((void)pthread_mutex_init(&(m)->lock, NULL))
#define mutex_lock(m)		((void)pthread_mutex_lock(&(m)->lock))
#define mutex_unlock(m)		((void)pthread_mutex_unlock(&(m)->lock))
/* 1 if it was taken, 0 if another holder has it (the kernel's sense, not pthread's). */
#define mutex_trylock(m)	(pthread_mutex_trylock(&(m)->lock) == 0)
#define mutex_destroy(m)	((void)pthread_mutex_destroy(&(m)->lock))

#endif /* _DMACHECK_LINUX_MUTEX_H */
