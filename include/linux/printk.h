/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/printk.h>: printk and the pr_* family, printed on stderr. Log levels are accepted and
 * dropped (KERN_ERR "..." is just the message). pr_debug and pr_devel print only when the file
 * defines DEBUG, as without dynamic debug in the kernel; the format is still checked.
 */
#ifndef _DMACHECK_LINUX_PRINTK_H
#define _DMACHECK_LINUX_PRINTK_H

#include <stdio.h>

#define KERN_EMERG	""
#define KERN_ALERT	""
#define KERN_CRIT	""
#define KERN_ERR	""
#define KERN_WARNING	""
#define KERN_NOTICE	""
#define KERN_INFO	""
#define KERN_DEBUG	""
#define KERN_CONT	""

#ifndef pr_fmt
#define pr_fmt(fmt) fmt
#endif

#define printk(fmt, ...)	fprintf(stderr, fmt, ##__VA_ARGS__)
#define no_printk(fmt, ...)	({ if (0) fprintf(stderr, fmt, ##__VA_ARGS__); 0; })

#define pr_emerg(fmt, ...)	printk(pr_fmt(fmt), ##__VA_ARGS__)
#define pr_alert(fmt, ...)	printk(pr_fmt(fmt), ##__VA_ARGS__)
#define pr_crit(fmt, ...)	printk(pr_fmt(fmt), ##__VA_ARGS__)
#define pr_err(fmt, ...)	printk(pr_fmt(fmt), ##__VA_ARGS__)
#define pr_warn(fmt, ...)	printk(pr_fmt(fmt), ##__VA_ARGS__)
#define pr_notice(fmt, ...)	printk(pr_fmt(fmt), ##__VA_ARGS__)
#define pr_info(fmt, ...)	printk(pr_fmt(fmt), ##__VA_ARGS__)
#define pr_cont(fmt, ...)	printk(fmt, ##__VA_ARGS__)
#ifdef DEBUG
#define pr_debug(fmt, ...)	printk(pr_fmt(fmt), ##__VA_ARGS__)
#else
#define pr_debug(fmt, ...)	no_printk(pr_fmt(fmt), ##__VA_ARGS__)
#endif
#define pr_devel(fmt, ...)	pr_debug(fmt, ##__VA_ARGS__)
#define pr_err_once(fmt, ...)	pr_err(fmt, ##__VA_ARGS__)
#define pr_warn_once(fmt, ...)	pr_warn(fmt, ##__VA_ARGS__)
#define pr_info_once(fmt, ...)	pr_info(fmt, ##__VA_ARGS__)
#define pr_err_ratelimited(fmt, ...)	pr_err(fmt, ##__VA_ARGS__)
#define pr_warn_ratelimited(fmt, ...)	pr_warn(fmt, ##__VA_ARGS__)

#endif /* _DMACHECK_LINUX_PRINTK_H */
