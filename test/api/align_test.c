/* align_test.c: the aligned allocation calls. posix_memalign, aligned_alloc and memalign are
 * swept over every power-of-two alignment up to 1 GiB with sizes around it (alignment, usable
 * size, writable memory, no overlap between live blocks, free); valloc and pvalloc give
 * page-aligned blocks and pvalloc rounds to whole pages; invalid alignments give EINVAL and
 * impossible ones ENOMEM, with posix_memalign's *memptr left untouched.
 * Following glibc and C23, aligned_alloc accepts a size that is not a multiple of the
 * alignment, and alignment 0 (not a power of two) is EINVAL. */
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "api_test.h"

#define MAX_ALIGN ((size_t)1 << 30)
#define SENTINEL ((void *)(uintptr_t)0x5e5e5e50)

enum aligned_fn { FN_POSIX_MEMALIGN, FN_ALIGNED_ALLOC, FN_MEMALIGN };

static const char *const fn_name[] = {"posix_memalign", "aligned_alloc", "memalign"};

static void *aligned_call(enum aligned_fn fn, size_t align, size_t size)
{
    void *p = SENTINEL;
    int rc;

    switch (fn) {
    case FN_POSIX_MEMALIGN:
        rc = posix_memalign(&p, align, size);
        CHECK(rc == 0, "posix_memalign(&p, %zu, %zu) returned %d", align, size, rc);
        CHECK(p != SENTINEL, "posix_memalign(&p, %zu, %zu) returned 0 but left p", align, size);
        return p;
    case FN_ALIGNED_ALLOC:
        return aligned_alloc(align, size);
    case FN_MEMALIGN:
        return memalign(align, size);
    }
    return NULL;
}

/* Write and read back the block's usable bytes (its two ends when it is big, so a 1 GiB block
 * does not have to become resident). */
static void check_writable(void *p, size_t usable, const char *what, size_t align, size_t size)
{
    const size_t window = 64 * KiB;
    unsigned seed = (unsigned)(align * 7 + size);

    if (usable <= 2 * window) {
        pattern_fill(p, usable, seed);
        CHECK(pattern_check(p, usable, seed) == usable, "%s(%zu, %zu): memory did not keep data",
              what, align, size);
        return;
    }
    unsigned char *tail = (unsigned char *)p + usable - window;
    pattern_fill(p, window, seed);
    pattern_fill(tail, window, seed + 1);
    CHECK(pattern_check(p, window, seed) == window &&
              pattern_check(tail, window, seed + 1) == window,
          "%s(%zu, %zu): memory did not keep data", what, align, size);
}

struct range {
    uintptr_t start, end;
};

static int cmp_range(const void *a, const void *b)
{
    const struct range *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Live blocks, each [p, p + usable size), must not overlap. */
static void check_no_overlap(void **ptrs, size_t n, const char *what)
{
    struct range r[64];

    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++) {
        size_t usable = malloc_usable_size(ptrs[i]);
        r[i].start = (uintptr_t)ptrs[i];
        r[i].end = r[i].start + (usable ? usable : 1);
    }
    qsort(r, n, sizeof(r[0]), cmp_range);
    for (size_t i = 1; i < n; i++)
        CHECK(r[i - 1].end <= r[i].start, "%s: live blocks %#lx-%#lx and %#lx-%#lx overlap", what,
              (unsigned long)r[i - 1].start, (unsigned long)r[i - 1].end, (unsigned long)r[i].start,
              (unsigned long)r[i].end);
}

static void alignment_sweep(enum aligned_fn fn, size_t min_align)
{
    const char *what = fn_name[fn];

    for (size_t align = min_align; align <= MAX_ALIGN; align *= 2) {
        const size_t sizes[] = {0, 1, align - 1, align, align + 1, 3000, 3 * 4096 + 17};
        const size_t nsizes = sizeof(sizes) / sizeof(sizes[0]);
        /* Small alignments: keep every block of this alignment live, twice over, and check
         * that none overlaps another. Big ones are freed at once to bound memory use. */
        const int hold = align <= 64 * KiB;
        void *live[2 * sizeof(sizes) / sizeof(sizes[0])];
        size_t nlive = 0;

        for (int rep = 0; rep < (hold ? 2 : 1); rep++) {
            for (size_t i = 0; i < nsizes; i++) {
                size_t size = sizes[i];
                errno = 0;
                void *p = aligned_call(fn, align, size);
                CHECK(p != NULL, "%s(%zu, %zu) failed, errno %d", what, align, size, errno);
                CHECK(is_aligned(p, align), "%s(%zu, %zu) = %p is misaligned", what, align, size,
                      p);
                size_t usable = malloc_usable_size(p);
                CHECK(usable >= size, "%s(%zu, %zu): usable size %zu", what, align, size, usable);
                check_writable(p, usable, what, align, size);
                if (hold)
                    live[nlive++] = p;
                else
                    free(p);
            }
        }
        if (hold) {
            check_no_overlap(live, nlive, what);
            for (size_t i = 0; i < nlive; i++)
                free(live[i]);
        }
    }
}

