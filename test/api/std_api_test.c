/* std_api_test.c: what a program relies on from the standard malloc family (hm_malloc & co in
 * a namespaced build): malloc(0)/calloc(0) and free(NULL), fundamental alignment,
 * malloc_usable_size, calloc zeroing of reused memory, free leaving errno alone, realloc and
 * reallocarray semantics, C23 free_sized/free_aligned_sized, the glibc __libc_* aliases (drop-in
 * build only) and malloc_stats_print.  Alignment sweeps are in align_test.c, impossible sizes in
 * too_large_test.c. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "api_test.h"

/* The alignment a block of this size must have: 16 from 16 bytes on (max_align_t on x86-64),
 * and for smaller blocks the largest power of two not above the size (no object of that size
 * can need more). */
static size_t required_align(size_t size)
{
    size_t a = 1;
    if (size >= 16)
        return 16;
    while (a * 2 <= size)
        a *= 2;
    return a;
}

static void check_distinct(void **ptrs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            CHECK(ptrs[i] != ptrs[j], "blocks %zu and %zu are both %p", i, j, ptrs[i]);
}

/* ---- malloc(0), calloc with a zero factor, free(NULL) ---- */

static void test_zero_size_blocks_are_distinct_and_freeable(void **state)
{
    enum { PER_KIND = 32 };
    void *ptrs[4 * PER_KIND];
    size_t n = 0;

    for (int i = 0; i < PER_KIND; i++) {
        ptrs[n++] = malloc(hide(0));
        ptrs[n++] = calloc(hide(0), hide(16));
        ptrs[n++] = calloc(hide(16), hide(0));
        ptrs[n++] = calloc(hide(0), hide(0));
    }
    for (size_t i = 0; i < n; i++)
        CHECK(ptrs[i] != NULL, "zero-size block %zu (kind %zu) is NULL", i, i % 4);
    check_distinct(ptrs, n);
    for (size_t i = 0; i < n; i++)
        free(ptrs[i]);

    /* The memory is really released: many rounds do not use up anything. */
    for (int round = 0; round < 100000; round++) {
        void *p = hide_ptr(malloc(hide(0)));
        CHECK(p != NULL, "malloc(0) failed in round %d", round);
        free(p);
    }
}

static void test_free_null_does_nothing(void **state)
{
    void *before = malloc(64);
    assert_non_null(before);
    pattern_fill(before, 64, 1);

    errno = 4242;
    free(NULL);
    free(NULL);
    assert_int_equal(errno, 4242);

    /* The allocator's state is not disturbed: the live block is intact and allocation works. */
    assert_int_equal(pattern_check(before, 64, 1), 64);
    void *after = malloc(64);
    assert_non_null(after);
    assert_ptr_not_equal(after, before);
    free(after);
    free(before);
}

/* ---- fundamental alignment ---- */

static void check_fundamental_alignment(size_t size)
{
    enum { HOLD = 6 };
    void *blocks[4 * HOLD];
    size_t align = required_align(size);
    size_t n = 0;

    /* Hold several blocks at once so they come from different slots of a slab. */
    for (int i = 0; i < HOLD; i++) {
        blocks[n++] = malloc(size);
        blocks[n++] = calloc(1, size);
        blocks[n++] = realloc(NULL, size);
        void *grow = malloc(1);
        CHECK(grow != NULL, "malloc(1) failed");
        blocks[n++] = realloc(grow, size);
    }
    for (size_t i = 0; i < n; i++) {
        CHECK(blocks[i] != NULL, "size %zu: allocation %zu failed", size, i);
        CHECK(is_aligned(blocks[i], align), "size %zu: %p (allocation %zu) not %zu-aligned", size,
              blocks[i], i, align);
    }
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
}

static void test_fundamental_alignment_sweep(void **state)
{
    static const size_t big[] = {100000,      1 * MiB - 1, 1 * MiB,  1 * MiB + 1,
                                 3 * MiB + 7, 8 * MiB + 1, 32 * MiB, 100 * MiB};

    for (size_t size = 1; size <= 1024; size++)
        check_fundamental_alignment(size);
    for (size_t size = 1025; size <= 64 * KiB; size += 61)
        check_fundamental_alignment(size);
    for (size_t size = 2048; size <= 64 * KiB; size *= 2) {
        check_fundamental_alignment(size - 1);
        check_fundamental_alignment(size);
        check_fundamental_alignment(size + 1);
    }
    for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++)
        check_fundamental_alignment(big[i]);
}

/* ---- malloc_usable_size ---- */

static void test_usable_size_of_null_is_zero(void **state)
{
    assert_int_equal(malloc_usable_size(NULL), 0);
}

