/* ext_purge_test.c: the purge and retain options (issue 7).  Runs itself again with
 * HMALLOC_CONF=purge:free,retain:true and checks, in private arenas:
 *  - purge:free gives freed pages back lazily: after arena.<i>.purge they are counted in
 *    stats.arenas.<i>.pmuzzy (not pdirty), the kernel lists them as LazyFree in
 *    /proc/self/smaps, and since such pages may keep their old bytes, a zeroing allocation
 *    (MALLOCX_ZERO, calloc) that reuses them still returns zeros;
 *  - retain:true keeps an emptied chunk's address range: once purged it moves from
 *    stats.mapped to stats.retained, and the next chunk any arena needs is that same range,
 *    which reads as zero; stats.retained drops back when it is reused.
 * (The defaults, purge:dontneed and retain:false, are checked in ext_stats_test.) */
#include "ext_test.h"
#include "../smaps.h"

#define CONF "purge:free,retain:true"
#define CHUNK_SIZE ((size_t)4 << 20)

static void purge_arena(unsigned a)
{
    int r = ctl_fmt(NULL, NULL, NULL, 0, "arena.%u.purge", a);
    CHECK(r == 0, "arena.%u.purge returned %d", a, r);
}

static void check_zero(const unsigned char *p, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i += 512)
        CHECK(p[i] == 0, "%s: byte %zu is 0x%02x after a lazy purge", what, i, p[i]);
}

static void test_lazy_purge_then_zeroing_allocation(void **state)
{
    const size_t big = MiB;
    unsigned a = ext_new_arena();
    int flags = ext_arena_flags(a);
    /* A block that stays, so that the chunk does not become empty (it would be retained). */
    void *pin = mallocx(64 * KiB, flags);
    unsigned char *p = mallocx(big, flags);
    CHECK(pin != NULL && p != NULL, "mallocx failed");
    memset(p, 0xab, big);
    dallocx(p, flags);
    purge_arena(a);
    ext_refresh();
    size_t muzzy = ctl_size("stats.arenas.%u.pmuzzy", a);
    CHECK(muzzy >= big / page_size(), "pmuzzy %zu pages after purging a freed %zu-byte block",
          muzzy, big);
    CHECK(ctl_size("stats.arenas.%u.pdirty", a) == 0, "pdirty %zu after arena.%u.purge",
          ctl_size("stats.arenas.%u.pdirty", a), a);
    long kib = smaps_lazyfree_kib(p);
    if (kib >= 0) /* Linux 4.12+; pages are marked in per-CPU batches: a few may not show yet */
        CHECK((size_t)kib * KiB >= big / 2, "smaps says LazyFree %ld kB for the purged block",
              kib);

    unsigned char *q = mallocx(big, flags | MALLOCX_ZERO);
    CHECK(q == p, "the lazily purged run was not reused (%p, then %p)", (void *)p, (void *)q);
    check_zero(q, big, "mallocx(MALLOCX_ZERO)");
    memset(q, 0xcd, big);
    dallocx(q, flags);
    purge_arena(a);

    /* calloc takes the thread's arena: bind this thread to a for it. */
    unsigned old = ctl_unsigned("thread.arena");
    ext_tcache_flush();
    CHECK(mallctl("thread.arena", NULL, NULL, &a, sizeof a) == 0, "binding to arena %u", a);
    unsigned char *c = calloc(1, big);
    CHECK(c == p, "calloc did not reuse the lazily purged run (%p, then %p)", (void *)p,
          (void *)c);
    check_zero(c, big, "calloc");
    free(c);
    ext_tcache_flush();
    CHECK(mallctl("thread.arena", NULL, NULL, &old, sizeof old) == 0, "restoring thread.arena");
    dallocx(pin, flags);
}

static void test_retained_chunk_is_reused(void **state)
{
    unsigned a = ext_new_arena(), b = ext_new_arena();
    unsigned char *p = mallocx(MiB, ext_arena_flags(a));
    CHECK(p != NULL, "mallocx failed");
    memset(p, 0xab, MiB);
    uintptr_t chunk = (uintptr_t)p & ~(CHUNK_SIZE - 1);
    ext_refresh();
    size_t retained0 = ctl_size("stats.retained"), mapped0 = ctl_size("stats.mapped");
    dallocx(p, ext_arena_flags(a));
    purge_arena(a); /* the chunk is now empty: it is released, and retained */
    ext_refresh();
    size_t retained1 = ctl_size("stats.retained"), mapped1 = ctl_size("stats.mapped");
    CHECK(retained1 >= retained0 + CHUNK_SIZE, "stats.retained %zu -> %zu after an empty chunk "
          "was purged", retained0, retained1);
    CHECK(mapped1 + CHUNK_SIZE <= mapped0 + MiB, "stats.mapped %zu -> %zu: the retained "
          "chunk is still counted as mapped", mapped0, mapped1);
    CHECK(ctl_size("stats.resident") <= mapped1, "stats.resident %zu > stats.mapped %zu",
          ctl_size("stats.resident"), mapped1);

    /* Arena b has no chunk yet: its first one is the range just retained (newest first). */
    unsigned char *q = mallocx(MiB, ext_arena_flags(b) | MALLOCX_ZERO);
    CHECK(q != NULL, "mallocx failed");
    CHECK(((uintptr_t)q & ~(CHUNK_SIZE - 1)) == chunk,
          "a new chunk at %p, not the retained one at %p", (void *)q, (void *)chunk);
    check_zero(q, MiB, "a block in a reused retained chunk");
    ext_refresh();
    size_t retained2 = ctl_size("stats.retained");
    CHECK(retained2 + CHUNK_SIZE == retained1, "stats.retained %zu -> %zu when the retained "
          "chunk was reused", retained1, retained2);
    CHECK(ctl_size("stats.mapped") >= mapped1 + CHUNK_SIZE, "stats.mapped %zu -> %zu when the "
          "retained chunk was reused", mapped1, ctl_size("stats.mapped"));
    dallocx(q, ext_arena_flags(b));
}

int main(int argc, char **argv)
{
    (void)argc;
    if (!getenv("EXT_PURGE_TEST_CHILD")) {
        setenv(EXT_CONF_ENV, CONF, 1);
        setenv("EXT_PURGE_TEST_CHILD", "1", 1);
        execv("/proc/self/exe", argv);
        perror("execv");
        return 1;
    }
    if (strcmp(ctl_str("opt.purge"), "free") != 0 || !ctl_bool("opt.retain")) {
        printf("options %s not in force (opt.purge %s)\n", CONF, ctl_str("opt.purge"));
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lazy_purge_then_zeroing_allocation),
        cmocka_unit_test(test_retained_chunk_is_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
