/* ext_alloc_test.c: mallocx, rallocx, xallocx, sallocx, dallocx and sdallocx.
 *  - MALLOCX_ZERO gives zeroed memory also when it reuses blocks that were filled and freed
 *    (small, large and huge sizes, with and without the thread cache), and rallocx/xallocx
 *    with MALLOCX_ZERO zero every byte they add past the old usable size, also when growing
 *    in place over a freed neighbour or over a tail the block itself gave back when it shrank.
 *  - rallocx keeps the contents across small/large/huge and alignments, returns NULL on an
 *    impossible request leaving the block intact, and never moves within a size class.
 *  - xallocx never moves, returns the resulting usable size (the old one when it cannot
 *    resize), grows a large block in place once its neighbour is free, shrinks one in place;
 *    a huge block shrunk in place gives back the pages it cut off and counts the change.
 *  - The two APIs mix: blocks of either family may be freed or resized by the other, sdallocx
 *    takes any size between the requested and the usable one, sallocx == malloc_usable_size. */
#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>

#include "ext_test.h"

/* ---- MALLOCX_ZERO ---- */

static const size_t zero_sizes[] = {8,     24,    100,    1000,        4096,       14000,
                                    16384, 40000, 200000, 1 * MiB, 3 * MiB};

/* Blocks up to max_size: fill, free, then allocate zeroed and check, a few rounds. */
static void zero_rounds(int base_flags, size_t max_size, const char *what)
{
    enum { MAXN = 24 };
    void *blocks[MAXN];
    for (size_t k = 0; k < EXT_COUNT(zero_sizes) && zero_sizes[k] <= max_size; k++) {
        size_t size = zero_sizes[k];
        size_t n = size >= MiB ? 2 : size >= 100000 ? 6 : MAXN;
        for (int round = 0; round < 3; round++) {
            /* Dirty some blocks of this size and give them back. */
            for (size_t i = 0; i < n; i++) {
                blocks[i] = mallocx(size, base_flags);
                CHECK(blocks[i] != NULL, "%s: mallocx(%zu) failed", what, size);
                memset(blocks[i], 0xff, sallocx(blocks[i], 0));
            }
            for (size_t i = 0; i < n; i++)
                dallocx(blocks[i], base_flags);
            /* Zeroed blocks of the same size now reuse them. */
            for (size_t i = 0; i < n; i++) {
                blocks[i] = mallocx(size, base_flags | MALLOCX_ZERO);
                CHECK(blocks[i] != NULL, "%s: mallocx(%zu, ZERO) failed", what, size);
                size_t u = sallocx(blocks[i], 0);
                size_t bad = ext_first_not(blocks[i], 0, u, 0);
                CHECK(bad == u,
                      "%s: mallocx(%zu, MALLOCX_ZERO) round %d block %zu: byte %zu of %zu "
                      "is %#x",
                      what, size, round, i, bad, u, ((unsigned char *)blocks[i])[bad]);
            }
            for (size_t i = 0; i < n; i++) {
                memset(blocks[i], 0xff, sallocx(blocks[i], 0));
                dallocx(blocks[i], base_flags);
            }
        }
    }
}

static void test_zero_on_recycled_memory(void **state)
{
    zero_rounds(0, SIZE_MAX, "default flags");
    zero_rounds(MALLOCX_TCACHE_NONE, 200000, "TCACHE_NONE");
    zero_rounds(MALLOCX_LG_ALIGN(6), 200000, "LG_ALIGN(6)");
    zero_rounds(MALLOCX_LG_ALIGN(13), 200000, "LG_ALIGN(13)");
    zero_rounds(ext_arena_flags(ext_new_arena()), SIZE_MAX, "private arena");
}

/* Blocks that were filled by malloc and freed with free come back zeroed too. */
static void test_zero_after_standard_free(void **state)
{
    for (size_t k = 0; k < EXT_COUNT(zero_sizes); k++) {
        size_t size = zero_sizes[k];
        for (int round = 0; round < 3; round++) {
            void *p = malloc(hide(size));
            CHECK(p != NULL, "malloc(%zu) failed", size);
            memset(p, 0xff, malloc_usable_size(p));
            free(p);
            unsigned char *q = mallocx(size, MALLOCX_ZERO);
            CHECK(q != NULL, "mallocx(%zu, ZERO) failed", size);
            size_t u = sallocx(q, 0);
            size_t bad = ext_first_not(q, 0, u, 0);
            CHECK(bad == u, "mallocx(%zu, ZERO) after free: byte %zu of %zu is %#x", size, bad, u,
                  q[bad]);
            free(q);
        }
    }
}

/* Grow a block full of 0xff with MALLOCX_ZERO: the old usable bytes are kept, the rest up to
 * the new size is zero.  Returns the new block. */
static unsigned char *grow_zero(unsigned char *p, size_t new_size, int flags, const char *what)
{
    size_t old_u = sallocx(p, 0);
    size_t bad = ext_first_not(p, 0, old_u, 0xff);
    CHECK(bad == old_u, "%s: byte %zu of the old block is not 0xff before growing", what, bad);
    unsigned char *q = rallocx(p, new_size, flags | MALLOCX_ZERO);
    CHECK(q != NULL, "%s: rallocx(%zu bytes -> %zu, ZERO) failed", what, old_u, new_size);
    size_t keep = old_u < new_size ? old_u : new_size;
    bad = ext_first_not(q, 0, keep, 0xff);
    CHECK(bad == keep, "%s: rallocx(%zu -> %zu) lost old byte %zu", what, old_u, new_size, bad);
    bad = ext_first_not(q, keep, new_size, 0);
    CHECK(bad == new_size, "%s: rallocx(usable %zu -> %zu, ZERO): added byte %zu is %#x", what,
          old_u, new_size, bad, bad < new_size ? q[bad] : 0);
    return q;
}

