/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/bug.h>: assertions. BUG() and a true BUG_ON() print where and abort, as an oops ends
 * the kernel's task; WARN_ON() prints and returns its condition, so `if (WARN_ON(x))` works.
 * BUILD_BUG_ON() is a static assertion.
 */
#ifndef _DMACHECK_LINUX_BUG_H
#define _DMACHECK_LINUX_BUG_H

#include <stdio.h>
#include <stdlib.h>
#include <linux/compiler.h>


#define BUG()	do { fprintf(stderr, "kernel BUG at %s:%d!\n", __FILE__, __LINE__); abort(); } while (0)
#define BUG_ON(cond)	do { if (unlikely(cond)) BUG(); } while (0)

#define WARN(cond, fmt, ...) ({ \
	int _warn_on = !!(cond); \
	if (unlikely(_warn_on)) \
		fprintf(stderr, "WARNING: at %s:%d: " fmt, __FILE__, __LINE__, ##__VA_ARGS__); \
	unlikely(_warn_on); })
#define WARN_ON(cond)		WARN(cond, "WARN_ON(%s)\n", #cond)
#define WARN_ON_ONCE(cond)	WARN_ON(cond)
#define WARN_ONCE(cond, fmt, ...)	WARN(cond, fmt, ##__VA_ARGS__)

#define BUILD_BUG_ON(cond)	_Static_assert(!(cond), "BUILD_BUG_ON(" #cond ")")
#define BUILD_BUG_ON_MSG(cond, msg)	_Static_assert(!(cond), msg)

#endif /* _DMACHECK_LINUX_BUG_H */