/* Each block is filled over its whole usable size with its own pattern while the previous block
 * is still live; the previous block must still hold its pattern, so usable sizes never reach
 * into a neighbour. */
static void usable_size_step(void **prev, size_t *prev_usable, unsigned *prev_seed, size_t size,
                             unsigned seed)
{
    void *p = malloc(size);
    CHECK(p != NULL, "malloc(%zu) failed", size);
    size_t usable = malloc_usable_size(p);
    CHECK(usable >= size, "malloc_usable_size(malloc(%zu)) = %zu", size, usable);
    pattern_fill(p, usable, seed);
    if (*prev != NULL) {
        size_t bad = pattern_check(*prev, *prev_usable, *prev_seed);
        CHECK(bad == *prev_usable,
              "writing the %zu usable bytes of malloc(%zu) changed byte %zu of the previous "
              "block",
              usable, size, bad);
        free(*prev);
    }
    *prev = p;
    *prev_usable = usable;
    *prev_seed = seed;
}

static void test_usable_size_covers_request_and_is_writable(void **state)
{
    static const size_t mib_sizes[] = {1 * MiB,           2 * MiB - 1, 2 * MiB,  3 * MiB + 1,
                                       7 * MiB + MiB / 2, 16 * MiB,    33 * MiB, 64 * MiB + 5};
    void *prev = NULL;
    size_t prev_usable = 0;
    unsigned prev_seed = 0;
    unsigned seed = 1;

    for (size_t size = 0; size <= 4096; size++)
        usable_size_step(&prev, &prev_usable, &prev_seed, size, seed++);
    for (size_t size = 4097; size <= 70000; size += 7)
        usable_size_step(&prev, &prev_usable, &prev_seed, size, seed++);
    for (size_t i = 0; i < sizeof(mib_sizes) / sizeof(mib_sizes[0]); i++)
        usable_size_step(&prev, &prev_usable, &prev_seed, mib_sizes[i], seed++);
    assert_int_equal(pattern_check(prev, prev_usable, prev_seed), prev_usable);
    free(prev);

    /* calloc'ed and realloc'ed blocks report at least their size too. */
    for (size_t size = 1; size <= 70000; size = size * 3 / 2 + 1) {
        void *p = calloc(size, 1);
        CHECK(p != NULL && malloc_usable_size(p) >= size, "calloc(%zu, 1)", size);
        p = realloc(p, size * 2);
        CHECK(p != NULL && malloc_usable_size(p) >= size * 2, "realloc to %zu", size * 2);
        memset(p, 0x11, malloc_usable_size(p));
        p = realloc(p, size / 2 + 1);
        CHECK(p != NULL && malloc_usable_size(p) >= size / 2 + 1, "realloc to %zu", size / 2 + 1);
        memset(p, 0x22, malloc_usable_size(p));
        free(p);
    }
}

/* ---- calloc zeroes reused memory ---- */

static void calloc_reuse_round(size_t size, size_t count, int round)
{
    void *blocks[64];

    assert_true(count <= 64);
    for (size_t i = 0; i < count; i++) {
        blocks[i] = malloc(size);
        CHECK(blocks[i] != NULL, "malloc(%zu) failed", size);
        memset(blocks[i], 0xAB, malloc_usable_size(blocks[i]));
    }
    /* Free in both orders on alternate rounds, so LIFO caches and address-ordered reuse are
     * both exercised. */
    for (size_t i = 0; i < count; i++)
        free(blocks[round % 2 ? count - 1 - i : i]);

    for (size_t i = 0; i < count; i++) {
        size_t nmemb = 1, elem = size;
        if (i % 3 == 1) {
            nmemb = size;
            elem = 1;
        } else if (i % 3 == 2 && size % 8 == 0) {
            nmemb = size / 8;
            elem = 8;
        }
        unsigned char *p = hide_ptr(calloc(nmemb, elem));
        CHECK(p != NULL, "calloc(%zu, %zu) failed", nmemb, elem);
        size_t bad = first_not(p, size, 0);
        CHECK(bad == size, "calloc(%zu, %zu) round %d block %zu: byte %zu is 0x%02x", nmemb, elem,
              round, i, bad, p[bad]);
        blocks[i] = p;
    }
    for (size_t i = 0; i < count; i++)
        free(blocks[i]);
}

/* Rounds alternate the order of frees; two rounds cover both orders. */
static void calloc_reuse_sizes(const size_t *sizes, size_t nsizes, size_t count, int rounds)
{
    for (int round = 0; round < rounds; round++)
        for (size_t i = 0; i < nsizes; i++)
            calloc_reuse_round(sizes[i], count, round);
}

