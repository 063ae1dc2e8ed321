/* stress_common.h: helpers shared by the stress and fault tests (test/stress, test/fault).
 *
 * They measure the process (RSS and address space from /proc/self/statm), scale test sizes by
 * HMALLOC_STRESS_SCALE, fill and check blocks with a pattern that names the block, and report a
 * failure from a thread or a forked child, where cmocka's assertions cannot be used.  Nothing here
 * calls malloc: the helpers run inside forked children, under RLIMIT_AS and in failure paths. */
#ifndef HM_STRESS_COMMON_H
#define HM_STRESS_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Test the public API through hmalloc.h when the build provides it, so that a namespaced build
 * (--with-symbol-prefix) tests hm_malloc & co.  Compiled by hand without it, the tests run on the
 * C library's allocator, which is how they were shaken out. */
#if defined(__has_include)
#if __has_include("hmalloc.h")
#define HMALLOC_UNPREFIXED
#include "hmalloc.h"
#endif
#endif

#define MIB ((size_t)1 << 20)
#define GIB ((size_t)1 << 30)

/* HMALLOC_STRESS_SCALE multiplies the work (operations, threads, forks) of every test; a longer
 * run by hand finds rarer races.  Default 1; fractions are allowed for a quick look. */
static inline double stress_scale(void)
{
    const char *s = getenv("HMALLOC_STRESS_SCALE");
    double v = s ? strtod(s, NULL) : 1.0;
    return v > 0.001 ? v : 1.0;
}

static inline size_t stress_scaled(size_t n)
{
    double v = (double)n * stress_scale();
    return v < 1.0 ? 1 : (size_t)v;
}

/* A test that deadlocks must fail, not hang `make check`: SIGALRM's default action kills us. */
static inline void stress_watchdog(unsigned seconds)
{
    alarm((unsigned)((double)seconds * (stress_scale() > 1.0 ? stress_scale() : 1.0)));
}

/* Write a message to stderr without stdio or malloc (safe in a forked child and under OOM). */
__attribute__((format(printf, 1, 2))) static inline void stress_say(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    ssize_t unused = write(2, buf, (size_t)n);
    (void)unused;
}

/* Field `index` (0 = size, 1 = resident) of /proc/self/statm, in bytes; 0 if unreadable. */
static inline size_t stress_statm(int index)
{
    char buf[256];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = buf;
    for (int i = 0; i < index; i++) {
        p = strchr(p, ' ');
        if (p == NULL)
            return 0;
        p++;
    }
    return (size_t)strtoull(p, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE);
}

static inline size_t stress_rss(void) { return stress_statm(1); }
static inline size_t stress_vmsize(void) { return stress_statm(0); }

/* splitmix64: a small fast generator; each thread owns one state. */
static inline uint64_t stress_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static inline size_t stress_range(uint64_t *state, size_t lo, size_t hi)
{
    return lo + (size_t)(stress_rand(state) % (uint64_t)(hi - lo + 1));
}

/* The seed of a run: HMALLOC_STRESS_SEED when set (to replay a failure), else the clock. */
static inline uint64_t stress_seed(void)
{
    const char *s = getenv("HMALLOC_STRESS_SEED");
    if (s)
        return strtoull(s, NULL, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
}

/* The word at word index i of a block whose pattern key is `key` (derived from the block's id
 * and size): a block overwritten by another block, or handed out twice, shows another key. */
static inline uint64_t stress_pattern_word(uint64_t key, size_t i)
{
    uint64_t z = key + (uint64_t)i * 0x9e3779b97f4a7c15ull;
    return z ^ (z >> 29);
}

static inline uint64_t stress_key(uint64_t id, size_t size)
{
    uint64_t z = id * 0xff51afd7ed558ccdull ^ (uint64_t)size * 0xc4ceb9fe1a85ec53ull;
    return z ^ (z >> 33);
}

static inline void stress_fill(void *p, size_t n, uint64_t key)
{
    unsigned char *b = p;
    size_t words = n / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w = stress_pattern_word(key, i);
        memcpy(b + i * 8, &w, 8);
    }
    uint64_t w = stress_pattern_word(key, words);
    memcpy(b + words * 8, &w, n % 8);
}

/* Offset of the first byte of p[0..n) that differs from the pattern, or n when all match. */
static inline size_t stress_check(const void *p, size_t n, uint64_t key)
{
    const unsigned char *b = p;
    size_t words = n / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w = stress_pattern_word(key, i);
        if (memcmp(b + i * 8, &w, 8) != 0) {
            for (size_t j = 0; j < 8; j++)
                if (b[i * 8 + j] != ((unsigned char *)&w)[j])
                    return i * 8 + j;
        }
    }
    uint64_t w = stress_pattern_word(key, words);
    for (size_t j = 0; j < n % 8; j++)
        if (b[words * 8 + j] != ((unsigned char *)&w)[j])
            return words * 8 + j;
    return n;
}

/* Offset of the first non-zero byte of p[0..n), or n. */
static inline size_t stress_check_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        if (w != 0)
            break;
    }
    for (; i < n; i++)
        if (b[i] != 0)
            return i;
    return n;
}

#endif /* HM_STRESS_COMMON_H */
