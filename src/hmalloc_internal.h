/* hmalloc_internal.h: definitions every module shares: build configuration, the geometry of
 * pages and chunks, branch hints, the public-name macro and the fatal-error reporter. */
#ifndef HM_INTERNAL_H
#define HM_INTERNAL_H

#include "config.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define HM_INLINE static inline __attribute__((always_inline))
#define HM_NOINLINE __attribute__((noinline))
#define HM_COLD __attribute__((cold, noinline))
#define HM_EXPORT __attribute__((visibility("default")))

/* Public names go through one macro so the namespaced build cannot leak an unprefixed one. */
#define HM_CAT2(a, b) a##b
#define HM_CAT(a, b) HM_CAT2(a, b)
#define HM_NAME(n) HM_CAT(HM_PREFIX, n)
#define HM_STR2(x) #x
#define HM_STR(x) HM_STR2(x)
#define HM_PREFIX_STR HM_STR(HM_PREFIX)

/* Compile-time switches as constants, so every configuration is type-checked in every build. */
static const bool config_debug = HM_CONFIG_DEBUG;
/* 0 only in builds configured with --disable-fast-checks, which exist to measure what the free
 * fast path's region-start and double-free checks cost; everything else is checked as usual. */
#ifndef HM_CONFIG_FAST_CHECKS
#define HM_CONFIG_FAST_CHECKS 1
#endif
static const bool config_test_hooks = HM_CONFIG_TEST_HOOKS;
#ifdef HM_DROPIN
static const bool config_dropin = true;
#else
static const bool config_dropin = false;
#endif

/* Geometry.  Pages are 4 KiB (the allocator's own unit; it runs on kernels with 4 KiB pages).
 * A chunk is a 4 MiB, 4 MiB-aligned reservation whose first pages hold its header. */
#define LG_PAGE 12
#define PAGE ((size_t)1 << LG_PAGE)
#define PAGE_MASK (PAGE - 1)
#define LG_CHUNK 22
#define CHUNK ((size_t)1 << LG_CHUNK)
#define CHUNK_MASK (CHUNK - 1)
#define CHUNK_NPAGES (CHUNK >> LG_PAGE)
#define QUANTUM 16
#define MALLOCX_ZERO_FLAG 0x40 /* jemalloc's MALLOCX_ZERO */

#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((uintptr_t)(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((uintptr_t)(a)-1))

/* Fatal heap misuse: one line "hmalloc: <func>(): <what> <ptr>" written with a single write(),
 * then abort().  Tests replace the abort through the hook in init.c. */
HM_COLD __attribute__((noreturn)) void hm_fatal(const char *func, const char *what, const void *ptr);
/* Internal invariant violated (a bug in hmalloc, or memory corrupted by the program). */
HM_COLD __attribute__((noreturn)) void hm_panic(const char *what);
/* Write buf to stderr with one write() (messages arrive whole). */
void hm_write_stderr(const char *buf, size_t len);

#define hm_assert(cond)                                                                    \
    do {                                                                                   \
        if (config_debug && unlikely(!(cond)))                                             \
            hm_panic("assertion failed: " #cond " (" __FILE__ ")");                        \
    } while (0)

/* Small string helpers that never allocate (used for messages and stats). */
size_t hm_fmt_u64(char *buf, uint64_t v);
size_t hm_fmt_hex(char *buf, uintptr_t v);

#endif