/* Fill then free some blocks of the target size so that growing is likely to land on dirty
 * memory. */
static void dirty_some(size_t size, int flags)
{
    void *b[2];
    for (int i = 0; i < 2; i++) {
        b[i] = mallocx(size, flags);
        CHECK(b[i] != NULL, "mallocx(%zu) failed", size);
        memset(b[i], 0xff, sallocx(b[i], 0));
    }
    for (int i = 0; i < 2; i++)
        dallocx(b[i], flags);
}

static void test_rallocx_zero_zeroes_what_it_adds(void **state)
{
    static const size_t pairs[][2] = {
        {24, 100},           {100, 1000},         {1000, 14000},       {1000, 50000},
        {20000, 200000},     {100000, MiB},   {200000, 2 * MiB}, {MiB, 3 * MiB},
        {3 * MiB, 6 * MiB}, {10, 3 * MiB}, {17, 18}, {40000, 41000},
    };
    const int flagsets[] = {0, MALLOCX_TCACHE_NONE, ext_arena_flags(ext_new_arena())};
    for (size_t f = 0; f < EXT_COUNT(flagsets); f++)
        for (size_t k = 0; k < EXT_COUNT(pairs); k++) {
            char what[64];
            snprintf(what, sizeof what, "flags %#x, %zu -> %zu", flagsets[f], pairs[k][0],
                     pairs[k][1]);
            dirty_some(pairs[k][1], flagsets[f]);
            unsigned char *p = mallocx(pairs[k][0], flagsets[f]);
            CHECK(p != NULL, "%s: mallocx failed", what);
            memset(p, 0xff, sallocx(p, 0));
            p = grow_zero(p, pairs[k][1], flagsets[f], what);
            dallocx(p, flagsets[f]);
        }
}

/* Find, among blocks of `size` from a private arena, two where the second starts right where the
 * first one's usable size ends (allowing a page or two of the allocator's own padding).  Returns
 * false when there is no such pair. */
static bool adjacent_pair(size_t size, int flags, void **a, void **b)
{
    enum { N = 8 };
    void *blk[N];
    int ia = -1, ib = -1;
    for (int i = 0; i < N; i++) {
        blk[i] = mallocx(size, flags);
        CHECK(blk[i] != NULL, "mallocx(%zu) failed", size);
    }
    for (int i = 0; i < N && ia < 0; i++)
        for (int j = 0; j < N; j++) {
            uintptr_t end = (uintptr_t)blk[i] + sallocx(blk[i], 0);
            if ((uintptr_t)blk[j] >= end && (uintptr_t)blk[j] - end < 2 * page_size()) {
                ia = i;
                ib = j;
                break;
            }
        }
    for (int i = 0; i < N; i++)
        if (i != ia && i != ib)
            dallocx(blk[i], flags);
    if (ia < 0)
        return false;
    *a = blk[ia];
    *b = blk[ib];
    return true;
}

/* Growing in place over a neighbour that was filled and freed must zero what it takes. */
static void test_rallocx_zero_in_place_over_freed_neighbour(void **state)
{
    static const size_t sizes[] = {32 * KiB, 64 * KiB, 256 * KiB, MiB};
    for (size_t k = 0; k < EXT_COUNT(sizes); k++) {
        int flags = ext_arena_flags(ext_new_arena());
        void *a, *b;
        CHECK(adjacent_pair(sizes[k], flags, &a, &b), "no two adjacent %zu-byte blocks",
              sizes[k]);
        memset(a, 0xff, sallocx(a, 0));
        memset(b, 0xff, sallocx(b, 0));
        dallocx(b, flags);
        char what[64];
        snprintf(what, sizeof what, "%zu-byte block, neighbour freed", sizes[k]);
        unsigned char *q = grow_zero(a, 2 * sizes[k] - 100, flags, what);
        dallocx(q, flags);
    }
}

/* Shrink a block full of 0xff, then grow it back with MALLOCX_ZERO: the tail it gave back
 * (still holding 0xff) must come back zeroed, by rallocx and by xallocx. */
static void test_zero_after_shrink_then_grow(void **state)
{
    static const size_t sizes[][2] = {
        {256 * KiB, 32 * KiB}, {MiB, 64 * KiB}, {2 * MiB, 100 * KiB},
        {12 * MiB, 3 * MiB},   {8 * MiB, 5 * MiB}, {4000, 100},
    };
    for (size_t k = 0; k < EXT_COUNT(sizes); k++) {
        size_t big = sizes[k][0], small = sizes[k][1];
        int flags = ext_arena_flags(ext_new_arena());
        char what[80];

        /* rallocx down then up. */
        unsigned char *p = mallocx(big, flags);
        CHECK(p != NULL, "mallocx(%zu) failed", big);
        memset(p, 0xff, sallocx(p, 0));
        p = rallocx(p, small, flags);
        CHECK(p != NULL, "rallocx(%zu -> %zu) failed", big, small);
        /* Only the first `small` bytes are kept; make the whole usable size 0xff again (the tail
         * the block gave back, if it shrank in place, still is). */
        memset(p, 0xff, sallocx(p, 0));
        snprintf(what, sizeof what, "rallocx %zu -> %zu -> %zu", big, small, big);
        p = grow_zero(p, big, flags, what);
        dallocx(p, flags);

        /* xallocx down then up (in place when it can; whatever it adds must be zero). */
        p = mallocx(big, flags);
        CHECK(p != NULL, "mallocx(%zu) failed", big);
        memset(p, 0xff, sallocx(p, 0));
        size_t u1 = xallocx(p, small, 0, 0);
        CHECK(u1 == sallocx(p, 0), "xallocx returned %zu, sallocx %zu", u1, sallocx(p, 0));
        CHECK(ext_first_not(p, 0, u1, 0xff) == u1, "xallocx(%zu -> %zu) changed the contents",
              big, small);
        size_t u2 = xallocx(p, big, 0, MALLOCX_ZERO);
        CHECK(u2 == sallocx(p, 0), "xallocx returned %zu, sallocx %zu", u2, sallocx(p, 0));
        CHECK(ext_first_not(p, 0, u1 < u2 ? u1 : u2, 0xff) == (u1 < u2 ? u1 : u2),
              "xallocx(%zu -> %zu -> %zu) lost contents", big, small, big);
        if (u2 > u1) {
            size_t end = u2 < big ? u2 : big;
            size_t bad = ext_first_not(p, u1, end, 0);
            CHECK(bad == end, "xallocx %zu -> %zu (usable %zu) -> %zu (usable %zu) with ZERO: "
                  "byte %zu is %#x", big, small, u1, big, u2, bad, p[bad]);
        }
        dallocx(p, flags);
    }
}

