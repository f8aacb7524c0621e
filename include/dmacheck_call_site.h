/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Call sites: every function the headers declare that reports is also a macro that evaluates
 * its arguments, tells dmacheck the caller's __FILE__ and __LINE__, and makes the call, so a
 * report names the driver's line, not dmacheck's. A call made without the macro (through a
 * function pointer) names dmacheck's own source; define DMACHECK_NO_CALL_SITES before the
 * first include to turn the macros off (C++ and non-GNU compilers never get them: they need
 * GNU C's statement expressions).
 */
#ifndef _DMACHECK_CALL_SITE_H
#define _DMACHECK_CALL_SITE_H

#if !defined(DMACHECK_NO_CALL_SITES) && !defined(__cplusplus) && defined(__GNUC__)
#define DMACHECK_CALL_SITES 1
#endif

/* Where the next call on this thread is made from (the macros call it). */
void dmacheck_call_site(const char *file, int line);

#endif /* _DMACHECK_CALL_SITE_H */