static void test_calloc_zeroes_reused_small_blocks(void **state)
{
    static const size_t sizes[] = {1,   7,   8,   15,  16,  24,   40,   48,   64,   100, 128,
                                   160, 200, 256, 384, 512, 1000, 1024, 2048, 3000, 3584};
    calloc_reuse_sizes(sizes, sizeof(sizes) / sizeof(sizes[0]), 64, 4);
}

static void test_calloc_zeroes_reused_medium_blocks(void **state)
{
    static const size_t sizes[] = {4096,  5000,  8192,   12000,  14336,  16384,  20000,
                                   32768, 65536, 100000, 262144, 500000, 1 * MiB};
    calloc_reuse_sizes(sizes, sizeof(sizes) / sizeof(sizes[0]), 16, 4);
}

static void test_calloc_zeroes_reused_large_blocks(void **state)
{
    static const size_t sizes[] = {2 * MiB, 3 * MiB + 5, 4 * MiB, 8 * MiB, 16 * MiB + 4096};
    calloc_reuse_sizes(sizes, sizeof(sizes) / sizeof(sizes[0]), 4, 2);
}

/* A block that was shrunk in place leaves dirty bytes behind its new end; the memory a later
 * calloc gets there must still be zero. */
static void test_calloc_zeroes_after_shrinking_realloc(void **state)
{
    static const size_t sizes[] = {64, 1000, 6000, 40000, 300000, 3 * MiB, 12 * MiB};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t size = sizes[i];
        for (int round = 0; round < 8; round++) {
            unsigned char *p = malloc(size);
            assert_non_null(p);
            memset(p, 0xAB, malloc_usable_size(p));
            p = realloc(p, size / 4 + 1);
            assert_non_null(p);
            free(p);
            unsigned char *z = hide_ptr(calloc(1, size));
            assert_non_null(z);
            size_t bad = first_not(z, size, 0);
            CHECK(bad == size, "calloc(1, %zu) after shrink: byte %zu is 0x%02x", size, bad,
                  z[bad]);
            free(z);
        }
    }
}

/* ---- free and errno ---- */

#define ERRNO_SENTINEL 4242

static void free_keeps_errno(void *p, const char *what)
{
    errno = ERRNO_SENTINEL;
    free(p);
    CHECK(errno == ERRNO_SENTINEL, "free(%s) changed errno to %d", what, errno);
}

static void test_free_keeps_errno(void **state)
{
    static const struct {
        size_t size;
        const char *name;
    } kinds[] = {
        {1, "1 byte"},      {100, "small"},     {5000, "page-sized"},     {100000, "large"},
        {1 * MiB, "1 MiB"}, {8 * MiB, "8 MiB"}, {64 * MiB + 1, "64 MiB"}, {300 * MiB, "300 MiB"}};
    enum { MANY = 5000 };
    static void *many[MANY];

    free_keeps_errno(NULL, "NULL");
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        void *p = malloc(kinds[i].size);
        assert_non_null(p);
        memset(p, 0x5c, kinds[i].size);
        free_keeps_errno(p, kinds[i].name);
    }

    /* Enough frees to overflow any per-thread cache and return memory to its arena. */
    for (size_t i = 0; i < MANY; i++) {
        many[i] = malloc(16 + (i % 64) * 16);
        assert_non_null(many[i]);
    }
    for (size_t i = 0; i < MANY; i++)
        free_keeps_errno(many[i], "one of many small blocks");

    /* Many large blocks freed at once: the allocator may coalesce, purge or unmap here. */
    for (size_t i = 0; i < 64; i++) {
        many[i] = malloc(256 * KiB + i * 4096);
        assert_non_null(many[i]);
        memset(many[i], 1, 256 * KiB);
    }
    for (size_t i = 0; i < 64; i++)
        free_keeps_errno(many[i], "one of many large blocks");

    /* The same for the other ways of giving memory back. */
    void *p = malloc(1000);
    assert_non_null(p);
    errno = ERRNO_SENTINEL;
    free_sized(p, 1000);
    assert_int_equal(errno, ERRNO_SENTINEL);
    p = aligned_alloc(4096, 10000);
    assert_non_null(p);
    errno = ERRNO_SENTINEL;
    free_aligned_sized(p, 4096, 10000);
    assert_int_equal(errno, ERRNO_SENTINEL);
    if (HMALLOC_DROPIN) {
        p = __libc_malloc(20 * MiB);
        assert_non_null(p);
        errno = ERRNO_SENTINEL;
        __libc_free(p);
        assert_int_equal(errno, ERRNO_SENTINEL);
    }
}

/* ---- realloc ---- */

/* Resident memory must not keep growing while a loop allocates and releases blocks of this
 * size through `release`; a leak of each block would grow it by size * rounds. Callers pick
 * rounds so that size * rounds is well above the limit. */
#define RSS_GROWTH_LIMIT (256 * MiB)

