/* ext_test.h: helpers for the tests of the jemalloc-compatible extended API
 * (test/api/ext_*_test.c): typed mallctl reads that fail the test with the name and error, and a
 * private-arena helper, on top of api_test.h's checks and byte patterns.
 *
 * These tests depend only on <hmalloc.h>, cmocka and the C library (so does api_test.h), and
 * call the API by its plain names, which api_test.h maps to the prefixed ones in a namespaced
 * build.  EXT_NAME is the word the allocator's messages and its JSON statistics carry,
 * EXT_CONF_ENV the variable its options are read from; both can be overridden on the command
 * line, which lets the tests be run against another allocator with the same API. */
#ifndef HM_EXT_TEST_H
#define HM_EXT_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "api_test.h" /* CHECK, hide, the byte patterns, KiB/MiB; cmocka, <hmalloc.h> */

#ifndef EXT_NAME
#define EXT_NAME "hmalloc"
#endif
#ifndef EXT_CONF_ENV
#define EXT_CONF_ENV "HMALLOC_CONF"
#endif

#define EXT_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Offset of the first byte in [from, to) that is not c, or to. */
static inline size_t ext_first_not(const void *p, size_t from, size_t to, unsigned char c)
{
    return from + first_not((const unsigned char *)p + from, to - from, c);
}

/* ---- mallctl ---------------------------------------------------------------------------- */

static inline void ext_vname(char *buf, size_t n, const char *fmt, va_list ap)
{
    int l = vsnprintf(buf, n, fmt, ap);
    CHECK(l > 0 && (size_t)l < n, "mallctl name too long: %s", fmt);
}

/* Read a value of exactly `len` bytes; fails the test unless mallctl returns 0 and keeps the
 * length. */
static inline void ext_ctl_read(const char *name, void *out, size_t len)
{
    size_t sz = len;
    int r = mallctl(name, out, &sz, NULL, 0);
    CHECK(r == 0, "mallctl(\"%s\") read returned %d (%s)", name, r, strerror(r));
    CHECK(sz == len, "mallctl(\"%s\") set *oldlenp to %zu, the type has %zu bytes", name, sz, len);
}

#define EXT_CTL_GETTER(fn, type)                                                               \
    static inline type fn(const char *fmt, ...)                                                \
    {                                                                                          \
        char name[256];                                                                        \
        va_list ap;                                                                            \
        type v;                                                                                \
        va_start(ap, fmt);                                                                     \
        ext_vname(name, sizeof name, fmt, ap);                                                 \
        va_end(ap);                                                                            \
        memset(&v, 0, sizeof v);                                                               \
        ext_ctl_read(name, &v, sizeof v);                                                      \
        return v;                                                                              \
    }

EXT_CTL_GETTER(ctl_size, size_t)
EXT_CTL_GETTER(ctl_ssize, ssize_t)
EXT_CTL_GETTER(ctl_u64, uint64_t)
EXT_CTL_GETTER(ctl_unsigned, unsigned)
EXT_CTL_GETTER(ctl_bool, bool)
EXT_CTL_GETTER(ctl_str, const char *)

/* mallctl on a formatted name, returning its error number. */
static inline int ctl_fmt(void *oldp, size_t *oldlenp, void *newp, size_t newlen, const char *fmt,
                          ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    ext_vname(name, sizeof name, fmt, ap);
    va_end(ap);
    return mallctl(name, oldp, oldlenp, newp, newlen);
}

/* Refresh the statistics (write "epoch"). */
static inline void ext_refresh(void)
{
    uint64_t e = 1;
    int r = mallctl("epoch", NULL, NULL, &e, sizeof e);
    CHECK(r == 0, "writing \"epoch\" returned %d", r);
}

static inline void ext_tcache_flush(void)
{
    int r = mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    CHECK(r == 0, "\"thread.tcache.flush\" returned %d", r);
}

/* The largest size nallocx accepts (acceptance is monotonic: a size is accepted when some class
 * holds it), found by bisection. */
static inline size_t ext_max_accepted(void)
{
    size_t lo = 1, hi = SIZE_MAX;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (nallocx(mid, 0) != 0)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* A new arena of our own (arenas.create): nothing else allocates from it. */
static inline unsigned ext_new_arena(void)
{
    unsigned a = 0;
    size_t sz = sizeof a;
    int r = mallctl("arenas.create", &a, &sz, NULL, 0);
    CHECK(r == 0, "\"arenas.create\" returned %d", r);
    CHECK(sz == sizeof a, "\"arenas.create\" set *oldlenp to %zu", sz);
    return a;
}

/* Flags that allocate from arena a with no thread cache: exact and deterministic. */
static inline int ext_arena_flags(unsigned a)
{
    return MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE;
}

#endif /* HM_EXT_TEST_H */
