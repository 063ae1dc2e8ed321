/* ext_flags_test.c: the MALLOCX_* flag macros of <hmalloc.h> encode exactly as jemalloc's do
 * (a program built against jemalloc's header, or one that stores flags, passes the same bits),
 * the fields do not overlap, and combined flags are honoured together by mallocx. */
#include <strings.h>

#include "ext_test.h"

static void test_lg_align_is_the_log(void **state)
{
    for (int la = 0; la < 64; la++)
        CHECK(MALLOCX_LG_ALIGN(la) == la, "MALLOCX_LG_ALIGN(%d) == %d", la, MALLOCX_LG_ALIGN(la));
}

static void test_align_is_ffs_minus_one(void **state)
{
    for (int k = 0; k < 63; k++) {
        size_t a = (size_t)1 << k;
        CHECK(MALLOCX_ALIGN(a) == ffsll((long long)a) - 1, "MALLOCX_ALIGN(%zu) == %d", a,
              MALLOCX_ALIGN(a));
        CHECK(MALLOCX_ALIGN(a) == MALLOCX_LG_ALIGN(k), "MALLOCX_ALIGN(2^%d) == %d", k,
              MALLOCX_ALIGN(a));
    }
    /* Also as an int argument, as programs usually write it. */
    CHECK(MALLOCX_ALIGN(4096) == 12, "MALLOCX_ALIGN(4096) == %d", MALLOCX_ALIGN(4096));
    CHECK(MALLOCX_ALIGN(16) == 4, "MALLOCX_ALIGN(16) == %d", MALLOCX_ALIGN(16));
}

static void test_zero_tcache_arena_bits(void **state)
{
    CHECK(MALLOCX_ZERO == 0x40, "MALLOCX_ZERO == %#x", MALLOCX_ZERO);
    CHECK(MALLOCX_TCACHE_NONE == MALLOCX_TCACHE(-1), "MALLOCX_TCACHE_NONE == %#x",
          MALLOCX_TCACHE_NONE);
    CHECK(MALLOCX_TCACHE_NONE == 0x100, "MALLOCX_TCACHE_NONE == %#x", MALLOCX_TCACHE_NONE);
    for (int tc = -1; tc < 4000; tc++)
        CHECK(MALLOCX_TCACHE(tc) == (tc + 2) << 8, "MALLOCX_TCACHE(%d) == %#x", tc,
              MALLOCX_TCACHE(tc));
    for (unsigned a = 0; a < 2047; a++)
        CHECK(MALLOCX_ARENA(a) == (int)((a + 1) << 20), "MALLOCX_ARENA(%u) == %#x", a,
              MALLOCX_ARENA(a));
    CHECK(MALLCTL_ARENAS_ALL == 4096, "MALLCTL_ARENAS_ALL == %d", MALLCTL_ARENAS_ALL);
}

/* The fields occupy disjoint bits: alignment 0..5, zero 6, tcache 8..19, arena 20..31. */
static void test_fields_do_not_overlap(void **state)
{
    int align_bits = 0, tcache_bits = 0, arena_bits = 0;
    for (int la = 0; la < 64; la++)
        align_bits |= MALLOCX_LG_ALIGN(la);
    for (int tc = -1; tc < 4094; tc++)
        tcache_bits |= MALLOCX_TCACHE(tc);
    for (unsigned a = 0; a < 2047; a++)
        arena_bits |= MALLOCX_ARENA(a);
    CHECK(align_bits == 0x3f, "alignment bits %#x", align_bits);
    CHECK((align_bits & MALLOCX_ZERO) == 0, "alignment and zero overlap");
    CHECK((tcache_bits & (align_bits | MALLOCX_ZERO)) == 0, "tcache bits %#x overlap", tcache_bits);
    CHECK((tcache_bits & ~0xfff00) == 0, "tcache bits %#x outside bits 8..19", tcache_bits);
    CHECK((arena_bits & (tcache_bits | align_bits | MALLOCX_ZERO)) == 0, "arena bits %#x overlap",
          arena_bits);
}

/* Every field of a combined flag word is honoured: alignment, zeroing, the arena (seen in its
 * statistics) and the bypassed thread cache (the block is counted in the arena at once). */
static void test_combined_flags_are_honoured(void **state)
{
    unsigned a = ext_new_arena();
    int flags = MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE | MALLOCX_ZERO | MALLOCX_LG_ALIGN(8);

    ext_refresh();
    uint64_t before = ctl_u64("stats.arenas.%u.small.nmalloc", a);
    unsigned char *p = mallocx(hide(200), flags);
    CHECK(p != NULL, "mallocx(200, %#x) failed", flags);
    CHECK(is_aligned(p, 256), "mallocx(200, LG_ALIGN(8)|...) gave %p", (void *)p);
    size_t u = sallocx(p, 0);
    CHECK(u >= 200, "usable size %zu", u);
    CHECK(ext_first_not(p, 0, u, 0) == u, "byte %zu of a MALLOCX_ZERO block is not 0",
          ext_first_not(p, 0, u, 0));
    ext_refresh();
    uint64_t after = ctl_u64("stats.arenas.%u.small.nmalloc", a);
    CHECK(after == before + 1, "arena %u small.nmalloc went from %" PRIu64 " to %" PRIu64, a,
          before, after);
    dallocx(p, flags);
    ext_refresh();
    uint64_t nd = ctl_u64("stats.arenas.%u.small.ndalloc", a);
    CHECK(nd >= 1, "arena %u small.ndalloc is %" PRIu64 " after dallocx", a, nd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lg_align_is_the_log),
        cmocka_unit_test(test_align_is_ffs_minus_one),
        cmocka_unit_test(test_zero_tcache_arena_bits),
        cmocka_unit_test(test_fields_do_not_overlap),
        cmocka_unit_test(test_combined_flags_are_honoured),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