static void check_release_reclaims(size_t size, int rounds, void (*release)(void *, size_t),
                                   const char *what)
{
    size_t base = rss_bytes();

    if (base == 0)
        skip();
    for (int i = 0; i < rounds; i++) {
        void *p = malloc(size);
        CHECK(p != NULL, "%s: malloc(%zu) failed in round %d", what, size, i);
        memset(p, 0x3c, size);
        release(p, size);
        if (i % 32 == 31) {
            size_t now = rss_bytes();
            CHECK(now < base + RSS_GROWTH_LIMIT,
                  "%s: resident memory grew from %zu to %zu bytes after %d blocks of %zu "
                  "bytes: released blocks are not reused",
                  what, base, now, i + 1, size);
        }
    }
}

static void release_by_realloc_zero(void *p, size_t size)
{
    void *r = realloc(p, hide(0));
    CHECK(r == NULL, "realloc(p, 0) on a block of %zu bytes returned %p, not NULL", size, r);
}

static void test_realloc_zero_frees_and_returns_null(void **state)
{
    check_release_reclaims(100, 100000, release_by_realloc_zero, "realloc(p, 0)");
    check_release_reclaims(64 * KiB, 6000, release_by_realloc_zero, "realloc(p, 0)");
    check_release_reclaims(256 * KiB, 2000, release_by_realloc_zero, "realloc(p, 0)");
    check_release_reclaims(4 * MiB + 1, 96, release_by_realloc_zero, "realloc(p, 0)");
}

static void test_realloc_null_acts_as_malloc(void **state)
{
    static const size_t sizes[] = {0, 1, 16, 100, 5000, 100000, 5 * MiB};
    void *zero[16];

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t size = sizes[i];
        void *p = realloc(NULL, size);
        CHECK(p != NULL, "realloc(NULL, %zu) returned NULL", size);
        CHECK(malloc_usable_size(p) >= size, "realloc(NULL, %zu): usable size %zu", size,
              malloc_usable_size(p));
        CHECK(is_aligned(p, required_align(size)), "realloc(NULL, %zu) = %p", size, p);
        pattern_fill(p, size, 7);
        /* It is an ordinary block: it can grow, and free releases it. */
        p = realloc(p, size + 1000);
        CHECK(p != NULL, "growing realloc(NULL, %zu)'s block failed", size);
        CHECK(pattern_check(p, size, 7) == size, "realloc(NULL, %zu) block lost data", size);
        free(p);
    }
    /* Like malloc(0), realloc(NULL, 0) gives distinct blocks. */
    for (size_t i = 0; i < 16; i++) {
        zero[i] = realloc(NULL, hide(0));
        CHECK(zero[i] != NULL, "realloc(NULL, 0) #%zu returned NULL", i);
    }
    check_distinct(zero, 16);
    for (size_t i = 0; i < 16; i++)
        free(zero[i]);
}

/* Walk one block through the sizes in order; at each step the bytes both sizes share must
 * survive and the new tail is filled. With `block`, a same-sized block is allocated right after
 * each step so that the next growth cannot simply extend in place. */
static void realloc_walk(const size_t *sizes, size_t n, int block)
{
    void *blockers[64];
    size_t nblockers = 0;
    unsigned char *p = NULL;
    size_t old = 0;
    const unsigned seed = 99;

    for (size_t i = 0; i < n; i++) {
        size_t size = sizes[i];
        unsigned char *q = realloc(p, size);
        CHECK(q != NULL, "realloc from %zu to %zu failed", old, size);
        CHECK(malloc_usable_size(q) >= size, "realloc from %zu to %zu: usable size %zu", old, size,
              malloc_usable_size(q));
        CHECK(is_aligned(q, required_align(size)), "realloc from %zu to %zu gave %p", old, size,
              (void *)q);
        size_t keep = old < size ? old : size;
        size_t bad = pattern_check(q, keep, seed);
        CHECK(bad == keep, "realloc from %zu to %zu: byte %zu of %zu kept bytes changed", old, size,
              bad, keep);
        if (size > keep)
            for (size_t j = keep; j < size; j++)
                q[j] = pattern_byte(j, seed);
        p = q;
        old = size;
        if (block && nblockers < 64) {
            blockers[nblockers] = malloc(size);
            CHECK(blockers[nblockers] != NULL, "blocker of %zu bytes", size);
            nblockers++;
        }
    }
    free(p);
    for (size_t i = 0; i < nblockers; i++)
        free(blockers[i]);
}

