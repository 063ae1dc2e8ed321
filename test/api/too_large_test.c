/* too_large_test.c: requests no allocator can satisfy. For sizes near SIZE_MAX, PTRDIFF_MAX,
 * PTRDIFF_MAX+1, 2^48 and 2^47, and for nmemb * size products that overflow (including those that
 * wrap to 0 or to a small number), every allocating function -- malloc, calloc, realloc,
 * reallocarray, posix_memalign, aligned_alloc, memalign, valloc, pvalloc and (in the drop-in
 * build) the __libc_* names -- fails: NULL with errno ENOMEM (posix_memalign returns ENOMEM and
 * leaves *memptr alone), and a block passed to realloc/reallocarray stays live with its size and
 * contents unchanged. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>

#include "api_test.h"

#define SENTINEL ((void *)(uintptr_t)0x5e5e5e50)
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Blocks of each kind handed to the failing reallocs; their contents must survive. */
struct old_block {
    unsigned char *p;
    size_t size;
    size_t usable;
    unsigned seed;
};

static struct old_block olds[3];
static const size_t old_sizes[3] = {100, 200000, 4 * MiB + 1};

static int olds_setup(void **state)
{
    for (size_t i = 0; i < 3; i++) {
        olds[i].size = old_sizes[i];
        olds[i].p = malloc(old_sizes[i]);
        if (olds[i].p == NULL)
            return -1;
        olds[i].usable = malloc_usable_size(olds[i].p);
        olds[i].seed = (unsigned)(40 + i);
        pattern_fill(olds[i].p, olds[i].size, olds[i].seed);
    }
    return 0;
}

/* The old blocks are still ordinary live blocks: they grow, keep their data and free. */
static int olds_teardown(void **state)
{
    int ok = 0;
    for (size_t i = 0; i < 3; i++) {
        unsigned char *p = realloc(olds[i].p, olds[i].size * 2);
        if (p == NULL) {
            ok = -1;
            free(olds[i].p);
        } else {
            if (pattern_check(p, olds[i].size, olds[i].seed) != olds[i].size)
                ok = -1;
            free(p);
        }
        olds[i].p = NULL;
    }
    return ok;
}

static void check_olds_intact(const char *call, size_t a, size_t b)
{
    for (size_t i = 0; i < 3; i++) {
        size_t bad = pattern_check(olds[i].p, olds[i].size, olds[i].seed);
        CHECK(bad == olds[i].size, "%s(old, %#zx, %#zx) on a %zu-byte block changed byte %zu", call,
              a, b, olds[i].size, bad);
        CHECK(malloc_usable_size(olds[i].p) == olds[i].usable,
              "%s(old, %#zx, %#zx) changed the usable size of a %zu-byte block", call, a, b,
              olds[i].size);
    }
}