/* Memory of big blocks that were filled and freed may come back in other sizes: a smaller
 * block (maybe the front of an old mapping or run), then grown in place.  What MALLOCX_ZERO
 * allocates or adds is zero all the same. */
static void test_zero_on_reused_bigger_blocks(void **state)
{
    static const size_t cases[][3] = {
        /* freed, then allocated, then grown to */
        {16 * MiB, 3 * MiB, 12 * MiB},
        {8 * MiB, 5 * MiB, 8 * MiB},
        {2 * MiB, 64 * KiB, 1536 * KiB},
        {MiB, 20000, 900000},
    };
    for (int use_x = 0; use_x < 2; use_x++)
        for (size_t k = 0; k < EXT_COUNT(cases); k++) {
            size_t freed = cases[k][0], size = cases[k][1], grown = cases[k][2];
            void *olds[3];
            for (int i = 0; i < 3; i++) {
                olds[i] = mallocx(freed, 0);
                CHECK(olds[i] != NULL, "mallocx(%zu) failed", freed);
                memset(olds[i], 0xff, sallocx(olds[i], 0));
            }
            for (int i = 0; i < 3; i++)
                dallocx(olds[i], 0);
            unsigned char *p = mallocx(size, MALLOCX_ZERO);
            CHECK(p != NULL, "mallocx(%zu, ZERO) failed", size);
            size_t u = sallocx(p, 0);
            size_t bad = ext_first_not(p, 0, u, 0);
            CHECK(bad == u, "mallocx(%zu, ZERO) after freeing %zu-byte blocks: byte %zu is %#x",
                  size, freed, bad, p[bad]);
            memset(p, 0xff, u);
            char what[96];
            snprintf(what, sizeof what, "%s %zu -> %zu after freeing %zu-byte blocks",
                     use_x ? "xallocx" : "rallocx", size, grown, freed);
            if (!use_x) {
                p = grow_zero(p, grown, 0, what);
            } else {
                size_t r = xallocx(p, grown, 0, MALLOCX_ZERO);
                CHECK(r == sallocx(p, 0), "%s: returned %zu, sallocx %zu", what, r,
                      sallocx(p, 0));
                CHECK(ext_first_not(p, 0, u < r ? u : r, 0xff) == (u < r ? u : r),
                      "%s: lost contents", what);
                if (r > u) {
                    size_t end = r < grown ? r : grown;
                    bad = ext_first_not(p, u, end, 0);
                    CHECK(bad == end, "%s: added byte %zu is %#x", what, bad, p[bad]);
                }
            }
            dallocx(p, 0);
        }
}

/* ---- rallocx ---- */

static void resize_chain(int flags, const char *what)
{
    static const size_t chain[] = {
        1,           8,           17,          100,         1000,            4097,
        14336,       16384,       20000,       100000,      MiB,         2 * MiB,
        2 * MiB + 1, 3 * MiB, 9 * MiB + 5, 3 * MiB, MiB + 3, 50000,
        5000,        200,         9,           1,           12 * MiB,    7,
    };
    size_t la = (size_t)(flags & 0x3f);
    size_t align = la ? (size_t)1 << la : 1;
    unsigned char *p = mallocx(chain[0], flags);
    CHECK(p != NULL, "%s: mallocx(%zu) failed", what, chain[0]);
    pattern_fill(p, chain[0], 7);
    for (size_t i = 1; i < EXT_COUNT(chain); i++) {
        size_t old = chain[i - 1], size = chain[i];
        unsigned char *q = rallocx(p, size, flags);
        CHECK(q != NULL, "%s: rallocx(%zu -> %zu) failed", what, old, size);
        CHECK(is_aligned(q, align), "%s: rallocx(%zu -> %zu) == %p, not %zu-aligned", what, old,
              size, (void *)q, align);
        CHECK(sallocx(q, 0) >= size, "%s: rallocx(%zu -> %zu) usable %zu", what, old, size,
              sallocx(q, 0));
        size_t keep = old < size ? old : size;
        size_t bad = pattern_check(q, keep, 7);
        CHECK(bad == keep, "%s: rallocx(%zu -> %zu) (%p -> %p): byte %zu lost", what, old, size,
              (void *)p, (void *)q, bad);
        if (size > keep) {
            unsigned char *b = q;
            for (size_t j = keep; j < size; j++)
                b[j] = pattern_byte(j, 7);
        }
        p = q;
    }
    dallocx(p, flags);
}

static void test_rallocx_preserves_contents(void **state)
{
    resize_chain(0, "flags 0");
    resize_chain(MALLOCX_TCACHE_NONE, "TCACHE_NONE");
    resize_chain(ext_arena_flags(ext_new_arena()), "private arena");
    static const int las[] = {4, 6, 12, 16, 21, 22};
    for (size_t k = 0; k < EXT_COUNT(las); k++) {
        char what[32];
        snprintf(what, sizeof what, "LG_ALIGN(%d)", las[k]);
        resize_chain(MALLOCX_LG_ALIGN(las[k]), what);
    }
}