static void test_realloc_preserves_contents_across_classes(void **state)
{
    /* clang-format off */
    static const size_t up_and_down[] = {
        1, 7, 8, 9, 16, 17, 100, 128, 129, 1000, 4096, 4097, 14336, 14337, 16385, /* small */
        40000, 100000, 1 * MiB - 1, 1 * MiB + 1, 2 * MiB,                          /* large */
        3 * MiB + MiB / 2, 4 * MiB + 1, 9 * MiB, 33 * MiB, 70 * MiB,               /* huge */
        33 * MiB, 5 * MiB, 1 * MiB, 70000, 20000, 5000, 1000, 200, 40, 9, 1,       /* down */
    };
    /* clang-format on */
    /* small -> huge -> small in single jumps, and large <-> small. */
    static const size_t jumps[] = {3,      50 * MiB, 5,       300000, 2, 20 * MiB,
                                   100000, 24,       8 * MiB, 3000,   1};
    /* Within one size class and at its edges. */
    static const size_t nudges[] = {100,  101,  99,     100,    100,    4000,  4001,
                                    3999, 4000, 200000, 200001, 199999, 200000};

    for (int block = 0; block <= 1; block++) {
        realloc_walk(up_and_down, sizeof(up_and_down) / sizeof(up_and_down[0]), block);
        realloc_walk(jumps, sizeof(jumps) / sizeof(jumps[0]), block);
        realloc_walk(nudges, sizeof(nudges) / sizeof(nudges[0]), block);
    }
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Many live blocks reallocated at random between small, large and huge sizes: every block keeps
 * its own pattern, so a realloc that moved data wrongly or handed out overlapping memory shows. */
static void test_realloc_random_walk_keeps_every_block(void **state)
{
    enum { SLOTS = 64, OPS = 4000 };
    unsigned char *ptr[SLOTS] = {0};
    size_t size[SLOTS] = {0};
    uint64_t rng = 0x9e3779b97f4a7c15ull;

    for (int op = 0; op < OPS; op++) {
        size_t s = rng_next(&rng) % SLOTS;
        uint64_t r = rng_next(&rng);
        /* log-uniform up to 4 MiB, with one op in 64 going up to 16 MiB */
        unsigned bits = (unsigned)(r % ((r >> 8) % 64 == 0 ? 25 : 23));
        size_t n = (size_t)((r >> 16) & (((uint64_t)1 << bits) - 1)) + 1;

        if (ptr[s] != NULL) {
            size_t bad = pattern_check(ptr[s], size[s], (unsigned)s);
            CHECK(bad == size[s], "op %d: slot %zu (%zu bytes) byte %zu changed", op, s, size[s],
                  bad);
        }
        if (ptr[s] != NULL && (r >> 40) % 8 == 0) {
            free(ptr[s]);
            ptr[s] = NULL;
            size[s] = 0;
            continue;
        }
        unsigned char *q = realloc(ptr[s], n);
        CHECK(q != NULL, "op %d: realloc to %zu failed", op, n);
        size_t keep = size[s] < n ? size[s] : n;
        CHECK(pattern_check(q, keep, (unsigned)s) == keep, "op %d: realloc %zu -> %zu lost data",
              op, size[s], n);
        for (size_t j = keep; j < n; j++)
            q[j] = pattern_byte(j, (unsigned)s);
        ptr[s] = q;
        size[s] = n;
    }
    for (size_t s = 0; s < SLOTS; s++) {
        if (ptr[s] == NULL)
            continue;
        CHECK(pattern_check(ptr[s], size[s], (unsigned)s) == size[s], "slot %zu at the end", s);
        free(ptr[s]);
    }
}

/* ---- reallocarray ---- */

static void test_reallocarray(void **state)
{
    static const size_t overflow[][2] = {
        {SIZE_MAX, 2},
        {2, SIZE_MAX},
        {SIZE_MAX / 2 + 1, 2},              /* wraps to 0 */
        {SIZE_MAX / 2 + 2, 2},              /* wraps to 2 */
        {SIZE_MAX / 3 + 1, 3},              /* wraps to 2 */
        {(size_t)1 << 32, (size_t)1 << 32}, /* wraps to 0 */
        {(size_t)1 << 33, (size_t)1 << 31},
        {SIZE_MAX / 16 + 1, 16}, /* wraps to 0 */
        {SIZE_MAX, SIZE_MAX}     /* wraps to 1 */
    };

    /* reallocarray(NULL, n, m) is malloc(n * m). */
    unsigned char *p = reallocarray(NULL, hide(10), hide(10));
    assert_non_null(p);
    assert_true(malloc_usable_size(p) >= 100);
    pattern_fill(p, 100, 5);

    /* It grows and shrinks like realloc, keeping the contents. */
    p = reallocarray(p, hide(1000), hide(10));
    assert_non_null(p);
    assert_true(malloc_usable_size(p) >= 10000);
    assert_int_equal(pattern_check(p, 100, 5), 100);
    pattern_fill(p, 10000, 6);
    p = reallocarray(p, hide(25), hide(4));
    assert_non_null(p);
    assert_int_equal(pattern_check(p, 100, 6), 100);
    pattern_fill(p, 100, 5);

    for (size_t i = 0; i < sizeof(overflow) / sizeof(overflow[0]); i++) {
        size_t nmemb = hide(overflow[i][0]), elem = hide(overflow[i][1]);
        size_t usable = malloc_usable_size(p);

        errno = 0;
        void *q = reallocarray(hide_ptr(p), nmemb, elem); /* p stays live when this fails */
        CHECK(q == NULL, "reallocarray(p, %#zx, %#zx) did not fail", nmemb, elem);
        CHECK(errno == ENOMEM, "reallocarray(p, %#zx, %#zx): errno %d", nmemb, elem, errno);
        CHECK(malloc_usable_size(p) == usable, "failed reallocarray changed the old block");
        CHECK(pattern_check(p, 100, 5) == 100, "failed reallocarray changed the contents");

        errno = 0;
        q = reallocarray(NULL, nmemb, elem);
        CHECK(q == NULL && errno == ENOMEM, "reallocarray(NULL, %#zx, %#zx): %p errno %d", nmemb,
              elem, q, errno);
    }
    /* The old block is still an ordinary live block. */
    p = realloc(p, 200);
    assert_non_null(p);
    assert_int_equal(pattern_check(p, 100, 5), 100);
    free(p);
}

/* ---- free_sized, free_aligned_sized ---- */

static void release_by_free_sized(void *p, size_t size) { free_sized(p, size); }

static void test_free_sized_frees_blocks_of_every_class(void **state)
{
    static const size_t sizes[] = {0,     1,     8,     24,     100,     1000,    4096,
                                   10000, 14336, 20000, 100000, 1 * MiB, 3 * MiB, 10 * MiB};
    enum { N = 32 };
    void *blocks[N];

    errno = ERRNO_SENTINEL;
    free_sized(NULL, 0);
    free_sized(NULL, 100);
    free_aligned_sized(NULL, 64, 0);
    free_aligned_sized(NULL, 4096, 100);
    assert_int_equal(errno, ERRNO_SENTINEL);

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t size = sizes[i];
        size_t n = size >= MiB ? 4 : N;
        for (size_t j = 0; j < n; j++) {
            blocks[j] = malloc(size);
            CHECK(blocks[j] != NULL, "malloc(%zu)", size);
            memset(blocks[j], 0x77, size);
        }
        for (size_t j = 0; j < n; j++)
            free_sized(blocks[j], size);
        /* calloc'ed blocks are freed with nmemb * size */
        for (size_t j = 0; j < n; j++) {
            blocks[j] = calloc(size / 4 + 1, 4);
            CHECK(blocks[j] != NULL, "calloc(%zu, 4)", size / 4 + 1);
        }
        for (size_t j = 0; j < n; j++)
            free_sized(blocks[j], (size / 4 + 1) * 4);
        /* a reallocated block is freed with its latest size */
        void *p = malloc(size);
        assert_non_null(p);
        p = realloc(p, size * 2 + 1);
        assert_non_null(p);
        free_sized(p, size * 2 + 1);
    }

    /* The memory is really given back: these loops would use gigabytes otherwise. */
    check_release_reclaims(64 * KiB, 6000, release_by_free_sized, "free_sized");
    check_release_reclaims(256 * KiB, 2000, release_by_free_sized, "free_sized");
    check_release_reclaims(4 * MiB + 1, 96, release_by_free_sized, "free_sized");
}

