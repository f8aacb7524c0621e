/* The harness's <linux/kernel.h>: what its driver code needs besides DMA. */
#ifndef HARNESS_LINUX_KERNEL_H
#define HARNESS_LINUX_KERNEL_H

#include <stddef.h>
#include <string.h>
#include <linux/types.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
