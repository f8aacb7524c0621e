/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * <linux/module.h>: the module declarations at the end of a driver file. The descriptions are
 * dropped; module_init(fn) and module_exit(fn) define dmacheck_module_init() and
 * dmacheck_module_exit(), which a test calls to load and unload the driver (one module per
 * program). Parameters stay the variables they name. KBUILD_MODNAME, which kbuild defines on
 * the compiler's command line, is for the test's build to define the same way.
 */
#ifndef _DMACHECK_LINUX_MODULE_H
#define _DMACHECK_LINUX_MODULE_H

#include <linux/init.h>
#include <linux/kernel.h>

/*
 * The kernel builds with -Wno-unused-parameter (scripts/Makefile.extrawarn, even at W=1), so
 * driver code leaves callback parameters unused (an IRQ handler's irq): a driver file compiles
 * here under -Wextra as it does there.
 */
#pragma GCC diagnostic ignored "-Wunused-parameter"

/* A file-scope declaration that consumes the `;` after each macro. */
#define __dmacheck_module_decl	extern int dmacheck_module_declaration

#define MODULE_LICENSE(s)		__dmacheck_module_decl
#define MODULE_AUTHOR(s)		__dmacheck_module_decl
#define MODULE_DESCRIPTION(s)		__dmacheck_module_decl
#define MODULE_VERSION(s)		__dmacheck_module_decl
#define MODULE_ALIAS(s)			__dmacheck_module_decl
#define MODULE_FIRMWARE(s)		__dmacheck_module_decl
#define MODULE_DEVICE_TABLE(type, name)	__dmacheck_module_decl
#define MODULE_PARM_DESC(name, s)	__dmacheck_module_decl
#define module_param(name, type, perm)	__dmacheck_module_decl
#define module_param_named(n, v, t, p)	__dmacheck_module_decl
#define EXPORT_SYMBOL(sym)		__dmacheck_module_decl
#define EXPORT_SYMBOL_GPL(sym)		__dmacheck_module_decl
#define THIS_MODULE			((void *)0)

int dmacheck_module_init(void);
void dmacheck_module_exit(void);
#define module_init(fn)	int dmacheck_module_init(void) { return fn(); } __dmacheck_module_decl
#define module_exit(fn)	void dmacheck_module_exit(void) { fn(); } __dmacheck_module_decl

#endif /* _DMACHECK_LINUX_MODULE_H */