static int cmp_uintptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* Small blocks freed with free_sized come back from malloc of the same size. */
static void test_free_sized_memory_is_reused(void **state)
{
    enum { N = 1000 };
    static void *blocks[N];
    static uintptr_t freed[N];
    size_t reused = 0;

    for (size_t i = 0; i < N; i++) {
        blocks[i] = malloc(48);
        assert_non_null(blocks[i]);
        freed[i] = (uintptr_t)blocks[i];
    }
    for (size_t i = 0; i < N; i++)
        free_sized(blocks[i], 48);
    qsort(freed, N, sizeof(freed[0]), cmp_uintptr);
    for (size_t i = 0; i < N; i++) {
        blocks[i] = malloc(48);
        assert_non_null(blocks[i]);
        uintptr_t key = (uintptr_t)blocks[i];
        if (bsearch(&key, freed, N, sizeof(freed[0]), cmp_uintptr) != NULL)
            reused++;
    }
    for (size_t i = 0; i < N; i++)
        free(blocks[i]);
    CHECK(reused > 0, "none of %d blocks freed with free_sized was handed out again", N);
}

static void check_aligned_release_reclaims(size_t align, size_t size, int rounds)
{
    size_t base = rss_bytes();

    if (base == 0)
        skip();
    for (int i = 0; i < rounds; i++) {
        void *p = aligned_alloc(align, size);
        CHECK(p != NULL && is_aligned(p, align), "aligned_alloc(%zu, %zu) = %p", align, size, p);
        memset(p, 0x3c, size);
        free_aligned_sized(p, align, size);
        if (i % 32 == 31) {
            size_t now = rss_bytes();
            CHECK(now < base + RSS_GROWTH_LIMIT,
                  "free_aligned_sized(p, %zu, %zu): resident memory grew from %zu to %zu "
                  "after %d blocks",
                  align, size, base, now, i + 1);
        }
    }
}

