/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* <linux/init.h>: the section markers of init and exit code, which mean nothing here. */
#ifndef _DMACHECK_LINUX_INIT_H
#define _DMACHECK_LINUX_INIT_H

#define __init
#define __exit
#define __initdata
#define __initconst
#define __exitdata
#define __devinit
#define __devexit

#endif /* _DMACHECK_LINUX_INIT_H */
