/* ext_nallocx_test.c: nallocx predicts exactly what mallocx hands out.  For every size 1..64 KiB
 * under a few alignments, and a sample of sizes up to 64 MiB under every alignment flag
 * MALLOCX_LG_ALIGN(0..24), nallocx(size, flags) == sallocx(mallocx(size, flags), 0), the
 * block is aligned as asked, the usable size is never below the request and grows with it.
 * Requests no class can hold give nallocx 0 and mallocx NULL (also near SIZE_MAX where
 * rounding up to the alignment would wrap), and the allocator keeps working afterwards. */
#include <malloc.h>

#include "ext_test.h"

/* The largest size nallocx accepts, after checking the ends the bisection relies on. */
static size_t max_accepted(void)
{
    CHECK(nallocx(1, 0) != 0, "nallocx(1, 0) == 0");
    CHECK(nallocx(SIZE_MAX, 0) == 0, "nallocx(SIZE_MAX, 0) == %zu", nallocx(SIZE_MAX, 0));
    return ext_max_accepted();
}

/* One allocation checked against nallocx; returns the usable size. */
static size_t check_one(size_t size, int la)
{
    int flags = MALLOCX_LG_ALIGN(la);
    size_t n = nallocx(size, flags);
    CHECK(n >= size, "nallocx(%zu, LG_ALIGN(%d)) == %zu", size, la, n);
    void *p = mallocx(size, flags);
    CHECK(p != NULL, "mallocx(%zu, LG_ALIGN(%d)) failed", size, la);
    CHECK(is_aligned(p, (size_t)1 << la), "mallocx(%zu, LG_ALIGN(%d)) == %p", size, la, p);
    size_t s = sallocx(p, 0);
    CHECK(s == n, "size %zu LG_ALIGN(%d): nallocx %zu, sallocx %zu", size, la, n, s);
    /* The last byte of the usable size is ours. */
    ((volatile unsigned char *)p)[s - 1] = 1;
    dallocx(p, flags);
    return n;
}

/* Every size up to 64 KiB, under the alignments programs use most. */
static void test_every_small_size(void **state)
{
    static const int las[] = {0, 4, 6, 12};
    for (size_t k = 0; k < EXT_COUNT(las); k++) {
        size_t prev = 0;
        for (size_t size = 1; size <= 65536; size++) {
            size_t n = check_one(size, las[k]);
            CHECK(n >= prev, "LG_ALIGN(%d): nallocx(%zu) == %zu < nallocx(%zu) == %zu", las[k],
                  size, n, size - 1, prev);
            prev = n;
        }
    }
}

/* The usable size is itself a class: asking for it gives it back. */
static void test_usable_size_is_a_fixed_point(void **state)
{
    for (size_t size = 1; size <= 65536; size++) {
        size_t n = nallocx(size, 0);
        CHECK(nallocx(n, 0) == n, "nallocx(%zu) == %zu but nallocx(%zu) == %zu", size, n, n,
              nallocx(n, 0));
    }
    for (size_t size = 65536; size <= 64 * MiB; size += size / 7 + 4095) {
        size_t n = nallocx(size, 0);
        CHECK(nallocx(n, 0) == n, "nallocx(%zu) == %zu but nallocx(%zu) == %zu", size, n, n,
              nallocx(n, 0));
    }
}

/* Sample sizes: around each power of two up to 64 MiB and around the quarter steps. */
static size_t sample_sizes(size_t *out, size_t cap)
{
    size_t n = 0;
    for (unsigned k = 0; k <= 26 && n + 8 <= cap; k++) {
        size_t b = (size_t)1 << k;
        out[n++] = b;
        out[n++] = b + 1;
        if (b > 1)
            out[n++] = b - 1;
        if (k >= 2) {
            out[n++] = b + b / 4 - 1;
            out[n++] = b + b / 4 + 1;
            out[n++] = b + b / 2;
            out[n++] = b + 3 * (b / 4) + 7;
        }
    }
    return n;
}

static void test_sampled_sizes_every_alignment(void **state)
{
    size_t sizes[256];
    size_t nsizes = sample_sizes(sizes, EXT_COUNT(sizes));
    for (int la = 0; la <= 24; la++) {
        size_t extra[] = {((size_t)1 << la) - 1, (size_t)1 << la, ((size_t)1 << la) + 1,
                          3 * ((size_t)1 << la) / 2 + 1};
        for (size_t i = 0; i < nsizes + EXT_COUNT(extra); i++) {
            size_t size = i < nsizes ? sizes[i] : extra[i - nsizes];
            if (size == 0 || size > 64 * MiB)
                continue;
            size_t n = check_one(size, la);
            /* Alignment never buys a smaller block, and flags other than the alignment do not
             * change the size. */
            CHECK(n >= nallocx(size, 0), "nallocx(%zu, LG_ALIGN(%d)) == %zu < nallocx(%zu, 0)",
                  size, la, n, size);
            int other = MALLOCX_ZERO | MALLOCX_TCACHE_NONE;
            CHECK(nallocx(size, MALLOCX_LG_ALIGN(la) | other) == n,
                  "nallocx(%zu, LG_ALIGN(%d)|ZERO|TCACHE_NONE) == %zu, without them %zu", size,
                  la, nallocx(size, MALLOCX_LG_ALIGN(la) | other), n);
        }
    }
}

