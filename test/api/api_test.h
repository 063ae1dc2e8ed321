/* api_test.h: small helpers shared by the public-API tests in test/api/ (checks that name the
 * failing size, byte patterns that catch moved or overlapping data, a resident-size probe, and
 * a way to hide constants from the compiler so it neither folds nor warns about huge sizes);
 * ext_test.h adds those of the extended API's tests.
 *
 * The tests call the API by its plain names.  This header includes <hmalloc.h> last, with
 * HMALLOC_UNPREFIXED, so in a namespaced build (--with-symbol-prefix=hm_) malloc, free,
 * mallocx ... in the tests are hm_malloc, hm_free, hm_mallocx ..., and the same tests check it.
 * Include the system headers a test needs before this one: the name mapping must not reach
 * their declarations. */
#ifndef HM_API_TEST_H
#define HM_API_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h> /* after the headers it needs */

#define HMALLOC_UNPREFIXED
#include <hmalloc.h>

/* glibc's internal names, which the drop-in build defines too (so that no pointer meets the
 * wrong allocator).  In a namespaced build they are the C library's own allocator: the tests
 * call them only when HMALLOC_DROPIN. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t nmemb, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_memalign(size_t alignment, size_t size);

/* Fail the current test with a message that says which case broke (sweeps run thousands). */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            print_error("%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);                   \
            print_error(__VA_ARGS__);                                                              \
            print_error("\n");                                                                     \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

/* An opaque copy of x: the compiler can neither constant-fold the allocation size nor warn
 * that a literal SIZE_MAX is too large for malloc. */
static inline size_t hide(size_t x)
{
    __asm__ volatile("" : "+r"(x));
    return x;
}

static inline void *hide_ptr(void *p)
{
    __asm__ volatile("" : "+r"(p));
    return p;
}

static inline size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static inline int is_aligned(const void *p, size_t align)
{
    return ((uintptr_t)p & (align - 1)) == 0;
}

/* Byte i of the pattern with the given seed; depends on the position, so a block that was
 * copied to a shifted place, truncated or overlapped by a neighbour does not match. */
static inline unsigned char pattern_byte(size_t i, unsigned seed)
{
    return (unsigned char)((i * 131u) ^ (i >> 9) ^ (seed * 29u) ^ 0x5a);
}

static inline void pattern_fill(void *p, size_t n, unsigned seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = pattern_byte(i, seed);
}

/* The checks below compare a fixed-size chunk at a time without an early exit, which the
 * compiler vectorises, and look for the exact offset only in a chunk that differs: tests check
 * gigabytes. */
#define HM_CHECK_CHUNK 4096

static inline unsigned char pattern_chunk_diff(const unsigned char *b, size_t start, unsigned seed)
{
    unsigned char diff = 0;
    for (size_t i = 0; i < HM_CHECK_CHUNK; i++)
        diff |= (unsigned char)(b[start + i] ^ pattern_byte(start + i, seed));
    return diff;
}

/* Offset of the first byte that differs from the pattern, or n when all match. */
static inline size_t pattern_check(const void *p, size_t n, unsigned seed)
{
    const unsigned char *b = p;
    size_t i = 0;
    while (i + HM_CHECK_CHUNK <= n && pattern_chunk_diff(b, i, seed) == 0)
        i += HM_CHECK_CHUNK;
    for (; i < n; i++)
        if (b[i] != pattern_byte(i, seed))
            return i;
    return n;
}

static inline unsigned char byte_chunk_diff(const unsigned char *b, unsigned char c)
{
    unsigned char diff = 0;
    for (size_t i = 0; i < HM_CHECK_CHUNK; i++)
        diff |= (unsigned char)(b[i] ^ c);
    return diff;
}

/* Offset of the first byte that is not c, or n. */
static inline size_t first_not(const void *p, size_t n, unsigned char c)
{
    const unsigned char *b = p;
    size_t i = 0;
    while (i + HM_CHECK_CHUNK <= n && byte_chunk_diff(b + i, c) == 0)
        i += HM_CHECK_CHUNK;
    for (; i < n; i++)
        if (b[i] != c)
            return i;
    return n;
}

/* Resident set size of this process in bytes (0 if /proc is not there). */
static inline size_t rss_bytes(void)
{
    unsigned long vsz = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    if (fscanf(f, "%lu %lu", &vsz, &rss) != 2)
        rss = 0;
    fclose(f);
    return (size_t)rss * page_size();
}

#define MiB ((size_t)1 << 20)
#define KiB ((size_t)1 << 10)

#endif /* HM_API_TEST_H */