static void test_free_aligned_sized_frees_aligned_blocks(void **state)
{
    enum { N = 32 };
    void *blocks[N];

    for (size_t align = 1; align <= 4 * MiB; align *= 2) {
        const size_t sizes[] = {align, 3 * align, 100, align + 1};
        for (size_t k = 0; k < 4; k++) {
            size_t size = sizes[k];
            size_t n = size >= MiB ? 3 : N;
            for (size_t j = 0; j < n; j++) {
                blocks[j] = aligned_alloc(align, size);
                CHECK(blocks[j] != NULL && is_aligned(blocks[j], align),
                      "aligned_alloc(%zu, %zu) = %p", align, size, blocks[j]);
                memset(blocks[j], 0x66, size);
            }
            for (size_t j = 0; j < n; j++)
                free_aligned_sized(blocks[j], align, size);
        }
    }
    check_aligned_release_reclaims(64, 100 * KiB, 4000);
    check_aligned_release_reclaims(4096, 256 * KiB, 2000);
    check_aligned_release_reclaims(2 * MiB, 3 * MiB, 128);
}

/* ---- glibc's __libc_* names ---- */

static void test_libc_aliases_interchange_with_standard_names(void **state)
{
    if (!HMALLOC_DROPIN)
        skip(); /* they are the C library's own in a namespaced build */
    static const size_t sizes[] = {0, 1, 24, 100, 4000, 20000, 300000, 10 * MiB};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t size = sizes[i];

        /* __libc_malloc -> free */
        unsigned char *p = __libc_malloc(size);
        CHECK(p != NULL, "__libc_malloc(%zu)", size);
        CHECK(malloc_usable_size(p) >= size, "__libc_malloc(%zu): usable %zu", size,
              malloc_usable_size(p));
        CHECK(is_aligned(p, required_align(size)), "__libc_malloc(%zu) = %p", size, (void *)p);
        pattern_fill(p, size, 3);
        /* -> realloc -> __libc_realloc -> __libc_free */
        p = realloc(p, size + 5000);
        CHECK(p != NULL && pattern_check(p, size, 3) == size, "realloc of __libc_malloc block");
        p = __libc_realloc(p, size / 2 + 1);
        CHECK(p != NULL && pattern_check(p, size / 2, 3) == size / 2,
              "__libc_realloc of a realloc'ed block");
        __libc_free(p);

        /* malloc -> __libc_realloc -> __libc_free */
        p = malloc(size);
        CHECK(p != NULL, "malloc(%zu)", size);
        pattern_fill(p, size, 4);
        p = __libc_realloc(p, size * 2 + 1);
        CHECK(p != NULL && pattern_check(p, size, 4) == size, "__libc_realloc of malloc block");
        __libc_free(p);

        /* __libc_calloc zeroes, also over reused memory; free releases it */
        p = malloc(size);
        CHECK(p != NULL, "malloc(%zu)", size);
        memset(p, 0xAB, size);
        free(p);
        p = hide_ptr(__libc_calloc(1, size));
        CHECK(p != NULL && first_not(p, size, 0) == size, "__libc_calloc(1, %zu)", size);
        free(p);
        p = hide_ptr(calloc(size, 1));
        CHECK(p != NULL && first_not(p, size, 0) == size, "calloc(%zu, 1)", size);
        __libc_free(p);
    }

    for (size_t align = 1; align <= 4 * MiB; align *= 2) {
        void *p = __libc_memalign(align, 100);
        CHECK(p != NULL && is_aligned(p, align), "__libc_memalign(%zu, 100) = %p", align, p);
        CHECK(malloc_usable_size(p) >= 100, "__libc_memalign(%zu, 100): usable %zu", align,
              malloc_usable_size(p));
        memset(p, 0x42, 100);
        free(p);
        p = memalign(align, 3 * align);
        CHECK(p != NULL && is_aligned(p, align), "memalign(%zu, %zu) = %p", align, 3 * align, p);
        memset(p, 0x43, 3 * align);
        __libc_free(p);
    }

    /* Failing calls behave as the standard ones do. */
    errno = 0;
    assert_null(__libc_malloc(hide(SIZE_MAX)));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(__libc_calloc(hide(SIZE_MAX / 2 + 1), hide(2)));
    assert_int_equal(errno, ENOMEM);
    errno = ERRNO_SENTINEL;
    __libc_free(NULL);
    assert_int_equal(errno, ERRNO_SENTINEL);

    /* Mixed at volume, so blocks pass through thread caches and back. */
    enum { N = 2000 };
    static void *blocks[N];
    for (int round = 0; round < 4; round++) {
        for (size_t i = 0; i < N; i++) {
            size_t size = 8 + (i * 37) % 3000;
            blocks[i] = (i + round) % 2 ? __libc_malloc(size) : malloc(size);
            CHECK(blocks[i] != NULL, "block %zu of %zu bytes", i, size);
            memset(blocks[i], (int)i, size);
        }
        for (size_t i = 0; i < N; i++) {
            if ((i + round) % 3)
                free(blocks[i]);
            else
                __libc_free(blocks[i]);
        }
    }
}