#define EXPECT_ENOMEM(expr, ...)                                                                   \
    do {                                                                                           \
        errno = 0;                                                                                 \
        void *r_ = (expr);                                                                         \
        int e_ = errno;                                                                            \
        if (r_ != NULL || e_ != ENOMEM) {                                                          \
            print_error("%s:%d: expected NULL with errno ENOMEM (%d), got %p with "                \
                        "errno %d from ",                                                          \
                        __FILE__, __LINE__, ENOMEM, r_, e_);                                       \
            print_error(__VA_ARGS__);                                                              \
            print_error("\n");                                                                     \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

/* The sizes: near SIZE_MAX, near PTRDIFF_MAX and PTRDIFF_MAX + 1, and at 2^47, 2^48, 2^56 and
 * 2^62, each more than the address space holds. Offsets around pages, huge-page and class
 * boundaries catch rounding that wraps (SIZE_MAX - 100 rounded up to a page is 0). */
static size_t build_sizes(size_t *out, size_t cap)
{
    const size_t page = page_size();
    /* clang-format off */
    const size_t below_max[] = {
        31, 32, 33, 63, 64, 100, page - 1, page, page + 1, 2 * page, /* pages */
        64 * KiB, 1 * MiB, 2 * MiB, 2 * MiB + 1, 4 * MiB,            /* chunks */
        (size_t)1 << 30, ((size_t)1 << 30) + 1, (size_t)1 << 31,     /* GiB */
    };
    /* clang-format on */
    const size_t below_ptrdiff[] = {
        0, 1, 15, 16, page - 1, page, 2 * page, 1 * MiB, (size_t)1 << 30};
    const size_t above_ptrdiff[] = {0, 1, 15, page, 1 * MiB};
    const size_t around_2_48[] = {-page, (size_t)-1, 0, 1, page};
    size_t n = 0;

#define ADD(x)                                                                                     \
    do {                                                                                           \
        assert_true(n < cap);                                                                      \
        out[n++] = (x);                                                                            \
    } while (0)
    for (size_t k = 0; k <= 16; k++)
        ADD(SIZE_MAX - k);
    for (size_t i = 0; i < COUNT(below_max); i++)
        ADD(SIZE_MAX - below_max[i]);
    for (size_t i = 0; i < COUNT(below_ptrdiff); i++)
        ADD((size_t)PTRDIFF_MAX - below_ptrdiff[i]);
    for (size_t i = 0; i < COUNT(above_ptrdiff); i++)
        ADD((size_t)PTRDIFF_MAX + 1 + above_ptrdiff[i]);
    for (size_t i = 0; i < COUNT(around_2_48); i++)
        ADD(((size_t)1 << 48) + around_2_48[i]);
    ADD((size_t)1 << 47);
    ADD(((size_t)1 << 47) + 1);
    ADD(((size_t)1 << 47) + page);
    ADD((size_t)1 << 56);
    ADD((size_t)1 << 62);
#undef ADD
    return n;
}

static size_t sizes[128];
static size_t nsizes;

static int sizes_setup(void **state)
{
    nsizes = build_sizes(sizes, COUNT(sizes));
    return olds_setup(state);
}

static void test_malloc_too_large(void **state)
{
    for (size_t i = 0; i < nsizes; i++) {
        size_t n = hide(sizes[i]);
        EXPECT_ENOMEM(malloc(n), "malloc(%#zx)", n);
        if (HMALLOC_DROPIN)
            EXPECT_ENOMEM(__libc_malloc(n), "__libc_malloc(%#zx)", n);
    }
}

static void test_calloc_too_large(void **state)
{
    for (size_t i = 0; i < nsizes; i++) {
        size_t n = hide(sizes[i]);
        EXPECT_ENOMEM(calloc(1, n), "calloc(1, %#zx)", n);
        EXPECT_ENOMEM(calloc(n, 1), "calloc(%#zx, 1)", n);
        if (HMALLOC_DROPIN) {
            EXPECT_ENOMEM(__libc_calloc(1, n), "__libc_calloc(1, %#zx)", n);
            EXPECT_ENOMEM(__libc_calloc(n, 1), "__libc_calloc(%#zx, 1)", n);
        }
    }
}

static void test_realloc_too_large_keeps_old_block(void **state)
{
    for (size_t i = 0; i < nsizes; i++) {
        size_t n = hide(sizes[i]);
        EXPECT_ENOMEM(realloc(NULL, n), "realloc(NULL, %#zx)", n);
        if (HMALLOC_DROPIN)
            EXPECT_ENOMEM(__libc_realloc(NULL, n), "__libc_realloc(NULL, %#zx)", n);
        for (size_t k = 0; k < 3; k++) {
            EXPECT_ENOMEM(realloc(olds[k].p, n), "realloc(<%zu bytes>, %#zx)", olds[k].size, n);
            if (HMALLOC_DROPIN)
                EXPECT_ENOMEM(__libc_realloc(olds[k].p, n), "__libc_realloc(<%zu bytes>, %#zx)",
                              olds[k].size, n);
        }
        check_olds_intact("realloc", n, 0);
    }
}

static void test_reallocarray_too_large_keeps_old_block(void **state)
{
    for (size_t i = 0; i < nsizes; i++) {
        size_t n = hide(sizes[i]);
        EXPECT_ENOMEM(reallocarray(NULL, 1, n), "reallocarray(NULL, 1, %#zx)", n);
        EXPECT_ENOMEM(reallocarray(NULL, n, 1), "reallocarray(NULL, %#zx, 1)", n);
        for (size_t k = 0; k < 3; k++) {
            EXPECT_ENOMEM(reallocarray(olds[k].p, 1, n), "reallocarray(<%zu bytes>, 1, %#zx)",
                          olds[k].size, n);
            EXPECT_ENOMEM(reallocarray(olds[k].p, n, 1), "reallocarray(<%zu bytes>, %#zx, 1)",
                          olds[k].size, n);
        }
        check_olds_intact("reallocarray", 1, n);
    }
}

/* nmemb * size that overflows size_t -- several wrap to 0 or to a few bytes, which a careless
 * multiplication would happily allocate -- or that fits but exceeds PTRDIFF_MAX or the address
 * space. */
static const size_t products[][2] = {
    {SIZE_MAX, 2},
    {2, SIZE_MAX},
    {SIZE_MAX, SIZE_MAX},                           /* wraps to 1 */
    {SIZE_MAX / 2 + 1, 2},                          /* wraps to 0 */
    {2, SIZE_MAX / 2 + 1},                          /* wraps to 0 */
    {SIZE_MAX / 2 + 2, 2},                          /* wraps to 2 */
    {SIZE_MAX / 3 + 1, 3},                          /* wraps to 2 */
    {SIZE_MAX / 16 + 1, 16},                        /* wraps to 0 */
    {16, SIZE_MAX / 16 + 2},                        /* wraps to 16 */
    {(size_t)1 << 32, (size_t)1 << 32},             /* wraps to 0 */
    {(size_t)1 << 33, (size_t)1 << 31},             /* wraps to 0 */
    {((size_t)1 << 32) + 1, ((size_t)1 << 32) + 1}, /* wraps to 2^33 + 1 */
    {((size_t)1 << 32) + 1, ((size_t)1 << 32) - 1}, /* exactly SIZE_MAX */
    {2, (size_t)PTRDIFF_MAX / 2 + 1},               /* PTRDIFF_MAX + 1 */
    {(size_t)PTRDIFF_MAX, 1},
    {1, (size_t)PTRDIFF_MAX + 1},
    {(size_t)1 << 24, (size_t)1 << 24}, /* 2^48 */
    {(size_t)1 << 16, (size_t)1 << 31}, /* 2^47 */
    {4096, (size_t)1 << 40}             /* 2^52 */
};

static void test_calloc_overflowing_product(void **state)
{
    for (size_t i = 0; i < COUNT(products); i++) {
        size_t a = hide(products[i][0]), b = hide(products[i][1]);
        EXPECT_ENOMEM(calloc(a, b), "calloc(%#zx, %#zx)", a, b);
        if (HMALLOC_DROPIN)
            EXPECT_ENOMEM(__libc_calloc(a, b), "__libc_calloc(%#zx, %#zx)", a, b);
    }
}

static void test_reallocarray_overflowing_product_keeps_old_block(void **state)
{
    for (size_t i = 0; i < COUNT(products); i++) {
        size_t a = hide(products[i][0]), b = hide(products[i][1]);
        EXPECT_ENOMEM(reallocarray(NULL, a, b), "reallocarray(NULL, %#zx, %#zx)", a, b);
        for (size_t k = 0; k < 3; k++)
            EXPECT_ENOMEM(reallocarray(olds[k].p, a, b), "reallocarray(<%zu bytes>, %#zx, %#zx)",
                          olds[k].size, a, b);
        check_olds_intact("reallocarray", a, b);
    }
}

/* Size plus alignment is where aligned paths overflow, so every size meets several alignments. */
static const size_t aligns[] = {1, 8, 16, 64, 4096, 64 * KiB, 2 * MiB, (size_t)1 << 30};

static void test_posix_memalign_too_large(void **state)
{
    for (size_t i = 0; i < nsizes; i++) {
        size_t n = hide(sizes[i]);
        for (size_t j = 0; j < COUNT(aligns); j++) {
            size_t a = hide(aligns[j]);
            if (a < sizeof(void *))
                continue;
            void *p = SENTINEL;
            int rc = posix_memalign(&p, a, n);
            CHECK(rc == ENOMEM, "posix_memalign(&p, %#zx, %#zx) returned %d, not ENOMEM", a, n, rc);
            CHECK(p == SENTINEL, "posix_memalign(&p, %#zx, %#zx) failed but set p to %p", a, n, p);
        }
    }
}

static void test_aligned_alloc_too_large(void **state)
{
    for (size_t i = 0; i < nsizes; i++) {
        size_t n = hide(sizes[i]);
        for (size_t j = 0; j < COUNT(aligns); j++) {
            size_t a = hide(aligns[j]);
            EXPECT_ENOMEM(aligned_alloc(a, n), "aligned_alloc(%#zx, %#zx)", a, n);
        }
    }
}

static void test_memalign_too_large(void **state)
{
    for (size_t i = 0; i < nsizes; i++) {
        size_t n = hide(sizes[i]);
        for (size_t j = 0; j < COUNT(aligns); j++) {
            size_t a = hide(aligns[j]);
            EXPECT_ENOMEM(memalign(a, n), "memalign(%#zx, %#zx)", a, n);
            if (HMALLOC_DROPIN)
                EXPECT_ENOMEM(__libc_memalign(a, n), "__libc_memalign(%#zx, %#zx)", a, n);
        }
    }
}

static void test_valloc_pvalloc_too_large(void **state)
{
    for (size_t i = 0; i < nsizes; i++) {
        size_t n = hide(sizes[i]);
        EXPECT_ENOMEM(valloc(n), "valloc(%#zx)", n);
        EXPECT_ENOMEM(pvalloc(n), "pvalloc(%#zx)", n);
    }
}

/* After all those failures, allocation of every kind still works. */
static void test_allocator_still_works(void **state)
{
    static const size_t ok_sizes[] = {1, 100, 5000, 200000, 5 * MiB};
    for (size_t i = 0; i < COUNT(ok_sizes); i++) {
        size_t n = ok_sizes[i];
        void *p[6];
        p[0] = malloc(n);
        p[1] = calloc(1, n);
        p[2] = aligned_alloc(4096, n);
        p[3] = memalign(64, n);
        p[4] = valloc(n);
        p[5] = pvalloc(n);
        for (size_t k = 0; k < 6; k++) {
            CHECK(p[k] != NULL, "allocation %zu of %zu bytes failed", k, n);
            memset(p[k], 0x21, n);
        }
        for (size_t k = 0; k < 6; k++)
            free(p[k]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malloc_too_large),
        cmocka_unit_test(test_calloc_too_large),
        cmocka_unit_test(test_realloc_too_large_keeps_old_block),
        cmocka_unit_test(test_reallocarray_too_large_keeps_old_block),
        cmocka_unit_test(test_calloc_overflowing_product),
        cmocka_unit_test(test_reallocarray_overflowing_product_keeps_old_block),
        cmocka_unit_test(test_posix_memalign_too_large),
        cmocka_unit_test(test_aligned_alloc_too_large),
        cmocka_unit_test(test_memalign_too_large),
        cmocka_unit_test(test_valloc_pvalloc_too_large),
        cmocka_unit_test(test_allocator_still_works),
    };
    /* HM_TEST_FILTER=test_name_pattern runs a subset (cmocka's wildcards * and ?). */
    if (getenv("HM_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("HM_TEST_FILTER"));
    return cmocka_run_group_tests(tests, sizes_setup, olds_teardown);
}