/* A failed rallocx returns NULL and leaves the block exactly as it was. */
static void test_rallocx_impossible_leaves_block(void **state)
{
    static const size_t block_sizes[] = {100, 200000, MiB, 5 * MiB};
    size_t l = ext_max_accepted();
    const size_t bad_sizes[] = {SIZE_MAX, SIZE_MAX - 1, (size_t)PTRDIFF_MAX + 1, l + 1, l,
                                (size_t)1 << 48};
    static const int flags[] = {0, MALLOCX_ZERO, MALLOCX_LG_ALIGN(12), MALLOCX_TCACHE_NONE};
    for (size_t k = 0; k < EXT_COUNT(block_sizes); k++) {
        unsigned char *p = mallocx(block_sizes[k], 0);
        CHECK(p != NULL, "mallocx(%zu) failed", block_sizes[k]);
        size_t u = sallocx(p, 0);
        pattern_fill(p, u, 11);
        for (size_t i = 0; i < EXT_COUNT(bad_sizes); i++)
            for (size_t f = 0; f < EXT_COUNT(flags); f++) {
                void *q = rallocx(p, hide(bad_sizes[i]), flags[f]);
                CHECK(q == NULL, "rallocx(%zu-byte block, %#zx, %#x) == %p", block_sizes[k],
                      bad_sizes[i], flags[f], q);
                CHECK(sallocx(p, 0) == u, "failed rallocx changed the usable size %zu to %zu", u,
                      sallocx(p, 0));
            }
        void *q = rallocx(p, 100, MALLOCX_LG_ALIGN(63));
        CHECK(q == NULL, "rallocx(p, 100, LG_ALIGN(63)) == %p", q);
        size_t bad = pattern_check(p, u, 11);
        CHECK(bad == u, "failed rallocx changed byte %zu of a %zu-byte block", bad, block_sizes[k]);
        /* Still a live block: it grows and frees as usual. */
        p = rallocx(p, u * 2, 0);
        CHECK(p != NULL, "rallocx after the failures failed");
        CHECK(pattern_check(p, u, 11) == u, "contents lost by the later rallocx");
        dallocx(p, 0);
    }
}