/* ---- malloc_stats_print ---- */

struct stats_sink {
    char text[1 << 16];
    size_t len;   /* bytes kept in text */
    size_t total; /* bytes received */
    int calls;
    int wrong_opaque;
};

static struct stats_sink sink;

static void stats_write(void *opaque, const char *s)
{
    struct stats_sink *k = &sink;
    size_t n = strlen(s);

    if (opaque != &sink)
        k->wrong_opaque++;
    k->calls++;
    k->total += n;
    if (n > sizeof(k->text) - 1 - k->len)
        n = sizeof(k->text) - 1 - k->len;
    memcpy(k->text + k->len, s, n);
    k->len += n;
    k->text[k->len] = '\0';
}

static void test_malloc_stats_print_writes_through_callback(void **state)
{
    void *live[100];
    for (size_t i = 0; i < 100; i++) {
        live[i] = malloc(i * 100 + 1);
        assert_non_null(live[i]);
    }

    const char *opts[] = {NULL, ""};
    for (size_t i = 0; i < 2; i++) {
        memset(&sink, 0, sizeof(sink));
        malloc_stats_print(stats_write, &sink, opts[i]);
        CHECK(sink.calls > 0, "opts %s: the callback was never called", opts[i] ? "\"\"" : "NULL");
        CHECK(sink.wrong_opaque == 0, "the callback got another cbopaque %d times",
              sink.wrong_opaque);
        CHECK(sink.total > 0 && strspn(sink.text, " \t\r\n") < sink.len,
              "the statistics text is empty");
    }
    for (size_t i = 0; i < 100; i++)
        free(live[i]);
}

static void test_malloc_stats_print_defaults_to_stderr(void **state)
{
    char path[] = "/tmp/hmalloc_stats_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);

    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fd, 2) == 2);
    malloc_stats_print(NULL, NULL, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);

    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    close(fd);
    CHECK(st.st_size > 0, "malloc_stats_print(NULL, NULL, NULL) wrote nothing to stderr");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_size_blocks_are_distinct_and_freeable),
        cmocka_unit_test(test_free_null_does_nothing),
        cmocka_unit_test(test_fundamental_alignment_sweep),
        cmocka_unit_test(test_usable_size_of_null_is_zero),
        cmocka_unit_test(test_usable_size_covers_request_and_is_writable),
        cmocka_unit_test(test_calloc_zeroes_reused_small_blocks),
        cmocka_unit_test(test_calloc_zeroes_reused_medium_blocks),
        cmocka_unit_test(test_calloc_zeroes_reused_large_blocks),
        cmocka_unit_test(test_calloc_zeroes_after_shrinking_realloc),
        cmocka_unit_test(test_free_keeps_errno),
        cmocka_unit_test(test_realloc_zero_frees_and_returns_null),
        cmocka_unit_test(test_realloc_null_acts_as_malloc),
        cmocka_unit_test(test_realloc_preserves_contents_across_classes),
        cmocka_unit_test(test_realloc_random_walk_keeps_every_block),
        cmocka_unit_test(test_reallocarray),
        cmocka_unit_test(test_free_sized_frees_blocks_of_every_class),
        cmocka_unit_test(test_free_sized_memory_is_reused),
        cmocka_unit_test(test_free_aligned_sized_frees_aligned_blocks),
        cmocka_unit_test(test_libc_aliases_interchange_with_standard_names),
        cmocka_unit_test(test_malloc_stats_print_writes_through_callback),
        cmocka_unit_test(test_malloc_stats_print_defaults_to_stderr),
    };
    /* HM_TEST_FILTER=test_name_pattern runs a subset (cmocka's wildcards * and ?). */
    if (getenv("HM_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("HM_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