static void test_posix_memalign_alignment_sweep(void **state)
{
    alignment_sweep(FN_POSIX_MEMALIGN, sizeof(void *));
}

static void test_aligned_alloc_alignment_sweep(void **state)
{
    alignment_sweep(FN_ALIGNED_ALLOC, 1);
}

static void test_memalign_alignment_sweep(void **state) { alignment_sweep(FN_MEMALIGN, 1); }

/* Many small aligned blocks at once, mixed with plain ones: every one is aligned and keeps its
 * data while the others are written. */
static void test_many_live_aligned_blocks_keep_their_data(void **state)
{
    enum { N = 3000 };
    static unsigned char *ptr[N];
    static size_t len[N];

    for (size_t i = 0; i < N; i++) {
        size_t align = (size_t)1 << (i % 13);
        len[i] = 1 + (i * 53) % 5000;
        switch (i % 4) {
        case 0:
            ptr[i] = aligned_alloc(align, len[i]);
            break;
        case 1:
            ptr[i] = memalign(align, len[i]);
            break;
        case 2: {
            void *p = NULL;
            CHECK(posix_memalign(&p, align < 8 ? 8 : align, len[i]) == 0, "posix_memalign #%zu", i);
            ptr[i] = p;
            break;
        }
        default:
            ptr[i] = malloc(len[i]);
            align = 1;
            break;
        }
        CHECK(ptr[i] != NULL && is_aligned(ptr[i], align), "block %zu: %p, alignment %zu", i,
              (void *)ptr[i], align);
        pattern_fill(ptr[i], len[i], (unsigned)i);
    }
    for (size_t i = 0; i < N; i++) {
        CHECK(pattern_check(ptr[i], len[i], (unsigned)i) == len[i], "block %zu lost its data", i);
        free(ptr[i]);
    }
}

/* An aligned block is an ordinary block to realloc and free. */
static void test_aligned_blocks_can_be_reallocated(void **state)
{
    for (size_t align = 16; align <= 4 * MiB; align *= 4) {
        unsigned char *p = aligned_alloc(align, 1000);
        CHECK(p != NULL && is_aligned(p, align), "aligned_alloc(%zu, 1000)", align);
        pattern_fill(p, 1000, 8);
        p = realloc(p, 100000);
        CHECK(p != NULL && pattern_check(p, 1000, 8) == 1000, "growing an aligned block (%zu)",
              align);
        p = realloc(p, 10);
        CHECK(p != NULL && pattern_check(p, 10, 8) == 10, "shrinking an aligned block (%zu)",
              align);
        free(p);
    }
}

/* ---- valloc, pvalloc ---- */

/* fn (valloc or pvalloc) gives page-aligned, writable blocks that live together without
 * overlapping; with whole_pages, the usable size covers the request rounded up to whole pages
 * (pvalloc(0) gives one page, like any request up to a page). */
static void check_page_aligned_calls(void *(*fn)(size_t), const char *name, bool whole_pages)
{
    const size_t page = page_size();
    const size_t sizes[] = {0, 1, page - 1, page, page + 1, 3 * page + 5, 100000, MiB + 3, 5 * MiB};
    const size_t n = sizeof(sizes) / sizeof(sizes[0]);
    void *live[2 * sizeof(sizes) / sizeof(sizes[0])];

    for (size_t i = 0; i < 2 * n; i++) {
        size_t size = sizes[i % n];
        size_t want = !whole_pages ? size : size == 0 ? page : (size + page - 1) / page * page;
        void *p = fn(size);
        CHECK(p != NULL, "%s(%zu) failed", name, size);
        CHECK(is_aligned(p, page), "%s(%zu) = %p is not page-aligned", name, size, p);
        size_t usable = malloc_usable_size(p);
        CHECK(usable >= want, "%s(%zu): usable size %zu, below %zu", name, size, usable, want);
        check_writable(p, usable, name, page, size);
        live[i] = p;
    }
    check_no_overlap(live, 2 * n, name);
    for (size_t i = 0; i < 2 * n; i++)
        free(live[i]);
}

static void test_valloc_is_page_aligned(void **state)
{
    check_page_aligned_calls(valloc, "valloc", false);
}

static void test_pvalloc_rounds_to_whole_pages(void **state)
{
    check_page_aligned_calls(pvalloc, "pvalloc", true);
}

/* ---- invalid and impossible alignments ---- */

/* clang-format off */
static const size_t not_power_of_two[] = {
    0, 3, 5, 6, 7, 12, 24, 48, 96, 1000, 4097, 3 * 4096, /* small */
    SIZE_MAX, SIZE_MAX / 2, ((size_t)1 << 63) | 8,       /* huge */
};
/* clang-format on */

/* Powers of two no address space can honour (user space ends below 2^47 here). */
static const size_t impossible_align[] = {(size_t)1 << 47, (size_t)1 << 48, (size_t)1 << 62,
                                          (size_t)1 << 63};