/* Largest request that still gets usable size u: the lower end of u's class. */
static size_t class_low(size_t u)
{
    size_t lo = 0, hi = u; /* nallocx(hi) == u; lo is below the class (or 0) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (nallocx(mid, 0) == u)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

/* Any resize within the block's size class returns the same pointer (rallocx) and the same
 * usable size (xallocx), for every class up to 64 MiB. */
static void test_resize_within_class_never_moves(void **state)
{
    const int flagsets[] = {0, ext_arena_flags(ext_new_arena())};
    for (size_t f = 0; f < EXT_COUNT(flagsets); f++)
        for (size_t s = 1; s <= 64 * MiB; s = nallocx(s, 0) + 1) {
            size_t u = nallocx(s, 0);
            size_t lo = class_low(u);
            size_t targets[] = {u, lo, lo + (u - lo) / 2, u, lo};
            unsigned char *p = mallocx(u, flagsets[f]);
            CHECK(p != NULL, "mallocx(%zu) failed", u);
            CHECK(sallocx(p, 0) == u, "sallocx %zu, nallocx %zu", sallocx(p, 0), u);
            size_t head = lo < 4096 ? lo : 4096;
            pattern_fill(p, head, 5);
            if (lo >= 8192)
                memset(p + lo - 16, 0x77, 16);
            for (size_t t = 0; t < EXT_COUNT(targets); t++) {
                unsigned char *q = rallocx(p, targets[t], flagsets[f]);
                CHECK(q == p, "rallocx(%p usable %zu, %zu) moved to %p (class %zu..%zu)",
                      (void *)p, u, targets[t], (void *)q, lo, u);
                CHECK(sallocx(p, 0) == u, "usable size %zu after rallocx(%zu) in class %zu",
                      sallocx(p, 0), targets[t], u);
                size_t x = xallocx(p, targets[t], 0, 0);
                CHECK(x == u, "xallocx(usable %zu, %zu) == %zu", u, targets[t], x);
            }
            CHECK(pattern_check(p, head, 5) == head, "resizing within class %zu lost data", u);
            CHECK(lo < 8192 || ext_first_not(p, lo - 16, lo, 0x77) == lo,
                  "resizing within class %zu lost the last bytes", u);
            dallocx(p, flagsets[f]);
        }
}

/* ---- xallocx ---- */

/* xallocx on many blocks and requests: the pointer stays valid, the result is the usable size
 * afterwards, the contents survive, and the result is either unchanged or within
 * [nallocx(size), nallocx(size + extra)]. */
static void test_xallocx_result_is_the_usable_size(void **state)
{
    static const size_t sizes[] = {100, 3000, 20000, 300000, MiB, 3 * MiB, 9 * MiB};
    size_t l = ext_max_accepted();
    for (size_t k = 0; k < EXT_COUNT(sizes); k++) {
        size_t old = sizes[k];
        unsigned char *p = mallocx(old, 0);
        CHECK(p != NULL, "mallocx(%zu) failed", old);
        size_t u = sallocx(p, 0);
        pattern_fill(p, u, 9);
        const size_t req[][2] = {
            {old / 2, 0}, {old, 0},         {old + 1, 0},  {old * 2, 0}, {old, old},
            {1, 0},       {old / 2, old},   {old / 4, old / 8}, {old + 1, 10 * old},
            {old / 2, SIZE_MAX - old / 2},  {SIZE_MAX, 0}, {l + 1, 0},   {old, 0},
        };
        for (size_t i = 0; i < EXT_COUNT(req); i++) {
            size_t s = req[i][0], e = req[i][1];
            size_t r = xallocx(p, s, e, 0);
            CHECK(r == sallocx(p, 0), "block %zu: xallocx(%zu, %zu) == %zu but sallocx == %zu",
                  old, s, e, r, sallocx(p, 0));
            size_t keep = u < r ? u : r;
            size_t bad = pattern_check(p, keep, 9);
            CHECK(bad == keep, "block %zu: xallocx(%zu, %zu) -> %zu lost byte %zu", old, s, e, r,
                  bad);
            if (r != u) {
                /* Resized: to at least size, and to no more than size + extra asks for (nor
                 * more than it had, when both are below). */
                size_t lo = nallocx(s, 0);
                size_t hi = (e <= SIZE_MAX - s && nallocx(s + e, 0) != 0) ? nallocx(s + e, 0) : l;
                if (hi < u)
                    hi = u;
                CHECK(lo != 0 && r >= s && r <= hi,
                      "block of usable %zu: xallocx(%zu, %zu) == %zu, outside [%zu, %zu]", u, s,
                      e, r, s, hi);
            }
            pattern_fill(p, r, 9);
            u = r;
        }
        dallocx(p, 0);
    }
}

/* Impossible requests leave the block as it was and return its usable size. */
static void test_xallocx_impossible_returns_old_size(void **state)
{
    static const size_t sizes[] = {100, 20000, MiB, 5 * MiB};
    size_t l = ext_max_accepted();
    const size_t bad[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1, l + 1, l, (size_t)1 << 48};
    for (size_t k = 0; k < EXT_COUNT(sizes); k++) {
        unsigned char *p = mallocx(sizes[k], 0);
        CHECK(p != NULL, "mallocx(%zu) failed", sizes[k]);
        size_t u = sallocx(p, 0);
        pattern_fill(p, u, 13);
        for (size_t i = 0; i < EXT_COUNT(bad); i++) {
            size_t r = xallocx(p, hide(bad[i]), 0, 0);
            CHECK(r == u, "xallocx(block of %zu, %#zx) == %zu", u, bad[i], r);
            r = xallocx(p, hide(bad[i]), 0, MALLOCX_ZERO);
            CHECK(r == u, "xallocx(block of %zu, %#zx, ZERO) == %zu", u, bad[i], r);
            CHECK(sallocx(p, 0) == u, "sallocx changed to %zu", sallocx(p, 0));
        }
        CHECK(pattern_check(p, u, 13) == u, "failed xallocx changed block of %zu", u);
        dallocx(p, 0);
    }
}

/* A 1 MiB block cannot grow over a neighbour in use; once the neighbour is freed it grows in
 * place to (at least) what was asked, keeping its address and contents, and later allocations
 * do not overlap the grown block. */
static void test_xallocx_grows_into_freed_neighbour(void **state)
{
    const size_t size = MiB, want = 2 * MiB - 4096;
    int flags = ext_arena_flags(ext_new_arena());
    void *va, *vb;
    CHECK(adjacent_pair(size, flags, &va, &vb), "no two adjacent 1 MiB blocks in a new arena");
    unsigned char *a = va, *b = vb;
    size_t ua = sallocx(a, 0), ub = sallocx(b, 0);
    pattern_fill(a, ua, 21);
    pattern_fill(b, ub, 22);

    size_t r = xallocx(a, want, 0, 0);
    CHECK(r == ua, "xallocx grew %p from %zu to %zu over its live neighbour %p", (void *)a, ua,
          r, (void *)b);
    r = xallocx(a, ua + 1, 0, 0);
    CHECK(r == ua, "xallocx(%zu + 1) over a live neighbour == %zu", ua, r);
    CHECK(pattern_check(a, ua, 21) == ua, "the failed xallocx changed the block");
    CHECK(pattern_check(b, ub, 22) == ub, "the failed xallocx changed the neighbour");

    dallocx(b, flags);
    r = xallocx(a, want, 0, 0);
    CHECK(r >= want, "xallocx(1 MiB block, %zu) after freeing its neighbour == %zu", want, r);
    CHECK(r == sallocx(a, 0), "xallocx == %zu, sallocx == %zu", r, sallocx(a, 0));
    CHECK(pattern_check(a, ua, 21) == ua, "growing in place lost the contents");
    pattern_fill(a, r, 23);

    /* The grown block owns its memory: new blocks land elsewhere. */
    void *others[6];
    for (int i = 0; i < 6; i++) {
        others[i] = mallocx(size, flags);
        CHECK(others[i] != NULL, "mallocx failed");
        uintptr_t o = (uintptr_t)others[i];
        CHECK(o + size <= (uintptr_t)a || o >= (uintptr_t)a + r,
              "new block %p overlaps the grown block %p..+%zu", others[i], (void *)a, r);
        memset(others[i], 0, size);
    }
    CHECK(pattern_check(a, r, 23) == r, "new blocks overwrote the grown block");
    for (int i = 0; i < 6; i++)
        dallocx(others[i], flags);
    dallocx(a, flags);
}

/* With size + extra out of reach, xallocx still grows to size when that fits. */
static void test_xallocx_extra_is_best_effort(void **state)
{
    int flags = ext_arena_flags(ext_new_arena());
    void *va, *vb;
    CHECK(adjacent_pair(MiB, flags, &va, &vb), "no two adjacent 1 MiB blocks in a new arena");
    unsigned char *a = va;
    size_t ua = sallocx(a, 0);
    pattern_fill(a, ua, 31);
    dallocx(vb, flags);
    size_t want = ua + ua / 4;
    size_t r = xallocx(a, want, 64 * MiB, 0);
    CHECK(r >= want, "xallocx(%zu-byte block, %zu, extra 64 MiB) == %zu", ua, want, r);
    CHECK(r == sallocx(a, 0), "xallocx == %zu, sallocx == %zu", r, sallocx(a, 0));
    CHECK(pattern_check(a, ua, 31) == ua, "growing in place lost the contents");
    dallocx(a, flags);
}

/* Shrinking a large block in place gives a smaller usable size at the same address. */
static void test_xallocx_shrinks_large_in_place(void **state)
{
    static const size_t cases[][2] = {
        {MiB, 256 * KiB}, {200000, 40000}, {2 * MiB, 20000}, {100000, 70000}};
    const int flagsets[] = {0, ext_arena_flags(ext_new_arena())};
    for (size_t f = 0; f < EXT_COUNT(flagsets); f++)
        for (size_t k = 0; k < EXT_COUNT(cases); k++) {
            size_t big = cases[k][0], small = cases[k][1];
            unsigned char *p = mallocx(big, flagsets[f]);
            CHECK(p != NULL, "mallocx(%zu) failed", big);
            size_t u = sallocx(p, 0);
            pattern_fill(p, u, 17);
            size_t r = xallocx(p, small, 0, 0);
            CHECK(r < u && r >= small, "xallocx(%zu-byte block, %zu) == %zu", u, small, r);
            CHECK(r == nallocx(small, 0), "xallocx(%zu-byte block, %zu) == %zu, nallocx %zu", u,
                  small, r, nallocx(small, 0));
            CHECK(sallocx(p, 0) == r, "sallocx %zu after xallocx returned %zu", sallocx(p, 0), r);
            CHECK(pattern_check(p, r, 17) == r, "shrinking in place lost the contents");
            dallocx(p, flagsets[f]);
        }
}

/* A huge block shrunk in place keeps its contents and gives back the pages past its new end
 * (they are not resident afterwards, whether the range is still reserved for a regrowth or
 * unmapped); the thread's byte counters move by the change of usable size, down and up; a
 * regrowth in place keeps the contents and, with MALLOCX_ZERO, adds zero bytes. */
static void test_huge_shrink_in_place_returns_pages(void **state)
{
    static const size_t cases[][2] = {
        {8 * MiB, 5 * MiB}, {5 * MiB, 3 * MiB}, {12 * MiB, 3 * MiB}};
    size_t page = page_size();
    if (ctl_bool("opt.hardened"))
        return; /* a huge block ends in a guard page there, and is never resized in place */
    for (size_t k = 0; k < EXT_COUNT(cases); k++) {
        size_t big = cases[k][0], small = cases[k][1];
        unsigned char *p = mallocx(big, 0);
        CHECK(p != NULL, "mallocx(%zu) failed", big);
        size_t u = sallocx(p, 0);
        pattern_fill(p, u, 31);
        uint64_t a0 = ctl_u64("thread.allocated"), d0 = ctl_u64("thread.deallocated");
        size_t r = xallocx(p, small, 0, 0);
        CHECK(r >= small && r < u, "xallocx(%zu-byte block, %zu) == %zu", u, small, r);
        CHECK(pattern_check(p, r, 31) == r, "shrinking %zu -> %zu in place lost the contents", u, r);
        uint64_t a1 = ctl_u64("thread.allocated"), d1 = ctl_u64("thread.deallocated");
        CHECK(a1 == a0 && d1 - d0 == u - r,
              "shrinking %zu -> %zu moved thread.allocated by %" PRIu64 ", deallocated by %" PRIu64,
              u, r, a1 - a0, d1 - d0);
        size_t from = (r + page - 1) / page * page, n = (u - from) / page, resident = 0;
        unsigned char vec[4096];
        for (size_t i = 0; i < n; i += sizeof vec) {
            size_t m = n - i < sizeof vec ? n - i : sizeof vec;
            if (mincore(p + from + i * page, m * page, vec) != 0) {
                CHECK(errno == ENOMEM, "mincore failed: %s", strerror(errno));
                continue; /* unmapped: not resident either */
            }
            for (size_t j = 0; j < m; j++)
                resident += vec[j] & 1;
        }
        CHECK(resident == 0, "%zu of the %zu pages a %zu-byte block gave back by shrinking to "
              "%zu are still resident", resident, n, u, r);
        size_t g = xallocx(p, big, 0, MALLOCX_ZERO);
        uint64_t a2 = ctl_u64("thread.allocated"), d2 = ctl_u64("thread.deallocated");
        CHECK(a2 - a1 == (g > r ? g - r : 0) && d2 == d1,
              "growing %zu -> %zu moved thread.allocated by %" PRIu64 ", deallocated by %" PRIu64,
              r, g, a2 - a1, d2 - d1);
        CHECK(pattern_check(p, r, 31) == r, "regrowing %zu -> %zu lost the contents", r, g);
        CHECK(ext_first_not(p, r, g, 0) == g, "regrowing %zu -> %zu with ZERO: byte %zu is %#x",
              r, g, ext_first_not(p, r, g, 0), p[ext_first_not(p, r, g, 0)]);
        dallocx(p, 0);
    }
}

/* ---- mixing the two APIs ---- */

static uint64_t deallocated_now(void)
{
    return ctl_u64("thread.deallocated");
}

/* Free p through fn, checking that this thread's deallocated counter moved by p's usable size
 * (the block really went back). */
#define FREED_BY(p, stmt)                                                                      \
    do {                                                                                       \
        size_t u_ = sallocx((p), 0);                                                           \
        uint64_t d0_ = deallocated_now();                                                      \
        stmt;                                                                                  \
        uint64_t d1_ = deallocated_now();                                                      \
        CHECK(d1_ - d0_ >= u_, "%s freed %" PRIu64 " bytes of a %zu-byte block", #stmt,        \
              d1_ - d0_, u_);                                                                  \
    } while (0)

static const size_t mix_sizes[] = {1,     8,      24,      100,         1000,        4096,
                                   14336, 16385,  100000,  MiB + 1, 3 * MiB, 9 * MiB};

static void test_mix_mallocx_then_free(void **state)
{
    static const int flags[] = {0, MALLOCX_ZERO, MALLOCX_LG_ALIGN(6), MALLOCX_LG_ALIGN(14),
                                MALLOCX_TCACHE_NONE, MALLOCX_LG_ALIGN(22)};
    for (size_t f = 0; f < EXT_COUNT(flags); f++)
        for (size_t k = 0; k < EXT_COUNT(mix_sizes); k++) {
            unsigned char *p = mallocx(mix_sizes[k], flags[f]);
            CHECK(p != NULL, "mallocx(%zu, %#x) failed", mix_sizes[k], flags[f]);
            CHECK(sallocx(p, 0) == malloc_usable_size(p), "sallocx %zu, malloc_usable_size %zu",
                  sallocx(p, 0), malloc_usable_size(p));
            memset(p, 1, mix_sizes[k]);
            FREED_BY(p, free(p));
        }
}

static void test_mix_malloc_then_sdallocx(void **state)
{
    for (size_t k = 0; k < EXT_COUNT(mix_sizes); k++) {
        size_t size = mix_sizes[k];
        void *p = malloc(hide(size));
        CHECK(p != NULL, "malloc(%zu) failed", size);
        CHECK(sallocx(p, 0) == malloc_usable_size(p), "sallocx %zu, malloc_usable_size %zu",
              sallocx(p, 0), malloc_usable_size(p));
        FREED_BY(p, sdallocx(p, size, 0));

        p = malloc(hide(size));
        CHECK(p != NULL, "malloc(%zu) failed", size);
        size_t u = malloc_usable_size(p);
        FREED_BY(p, sdallocx(p, u, 0));

        p = malloc(hide(size));
        CHECK(p != NULL, "malloc(%zu) failed", size);
        u = malloc_usable_size(p);
        FREED_BY(p, sdallocx(p, size + (u - size) / 2, 0));

        p = calloc(1, hide(size));
        CHECK(p != NULL, "calloc(%zu) failed", size);
        FREED_BY(p, sdallocx(p, size, MALLOCX_TCACHE_NONE));

        p = malloc(hide(size));
        CHECK(p != NULL, "malloc(%zu) failed", size);
        p = realloc(p, hide(size * 2 + 1));
        CHECK(p != NULL, "realloc(%zu) failed", size * 2 + 1);
        FREED_BY(p, sdallocx(p, size * 2 + 1, 0));
    }
}

static void test_mix_aligned_then_sdallocx(void **state)
{
    for (int la = 3; la <= 22; la++) {
        size_t align = (size_t)1 << la;
        for (size_t k = 0; k < EXT_COUNT(mix_sizes); k++) {
            size_t size = mix_sizes[k];
            void *p = NULL;
            int r = posix_memalign(&p, align, hide(size));
            CHECK(r == 0 && p != NULL, "posix_memalign(%zu, %zu) == %d", align, size, r);
            CHECK(sallocx(p, 0) == malloc_usable_size(p), "sallocx %zu, malloc_usable_size %zu",
                  sallocx(p, 0), malloc_usable_size(p));
            CHECK(sallocx(p, 0) == nallocx(size, MALLOCX_ALIGN(align)),
                  "posix_memalign(%zu, %zu) usable %zu, nallocx %zu", align, size, sallocx(p, 0),
                  nallocx(size, MALLOCX_ALIGN(align)));
            FREED_BY(p, sdallocx(p, size, MALLOCX_ALIGN(align)));

            p = aligned_alloc(align, hide(size));
            CHECK(p != NULL, "aligned_alloc(%zu, %zu) failed", align, size);
            FREED_BY(p, sdallocx(p, size, MALLOCX_LG_ALIGN(la)));

            p = mallocx(size, MALLOCX_ALIGN(align));
            CHECK(p != NULL, "mallocx(%zu, ALIGN(%zu)) failed", size, align);
            FREED_BY(p, sdallocx(p, size, MALLOCX_ALIGN(align)));
        }
    }
}

static void test_mix_dallocx_of_standard_blocks(void **state)
{
    for (size_t k = 0; k < EXT_COUNT(mix_sizes); k++) {
        size_t size = mix_sizes[k];
        void *p = malloc(hide(size));
        CHECK(p != NULL, "malloc(%zu) failed", size);
        FREED_BY(p, dallocx(p, 0));
        p = calloc(hide(size), 1);
        CHECK(p != NULL, "calloc(%zu) failed", size);
        FREED_BY(p, dallocx(p, MALLOCX_TCACHE_NONE));
        p = memalign(4096, hide(size));
        CHECK(p != NULL, "memalign(%zu) failed", size);
        FREED_BY(p, dallocx(p, 0));
    }
}

/* After a resize, the size last asked for is the block's size for sdallocx: any value from it
 * up to the usable size frees the block (whether xallocx/rallocx resized it or not). */
static void test_mix_sdallocx_after_resize(void **state)
{
    static const size_t cases[][2] = {
        {20000, 10000}, {100000, 20000}, {MiB, 300000}, {300000, 600000}, {100, 50},
        {100, 3000},    {5000, 90000},   {3 * MiB, 2 * MiB}, {20000, 16000},
        {40000, 14000}, {16384, 8000},   {3 * MiB, 100000},
    };
    const int flagsets[] = {0, ext_arena_flags(ext_new_arena())};
    for (size_t f = 0; f < EXT_COUNT(flagsets); f++)
        for (size_t k = 0; k < EXT_COUNT(cases); k++) {
            size_t from = cases[k][0], to = cases[k][1];
            for (int how = 0; how < 4; how++) {
                void *p = mallocx(from, flagsets[f]);
                CHECK(p != NULL, "mallocx(%zu) failed", from);
                size_t asked = from;
                if (how < 2) {
                    size_t r = xallocx(p, to, 0, 0);
                    if (r != sallocx(p, 0) || (r != nallocx(from, 0) && r < to))
                        CHECK(0, "xallocx(%zu -> %zu) == %zu, sallocx %zu", from, to, r,
                              sallocx(p, 0));
                    if (r != nallocx(from, 0))
                        asked = to; /* it resized */
                } else {
                    p = rallocx(p, to, flagsets[f]);
                    CHECK(p != NULL, "rallocx(%zu -> %zu) failed", from, to);
                    asked = to;
                }
                size_t u = sallocx(p, 0);
                CHECK(u >= asked, "usable %zu below the size %zu", u, asked);
                memset(p, 0x44, u);
                size_t give = how % 2 ? u : asked;
                FREED_BY(p, sdallocx(p, give, flagsets[f]));
            }
        }
    /* The allocator is intact: a burst of blocks of the sizes involved still works. */
    for (size_t k = 0; k < EXT_COUNT(cases); k++) {
        unsigned char *p = mallocx(cases[k][1], 0), *q = mallocx(cases[k][1], 0);
        CHECK(p != NULL && q != NULL && p != q, "mallocx(%zu) twice: %p %p", cases[k][1],
              (void *)p, (void *)q);
        pattern_fill(p, cases[k][1], 1);
        pattern_fill(q, cases[k][1], 2);
        CHECK(pattern_check(p, cases[k][1], 1) == cases[k][1], "blocks overlap");
        dallocx(p, 0);
        dallocx(q, 0);
    }
}

/* rallocx resizes malloc's blocks, realloc resizes mallocx's, keeping the contents. */
static void test_mix_resize_across_apis(void **state)
{
    for (size_t k = 0; k + 1 < EXT_COUNT(mix_sizes); k++) {
        size_t a = mix_sizes[k], b = mix_sizes[k + 1];
        unsigned char *p = malloc(hide(a));
        CHECK(p != NULL, "malloc(%zu) failed", a);
        pattern_fill(p, a, 41);
        p = rallocx(p, b, 0);
        CHECK(p != NULL, "rallocx(malloc'ed %zu, %zu) failed", a, b);
        CHECK(pattern_check(p, a, 41) == a, "rallocx of a malloc'ed block lost data");
        p = realloc(p, hide(a));
        CHECK(p != NULL, "realloc(%zu) failed", a);
        CHECK(pattern_check(p, a, 41) == a, "realloc of a rallocx'ed block lost data");
        free(p);

        p = mallocx(a, 0);
        CHECK(p != NULL, "mallocx(%zu) failed", a);
        pattern_fill(p, a, 42);
        p = realloc(p, hide(b));
        CHECK(p != NULL, "realloc(mallocx'ed %zu, %zu) failed", a, b);
        CHECK(pattern_check(p, a, 42) == a, "realloc of a mallocx'ed block lost data");
        CHECK(sallocx(p, 0) == malloc_usable_size(p), "sallocx %zu, malloc_usable_size %zu",
              sallocx(p, 0), malloc_usable_size(p));
        dallocx(p, 0);
    }
}

/* Blocks handed between threads: allocated with mallocx in one, freed with dallocx/sdallocx in
 * another. */
enum { XT_N = 512 };
static void *xt_blocks[XT_N];
static size_t xt_sizes[XT_N];

static void *xt_free_all(void *arg)
{
    (void)arg;
    for (int i = 0; i < XT_N; i++) {
        if (i % 2)
            dallocx(xt_blocks[i], 0);
        else
            sdallocx(xt_blocks[i], xt_sizes[i], 0);
    }
    return NULL;
}

static void test_mix_free_in_another_thread(void **state)
{
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < XT_N; i++) {
            size_t size = mix_sizes[i % EXT_COUNT(mix_sizes)];
            if (size > MiB && i >= 12)
                size = 3000; /* a few big blocks are enough */
            xt_sizes[i] = size;
            xt_blocks[i] = mallocx(size, 0);
            CHECK(xt_blocks[i] != NULL, "mallocx(%zu) failed", size);
            memset(xt_blocks[i], 0x33, size);
        }
        pthread_t t;
        CHECK(pthread_create(&t, NULL, xt_free_all, NULL) == 0, "pthread_create failed");
        CHECK(pthread_join(t, NULL) == 0, "pthread_join failed");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_on_recycled_memory),
        cmocka_unit_test(test_zero_after_standard_free),
        cmocka_unit_test(test_rallocx_zero_zeroes_what_it_adds),
        cmocka_unit_test(test_rallocx_zero_in_place_over_freed_neighbour),
        cmocka_unit_test(test_zero_after_shrink_then_grow),
        cmocka_unit_test(test_zero_on_reused_bigger_blocks),
        cmocka_unit_test(test_rallocx_preserves_contents),
        cmocka_unit_test(test_rallocx_impossible_leaves_block),
        cmocka_unit_test(test_resize_within_class_never_moves),
        cmocka_unit_test(test_xallocx_result_is_the_usable_size),
        cmocka_unit_test(test_xallocx_impossible_returns_old_size),
        cmocka_unit_test(test_xallocx_grows_into_freed_neighbour),
        cmocka_unit_test(test_xallocx_extra_is_best_effort),
        cmocka_unit_test(test_xallocx_shrinks_large_in_place),
        cmocka_unit_test(test_huge_shrink_in_place_returns_pages),
        cmocka_unit_test(test_mix_mallocx_then_free),
        cmocka_unit_test(test_mix_malloc_then_sdallocx),
        cmocka_unit_test(test_mix_aligned_then_sdallocx),
        cmocka_unit_test(test_mix_dallocx_of_standard_blocks),
        cmocka_unit_test(test_mix_sdallocx_after_resize),
        cmocka_unit_test(test_mix_resize_across_apis),
        cmocka_unit_test(test_mix_free_in_another_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