/* MALLOCX_ALIGN(a) and MALLOCX_LG_ALIGN(lg a) are the same request. */
static void test_align_macro_equals_lg_align(void **state)
{
    for (int la = 0; la <= 24; la++)
        for (size_t size = 1; size < 100000; size = size * 3 + 1) {
            void *p = mallocx(size, MALLOCX_ALIGN((size_t)1 << la));
            CHECK(p != NULL, "mallocx(%zu, MALLOCX_ALIGN(2^%d)) failed", size, la);
            CHECK(is_aligned(p, (size_t)1 << la), "mallocx(%zu, MALLOCX_ALIGN(2^%d)) == %p",
                  size, la, p);
            CHECK(sallocx(p, 0) == nallocx(size, MALLOCX_LG_ALIGN(la)),
                  "size %zu align 2^%d: sallocx %zu, nallocx %zu", size, la, sallocx(p, 0),
                  nallocx(size, MALLOCX_LG_ALIGN(la)));
            dallocx(p, MALLOCX_ALIGN((size_t)1 << la));
        }
}

static void test_nallocx_too_large_is_zero(void **state)
{
    const size_t too_large[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX + 1,
                                (size_t)PTRDIFF_MAX + 4097, SIZE_MAX / 2 + 2};
    for (size_t i = 0; i < EXT_COUNT(too_large); i++)
        for (int la = 0; la <= 24; la += 4) {
            size_t n = nallocx(hide(too_large[i]), MALLOCX_LG_ALIGN(la));
            CHECK(n == 0, "nallocx(%#zx, LG_ALIGN(%d)) == %#zx", too_large[i], la, n);
        }
    /* Rounding up to the alignment must not wrap around to a small size. */
    static const int las[] = {0, 4, 6, 12, 16, 21, 24};
    for (size_t k = 0; k < EXT_COUNT(las); k++)
        for (size_t d = 0; d < 70; d++) {
            size_t size = SIZE_MAX - d;
            size_t n = nallocx(hide(size), MALLOCX_LG_ALIGN(las[k]));
            CHECK(n == 0, "nallocx(SIZE_MAX - %zu, LG_ALIGN(%d)) == %#zx", d, las[k], n);
        }
    /* An alignment larger than any class. */
    CHECK(nallocx(1, MALLOCX_LG_ALIGN(63)) == 0, "nallocx(1, LG_ALIGN(63)) == %#zx",
          nallocx(1, MALLOCX_LG_ALIGN(63)));
}

/* The largest accepted size is a class of its own and fits in ptrdiff_t. */
static void test_largest_accepted_size(void **state)
{
    size_t l = max_accepted();
    CHECK(l >= 64 * MiB, "largest accepted size %#zx", l);
    CHECK(l <= (size_t)PTRDIFF_MAX, "largest accepted size %#zx exceeds PTRDIFF_MAX", l);
    CHECK(nallocx(l, 0) == l, "nallocx(%#zx) == %#zx", l, nallocx(l, 0));
    CHECK(nallocx(l + 1, 0) == 0, "nallocx(%#zx) == %#zx", l + 1, nallocx(l + 1, 0));
}

/* mallocx returns NULL for what cannot be allocated, under any flags, and stays usable. */
static void test_mallocx_impossible_is_null(void **state)
{
    size_t l = max_accepted();
    const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 1, (size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX,
                            l, l + 1, (size_t)1 << 62, (size_t)1 << 48};
    unsigned a = ext_new_arena();
    const int flags[] = {0, MALLOCX_ZERO, MALLOCX_LG_ALIGN(4), MALLOCX_LG_ALIGN(12),
                         MALLOCX_LG_ALIGN(24) | MALLOCX_ZERO, MALLOCX_TCACHE_NONE,
                         ext_arena_flags(a), ext_arena_flags(a) | MALLOCX_ZERO};
    for (size_t i = 0; i < EXT_COUNT(sizes); i++)
        for (size_t f = 0; f < EXT_COUNT(flags); f++) {
            void *p = mallocx(hide(sizes[i]), flags[f]);
            CHECK(p == NULL, "mallocx(%#zx, %#x) == %p", sizes[i], flags[f], p);
        }
    for (size_t d = 1; d < 40; d++) {
        void *p = mallocx(hide(SIZE_MAX - d), MALLOCX_LG_ALIGN(6));
        CHECK(p == NULL, "mallocx(SIZE_MAX - %zu, LG_ALIGN(6)) == %p", d, p);
    }
    /* Alignments no address space can honour. */
    void *p = mallocx(hide(1), MALLOCX_LG_ALIGN(63));
    CHECK(p == NULL, "mallocx(1, LG_ALIGN(63)) == %p", p);
    p = mallocx(hide(1), MALLOCX_LG_ALIGN(50));
    CHECK(p == NULL, "mallocx(1, LG_ALIGN(50)) == %p", p);

    /* Still working. */
    for (size_t size = 1; size < 8 * MiB; size = size * 5 + 3) {
        unsigned char *q = mallocx(size, 0);
        CHECK(q != NULL, "mallocx(%zu) failed after the impossible requests", size);
        pattern_fill(q, size, 3);
        CHECK(pattern_check(q, size, 3) == size, "block of %zu bytes does not hold its data", size);
        dallocx(q, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_small_size),
        cmocka_unit_test(test_usable_size_is_a_fixed_point),
        cmocka_unit_test(test_sampled_sizes_every_alignment),
        cmocka_unit_test(test_align_macro_equals_lg_align),
        cmocka_unit_test(test_nallocx_too_large_is_zero),
        cmocka_unit_test(test_largest_accepted_size),
        cmocka_unit_test(test_mallocx_impossible_is_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