static const size_t probe_sizes[] = {0, 1, 100, 5000};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void test_posix_memalign_rejects_bad_alignment(void **state)
{
    static const size_t too_small[] = {1, 2, 4}; /* powers of two below sizeof(void *) */

    for (size_t k = 0; k < COUNT(probe_sizes); k++) {
        size_t size = hide(probe_sizes[k]);
        for (size_t i = 0; i < COUNT(not_power_of_two) + COUNT(too_small); i++) {
            size_t align =
                hide(i < COUNT(not_power_of_two) ? not_power_of_two[i]
                                                 : too_small[i - COUNT(not_power_of_two)]);
            void *p = SENTINEL;
            int rc = posix_memalign(&p, align, size);
            CHECK(rc == EINVAL, "posix_memalign(&p, %#zx, %zu) returned %d, not EINVAL", align,
                  size, rc);
            CHECK(p == SENTINEL, "posix_memalign(&p, %#zx, %zu) failed but set p to %p", align,
                  size, p);
        }
        for (size_t i = 0; i < COUNT(impossible_align); i++) {
            size_t align = hide(impossible_align[i]);
            void *p = SENTINEL;
            int rc = posix_memalign(&p, align, size);
            CHECK(rc == ENOMEM, "posix_memalign(&p, %#zx, %zu) returned %d, not ENOMEM", align,
                  size, rc);
            CHECK(p == SENTINEL, "posix_memalign(&p, %#zx, %zu) failed but set p to %p", align,
                  size, p);
        }
    }
}

static void test_aligned_alloc_rejects_bad_alignment(void **state)
{
    for (size_t k = 0; k < COUNT(probe_sizes); k++) {
        size_t size = hide(probe_sizes[k]);
        for (size_t i = 0; i < COUNT(not_power_of_two); i++) {
            size_t align = hide(not_power_of_two[i]);
            errno = 0;
            void *p = aligned_alloc(align, size);
            CHECK(p == NULL, "aligned_alloc(%#zx, %zu) = %p, not NULL", align, size, p);
            CHECK(errno == EINVAL, "aligned_alloc(%#zx, %zu): errno %d, not EINVAL", align, size,
                  errno);
        }
        for (size_t i = 0; i < COUNT(impossible_align); i++) {
            size_t align = hide(impossible_align[i]);
            errno = 0;
            void *p = aligned_alloc(align, size);
            CHECK(p == NULL && errno == ENOMEM, "aligned_alloc(%#zx, %zu) = %p, errno %d", align,
                  size, p, errno);
        }
    }
}

/* memalign is glibc's older interface: an alignment that is not a power of two is rounded up to
 * the next one rather than refused (programs written against glibc rely on that). */
static void test_memalign_rounds_other_alignments_up(void **state)
{
    static const size_t asked[][2] = {{0, 1},
                                      {3, 4},
                                      {5, 8},
                                      {24, 32},
                                      {48, 64},
                                      {100, 128},
                                      {4097, 8192},
                                      {3 * 4096, 16384},
                                      {3 * MiB, 4 * MiB}};
    for (size_t i = 0; i < COUNT(asked); i++) {
        for (size_t k = 0; k < COUNT(probe_sizes); k++) {
            size_t size = probe_sizes[k];
            void *p = memalign(hide(asked[i][0]), size);
            CHECK(p != NULL && is_aligned(p, asked[i][1]),
                  "memalign(%zu, %zu) = %p, want %zu-aligned", asked[i][0], size, p, asked[i][1]);
            CHECK(malloc_usable_size(p) >= size, "memalign(%zu, %zu): usable %zu", asked[i][0],
                  size, malloc_usable_size(p));
            memset(p, 0x19, size);
            free(p);
        }
    }
}

static void test_memalign_rejects_impossible_alignment(void **state)
{
    for (size_t k = 0; k < COUNT(probe_sizes); k++) {
        size_t size = hide(probe_sizes[k]);
        for (size_t i = 0; i < COUNT(impossible_align); i++) {
            size_t align = hide(impossible_align[i]);
            errno = 0;
            void *p = memalign(align, size);
            CHECK(p == NULL && errno == ENOMEM, "memalign(%#zx, %zu) = %p, errno %d", align, size,
                  p, errno);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_posix_memalign_alignment_sweep),
        cmocka_unit_test(test_aligned_alloc_alignment_sweep),
        cmocka_unit_test(test_memalign_alignment_sweep),
        cmocka_unit_test(test_many_live_aligned_blocks_keep_their_data),
        cmocka_unit_test(test_aligned_blocks_can_be_reallocated),
        cmocka_unit_test(test_valloc_is_page_aligned),
        cmocka_unit_test(test_pvalloc_rounds_to_whole_pages),
        cmocka_unit_test(test_posix_memalign_rejects_bad_alignment),
        cmocka_unit_test(test_aligned_alloc_rejects_bad_alignment),
        cmocka_unit_test(test_memalign_rounds_other_alignments_up),
        cmocka_unit_test(test_memalign_rejects_impossible_alignment),
    };
    /* HM_TEST_FILTER=test_name_pattern runs a subset (cmocka's wildcards * and ?). */
    if (getenv("HM_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("HM_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
