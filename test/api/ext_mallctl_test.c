/* ext_mallctl_test.c: mallctl, mallctlnametomib and mallctlbymib.
 *  - Every documented name reads with its type ("version", "epoch", "arenas.*", "opt.*",
 *    "config.*", "thread.*", "arena.<i>.*"), and the values mean what they say: bin and large
 *    extent sizes increase and are exactly the sizes nallocx hands out, the last large size is
 *    the largest request nallocx accepts, a created arena serves MALLOCX_ARENA, writing
 *    "thread.arena" moves this thread's allocations, the tcache switch and flush work, and the
 *    per-thread byte counters move by what the thread allocates and frees (and only it).
 *  - Errors: unknown names and out-of-range indices give ENOENT, a length that is not the
 *    type's gives EINVAL, writing a read-only name or reading/writing a void one gives EPERM.
 *  - MIBs are positional: a MIB's index component can be replaced to walk bins, extents and
 *    arenas, with the same results as the names. */
#include <malloc.h>
#include <pthread.h>

#include "ext_test.h"

/* ---- reading each name with its type ---- */

static void test_version_and_epoch(void **state)
{
    const char *v = ctl_str("version");
    CHECK(v != NULL && v[0] != '\0', "\"version\" is empty");
    CHECK(strcmp(v, HMALLOC_VERSION) == 0, "\"version\" is \"%s\", the header says \"%s\"", v,
          HMALLOC_VERSION);

    uint64_t e0 = ctl_u64("epoch");
    uint64_t one = 1, e1 = 0;
    size_t sz = sizeof e1;
    int r = mallctl("epoch", &e1, &sz, &one, sizeof one);
    CHECK(r == 0, "writing \"epoch\" returned %d", r);
    CHECK(e1 > e0, "epoch %" PRIu64 " after refreshing, %" PRIu64 " before", e1, e0);
    uint64_t e2 = ctl_u64("epoch");
    CHECK(e2 >= e1, "epoch went back from %" PRIu64 " to %" PRIu64, e1, e2);
    ext_refresh();
    CHECK(ctl_u64("epoch") > e2, "writing \"epoch\" did not advance it");
}

static void test_opt_and_config_types(void **state)
{
    unsigned narenas = ctl_unsigned("opt.narenas");
    CHECK(narenas >= 1, "opt.narenas == %u", narenas);
    CHECK(ctl_unsigned("arenas.narenas") >= narenas, "arenas.narenas %u < opt.narenas %u",
          ctl_unsigned("arenas.narenas"), narenas);
    bool tcache = ctl_bool("opt.tcache");
    CHECK(ctl_bool("thread.tcache.enabled") == tcache, "thread.tcache.enabled != opt.tcache");
    (void)ctl_size("opt.tcache_max");
    ssize_t decay = ctl_ssize("opt.dirty_decay_ms");
    CHECK(decay >= -1, "opt.dirty_decay_ms == %zd", decay);
    const char *junk = ctl_str("opt.junk");
    CHECK(junk != NULL && (!strcmp(junk, "false") || !strcmp(junk, "true") ||
                           !strcmp(junk, "alloc") || !strcmp(junk, "free")),
          "opt.junk is \"%s\"", junk ? junk : "(null)");
    (void)ctl_bool("opt.zero");
    (void)ctl_bool("opt.abort_conf");
    (void)ctl_bool("opt.stats_print");
    (void)ctl_bool("opt.background_thread");
    const char *percpu = ctl_str("opt.percpu_arena");
    CHECK(percpu != NULL && percpu[0] != '\0', "opt.percpu_arena is empty");
    (void)ctl_bool("opt.check_sized");
    const char *purge = ctl_str("opt.purge");
    CHECK(purge != NULL && (!strcmp(purge, "dontneed") || !strcmp(purge, "free")),
          "opt.purge is \"%s\"", purge ? purge : "(null)");
    (void)ctl_bool("opt.retain");
    if (!getenv(EXT_CONF_ENV)) {
        CHECK(!strcmp(purge, "dontneed"), "opt.purge defaults to \"%s\"", purge);
        CHECK(!ctl_bool("opt.retain"), "opt.retain defaults to true");
    }
    (void)ctl_bool("config.debug");
    CHECK(ctl_bool("config.stats"), "config.stats is false, yet statistics are kept");
}

static void test_arena_dss_is_disabled(void **state)
{
    const char *dss = ctl_str("arena.0.dss");
    CHECK(dss != NULL && strcmp(dss, "disabled") == 0, "arena.0.dss is \"%s\"",
          dss ? dss : "(null)");
    unsigned a = ext_new_arena();
    dss = ctl_str("arena.%u.dss", a);
    CHECK(dss != NULL && strcmp(dss, "disabled") == 0, "arena.%u.dss is \"%s\"", a,
          dss ? dss : "(null)");
}

/* ---- size classes ---- */

static void test_bins_are_the_small_classes(void **state)
{
    unsigned nbins = ctl_unsigned("arenas.nbins");
    CHECK(nbins >= 4 && nbins < 1000, "arenas.nbins == %u", nbins);
    size_t prev = 0;
    for (unsigned i = 0; i < nbins; i++) {
        size_t s = ctl_size("arenas.bin.%u.size", i);
        CHECK(s > prev, "arenas.bin.%u.size == %zu after %zu", i, s, prev);
        CHECK(nallocx(s, 0) == s, "arenas.bin.%u.size == %zu but nallocx(%zu) == %zu", i, s, s,
              nallocx(s, 0));
        /* Every request between two bins gets the upper one. */
        for (size_t req = prev + 1; req <= s; req += (s - prev) / 5 + 1)
            CHECK(nallocx(req, 0) == s, "nallocx(%zu) == %zu, bins %zu and %zu", req,
                  nallocx(req, 0), prev, s);
        prev = s;
    }
    CHECK(nallocx(prev + 1, 0) > prev, "nallocx(largest bin %zu + 1) == %zu", prev,
          nallocx(prev + 1, 0));
    CHECK(ctl_fmt(&prev, &(size_t){sizeof prev}, NULL, 0, "arenas.bin.%u.size", nbins) == ENOENT,
          "arenas.bin.<nbins>.size exists");
}

static void test_lextents_are_the_large_classes(void **state)
{
    unsigned nbins = ctl_unsigned("arenas.nbins");
    size_t last_bin = ctl_size("arenas.bin.%u.size", nbins - 1);
    unsigned n = ctl_unsigned("arenas.nlextents");
    CHECK(n >= 10 && n < 10000, "arenas.nlextents == %u", n);
    size_t *sizes = malloc(n * sizeof *sizes);
    CHECK(sizes != NULL, "malloc failed");
    size_t prev = last_bin;
    for (unsigned i = 0; i < n; i++) {
        sizes[i] = ctl_size("arenas.lextent.%u.size", i);
        CHECK(sizes[i] > prev, "arenas.lextent.%u.size == %zu after %zu", i, sizes[i], prev);
        CHECK(nallocx(sizes[i], 0) == sizes[i], "arenas.lextent.%u.size == %zu, nallocx %zu", i,
              sizes[i], nallocx(sizes[i], 0));
        prev = sizes[i];
    }
    CHECK(nallocx(last_bin + 1, 0) == sizes[0], "nallocx(largest bin + 1) == %zu, lextent 0 %zu",
          nallocx(last_bin + 1, 0), sizes[0]);
    /* The last extent size is the largest request accepted at all. */
    size_t l = ext_max_accepted();
    CHECK(sizes[n - 1] == l, "last arenas.lextent size %#zx, largest size nallocx accepts %#zx",
          sizes[n - 1], l);
    CHECK(nallocx(sizes[n - 1] + 1, 0) == 0, "nallocx(last lextent + 1) != 0");
    /* Requests between classes get the next class up. */
    for (unsigned i = 1; i < n; i++) {
        size_t lo = sizes[i - 1], hi = sizes[i];
        size_t probes[] = {lo + 1, lo + (hi - lo) / 2, hi - 1};
        for (size_t k = 0; k < EXT_COUNT(probes); k++)
            CHECK(nallocx(probes[k], 0) == hi, "nallocx(%#zx) == %#zx, classes %#zx and %#zx",
                  probes[k], nallocx(probes[k], 0), lo, hi);
    }
    CHECK(ctl_fmt(&prev, &(size_t){sizeof prev}, NULL, 0, "arenas.lextent.%u.size", n) == ENOENT,
          "arenas.lextent.<nlextents>.size exists");
    free(sizes);
}

/* ---- arenas ---- */

static void test_arenas_create(void **state)
{
    unsigned before = ctl_unsigned("arenas.narenas");
    unsigned a = ext_new_arena();
    unsigned b = ext_new_arena();
    CHECK(a != b, "arenas.create returned %u twice", a);
    CHECK(a >= before && b >= before, "new arenas %u and %u, %u arenas before", a, b, before);
    unsigned after = ctl_unsigned("arenas.narenas");
    CHECK(after > a && after > b, "arenas.narenas == %u after creating %u and %u", after, a, b);

    /* The new arena serves MALLOCX_ARENA, small and large, and counts it. */
    ext_refresh();
    uint64_t s0 = ctl_u64("stats.arenas.%u.small.nmalloc", a);
    uint64_t l0 = ctl_u64("stats.arenas.%u.large.nmalloc", a);
    uint64_t other0 = ctl_u64("stats.arenas.%u.small.nmalloc", b);
    void *p = mallocx(100, ext_arena_flags(a));
    void *q = mallocx(100000, ext_arena_flags(a));
    CHECK(p != NULL && q != NULL, "mallocx from arena %u failed", a);
    ext_refresh();
    CHECK(ctl_u64("stats.arenas.%u.small.nmalloc", a) == s0 + 1,
          "arena %u small.nmalloc %" PRIu64 " -> %" PRIu64, a, s0,
          ctl_u64("stats.arenas.%u.small.nmalloc", a));
    CHECK(ctl_u64("stats.arenas.%u.large.nmalloc", a) == l0 + 1,
          "arena %u large.nmalloc %" PRIu64 " -> %" PRIu64, a, l0,
          ctl_u64("stats.arenas.%u.large.nmalloc", a));
    CHECK(ctl_u64("stats.arenas.%u.small.nmalloc", b) == other0,
          "allocating from arena %u counted in arena %u", a, b);
    dallocx(p, ext_arena_flags(a));
    dallocx(q, ext_arena_flags(a));
}

static void test_arena_purge_and_decay(void **state)
{
    unsigned a = ext_new_arena();
    int flags = ext_arena_flags(a);
    void *blocks[16];
    for (int i = 0; i < 16; i++) {
        blocks[i] = mallocx(256 * KiB, flags);
        CHECK(blocks[i] != NULL, "mallocx failed");
        memset(blocks[i], 0x11, 256 * KiB);
    }
    for (int i = 0; i < 16; i++)
        dallocx(blocks[i], flags);
    int r = ctl_fmt(NULL, NULL, NULL, 0, "arena.%u.purge", a);
    CHECK(r == 0, "arena.%u.purge returned %d", a, r);
    r = ctl_fmt(NULL, NULL, NULL, 0, "arena.%u.decay", a);
    CHECK(r == 0, "arena.%u.decay returned %d", a, r);
    r = ctl_fmt(NULL, NULL, NULL, 0, "arena.0.purge");
    CHECK(r == 0, "arena.0.purge returned %d", r);
    r = ctl_fmt(NULL, NULL, NULL, 0, "arena.0.decay");
    CHECK(r == 0, "arena.0.decay returned %d", r);
    r = ctl_fmt(NULL, NULL, NULL, 0, "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
    CHECK(r == 0, "arena.MALLCTL_ARENAS_ALL.purge returned %d", r);
    r = ctl_fmt(NULL, NULL, NULL, 0, "arena.%u.decay", (unsigned)MALLCTL_ARENAS_ALL);
    CHECK(r == 0, "arena.MALLCTL_ARENAS_ALL.decay returned %d", r);

    /* The purged memory comes back usable and zeroed from MALLOCX_ZERO. */
    for (int i = 0; i < 16; i++) {
        unsigned char *p = mallocx(256 * KiB, flags | MALLOCX_ZERO);
        CHECK(p != NULL, "mallocx after purge failed");
        size_t bad = ext_first_not(p, 0, 256 * KiB, 0);
        CHECK(bad == 256 * KiB, "byte %zu of a zeroed block after purge is %#x", bad, p[bad]);
        blocks[i] = p;
    }
    for (int i = 0; i < 16; i++)
        dallocx(blocks[i], flags);
}

/* Purging all arenas returns freed, touched memory to the system: the resident size drops. */
static void test_purge_all_returns_memory(void **state)
{
    enum { N = 48 };
    void *blocks[N];
    unsigned a = ext_new_arena();
    int flags = ext_arena_flags(a);
    for (int i = 0; i < N; i++) {
        blocks[i] = mallocx(MiB, flags);
        CHECK(blocks[i] != NULL, "mallocx failed");
        memset(blocks[i], 0x22, MiB);
    }
    /* Resident while in use; after freeing and purging, at least half of it is gone (whether
     * the free or the purge gave it back). */
    size_t in_use = rss_bytes();
    for (int i = 0; i < N; i++)
        dallocx(blocks[i], flags);
    int r = ctl_fmt(NULL, NULL, NULL, 0, "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
    CHECK(r == 0, "arena.MALLCTL_ARENAS_ALL.purge returned %d", r);
    size_t after = rss_bytes();
    if (in_use == 0)
        skip();
    CHECK(after + N / 2 * MiB <= in_use,
          "resident %zu KiB using %d MiB, %zu KiB after freeing and purging", in_use >> 10, N,
          after >> 10);
}

/* ---- thread.* ---- */

static void test_thread_arena(void **state)
{
    unsigned old = ctl_unsigned("thread.arena");
    CHECK(old < ctl_unsigned("arenas.narenas"), "thread.arena %u out of range", old);
    unsigned a = ext_new_arena();

    /* Swap: the old value comes back, the new one is in force. */
    unsigned prev = 12345;
    size_t sz = sizeof prev;
    ext_tcache_flush();
    int r = mallctl("thread.arena", &prev, &sz, &a, sizeof a);
    CHECK(r == 0, "writing thread.arena = %u returned %d", a, r);
    CHECK(prev == old, "thread.arena swap returned %u, was %u", prev, old);
    CHECK(ctl_unsigned("thread.arena") == a, "thread.arena reads %u after writing %u",
          ctl_unsigned("thread.arena"), a);

    /* This thread's ordinary allocations now come from arena a. */
    ext_refresh();
    uint64_t s0 = ctl_u64("stats.arenas.%u.small.nmalloc", a);
    uint64_t l0 = ctl_u64("stats.arenas.%u.large.nmalloc", a);
    void *blocks[300];
    for (int i = 0; i < 300; i++) {
        blocks[i] = malloc(hide(i < 290 ? 48 : 200000));
        CHECK(blocks[i] != NULL, "malloc failed");
    }
    ext_refresh();
    uint64_t s1 = ctl_u64("stats.arenas.%u.small.nmalloc", a);
    uint64_t l1 = ctl_u64("stats.arenas.%u.large.nmalloc", a);
    CHECK(s1 > s0, "arena %u small.nmalloc stayed %" PRIu64 " after 290 mallocs bound to it", a,
          s0);
    CHECK(l1 >= l0 + 10, "arena %u large.nmalloc %" PRIu64 " -> %" PRIu64 " after 10 large mallocs",
          a, l0, l1);
    for (int i = 0; i < 300; i++)
        free(blocks[i]);

    /* An index that is not an arena is refused and changes nothing. */
    unsigned bogus = ctl_unsigned("arenas.narenas") + 100;
    r = mallctl("thread.arena", NULL, NULL, &bogus, sizeof bogus);
    CHECK(r != 0, "thread.arena accepted arena %u", bogus);
    CHECK(ctl_unsigned("thread.arena") == a, "a refused write changed thread.arena");

    ext_tcache_flush();
    r = mallctl("thread.arena", NULL, NULL, &old, sizeof old);
    CHECK(r == 0, "restoring thread.arena returned %d", r);
    CHECK(ctl_unsigned("thread.arena") == old, "thread.arena not restored");
}

/* Free's fast path knows a block of the thread's own arena by the chunk map's arena key, for
 * any arena index: a thread bound to an arena past 255 gets back from its cache the block it
 * has just freed, and a block of the arena 256 below it (equal in the low 8 bits) that it
 * frees is not taken for one of its own (it waits to go back to its arena). */
static void test_thread_arena_key_past_255(void **state)
{
    (void)state;
    if (!ctl_bool("opt.tcache") || !ctl_bool("thread.tcache.enabled"))
        skip(); /* no cache to come back from (hardened:true turns caches off) */
    unsigned old = ctl_unsigned("thread.arena");
    unsigned hi;
    while ((hi = ext_new_arena()) < 300)
        ;
    unsigned lo = hi - 256;
    ext_tcache_flush();
    CHECK(mallctl("thread.arena", NULL, NULL, &hi, sizeof hi) == 0, "binding to arena %u", hi);
    void *p = malloc(hide(48));
    CHECK(p != NULL, "malloc(48)");
    free(p);
    void *q = malloc(hide(48));
    CHECK(q == p, "arena %u: the block freed at %p did not come back from the cache (%p)", hi,
          p, q);
    void *r = mallocx(48, (int)MALLOCX_ARENA(lo) | MALLOCX_TCACHE_NONE);
    CHECK(r != NULL, "mallocx(48) in arena %u", lo);
    free(r);
    void *s = malloc(hide(48));
    CHECK(s != r, "arena %u's block %p, freed by a thread of arena %u, came back from its cache",
          lo, r, hi);
    free(q);
    free(s);
    ext_tcache_flush();
    CHECK(mallctl("thread.arena", NULL, NULL, &old, sizeof old) == 0, "restoring thread.arena");
}

static void test_thread_tcache_enabled_and_flush(void **state)
{
    if (!ctl_bool("opt.tcache"))
        skip();
    CHECK(ctl_bool("thread.tcache.enabled"), "thread.tcache.enabled is false by default");

    /* Bind to a fresh arena so its counters see only us. */
    unsigned old = ctl_unsigned("thread.arena");
    unsigned a = ext_new_arena();
    ext_tcache_flush();
    CHECK(mallctl("thread.arena", NULL, NULL, &a, sizeof a) == 0, "binding to arena %u", a);

    void *blocks[100];
    for (int i = 0; i < 100; i++)
        blocks[i] = malloc(hide(64));
    for (int i = 0; i < 100; i++)
        free(blocks[i]);
    ext_refresh();
    uint64_t d0 = ctl_u64("stats.arenas.%u.small.ndalloc", a);
    ext_tcache_flush();
    ext_refresh();
    uint64_t d1 = ctl_u64("stats.arenas.%u.small.ndalloc", a);
    CHECK(d1 > d0, "thread.tcache.flush returned nothing to arena %u (ndalloc %" PRIu64 ")", a,
          d0);
    CHECK(ctl_size("stats.arenas.%u.small.allocated", a) == 0,
          "arena %u still has %zu small bytes after freeing all and flushing", a,
          ctl_size("stats.arenas.%u.small.allocated", a));

    /* Disabled: frees go straight back to the arena. */
    bool off = false, prev = false;
    size_t sz = sizeof prev;
    int r = mallctl("thread.tcache.enabled", &prev, &sz, &off, sizeof off);
    CHECK(r == 0, "writing thread.tcache.enabled returned %d", r);
    CHECK(prev == true, "thread.tcache.enabled swap returned %d", prev);
    CHECK(ctl_bool("thread.tcache.enabled") == false, "thread.tcache.enabled still true");
    ext_refresh();
    uint64_t m0 = ctl_u64("stats.arenas.%u.small.nmalloc", a);
    d0 = ctl_u64("stats.arenas.%u.small.ndalloc", a);
    for (int i = 0; i < 10; i++) {
        void *p = malloc(hide(64));
        CHECK(p != NULL, "malloc failed with the tcache off");
        free(p);
    }
    ext_refresh();
    CHECK(ctl_u64("stats.arenas.%u.small.nmalloc", a) == m0 + 10,
          "with the tcache off 10 mallocs counted %" PRIu64 " in the arena",
          ctl_u64("stats.arenas.%u.small.nmalloc", a) - m0);
    CHECK(ctl_u64("stats.arenas.%u.small.ndalloc", a) == d0 + 10,
          "with the tcache off 10 frees counted %" PRIu64 " in the arena",
          ctl_u64("stats.arenas.%u.small.ndalloc", a) - d0);

    bool on = true;
    r = mallctl("thread.tcache.enabled", NULL, NULL, &on, sizeof on);
    CHECK(r == 0, "re-enabling the tcache returned %d", r);
    CHECK(ctl_bool("thread.tcache.enabled") == true, "thread.tcache.enabled still false");
    for (int i = 0; i < 100; i++) {
        void *p = malloc(hide(64));
        CHECK(p != NULL, "malloc failed with the tcache back on");
        free(p);
    }
    ext_tcache_flush();
    CHECK(mallctl("thread.arena", NULL, NULL, &old, sizeof old) == 0, "restoring thread.arena");
}

static void test_thread_allocated_counters(void **state)
{
    uint64_t a0 = ctl_u64("thread.allocated"), d0 = ctl_u64("thread.deallocated");
    static const size_t sizes[] = {40, 5000, 300000, 5 * MiB};
    for (size_t k = 0; k < EXT_COUNT(sizes); k++) {
        uint64_t a1 = ctl_u64("thread.allocated");
        void *p = malloc(hide(sizes[k]));
        CHECK(p != NULL, "malloc(%zu) failed", sizes[k]);
        uint64_t a2 = ctl_u64("thread.allocated");
        CHECK(a2 - a1 >= sizes[k], "malloc(%zu) moved thread.allocated by %" PRIu64, sizes[k],
              a2 - a1);
        uint64_t d1 = ctl_u64("thread.deallocated");
        free(p);
        uint64_t d2 = ctl_u64("thread.deallocated");
        CHECK(d2 - d1 >= sizes[k], "free of %zu bytes moved thread.deallocated by %" PRIu64,
              sizes[k], d2 - d1);
        /* mallocx/dallocx count too. */
        p = mallocx(sizes[k], 0);
        CHECK(p != NULL, "mallocx(%zu) failed", sizes[k]);
        CHECK(ctl_u64("thread.allocated") - a2 >= sizes[k], "mallocx(%zu) not counted", sizes[k]);
        dallocx(p, 0);
        CHECK(ctl_u64("thread.deallocated") - d2 >= sizes[k], "dallocx of %zu not counted",
              sizes[k]);
    }
    CHECK(ctl_u64("thread.allocated") > a0, "thread.allocated did not move");
    CHECK(ctl_u64("thread.deallocated") > d0, "thread.deallocated did not move");
}

/* The pointers lead to live counters of this thread. */
static uint64_t *allocatedp(void)
{
    uint64_t *p = NULL;
    size_t sz = sizeof p;
    int r = mallctl("thread.allocatedp", &p, &sz, NULL, 0);
    CHECK(r == 0 && sz == sizeof p && p != NULL, "thread.allocatedp: %d", r);
    return p;
}

static uint64_t *deallocatedp(void)
{
    uint64_t *p = NULL;
    size_t sz = sizeof p;
    int r = mallctl("thread.deallocatedp", &p, &sz, NULL, 0);
    CHECK(r == 0 && sz == sizeof p && p != NULL, "thread.deallocatedp: %d", r);
    return p;
}

struct thread_counters {
    uint64_t *ap, *dp;
    uint64_t moved;
};

static void *other_thread(void *arg)
{
    struct thread_counters *tc = arg;
    tc->ap = allocatedp();
    tc->dp = deallocatedp();
    uint64_t before = *tc->ap;
    for (int i = 0; i < 64; i++)
        free(malloc(hide(64 * KiB)));
    tc->moved = *tc->ap - before;
    return NULL;
}

static void test_thread_allocatedp_is_live(void **state)
{
    volatile uint64_t *ap = allocatedp(), *dp = deallocatedp();
    CHECK(*ap == ctl_u64("thread.allocated"), "*allocatedp %" PRIu64 ", thread.allocated %" PRIu64,
          *ap, ctl_u64("thread.allocated"));
    CHECK(*dp == ctl_u64("thread.deallocated"), "*deallocatedp %" PRIu64 ", thread.deallocated "
          "%" PRIu64, *dp, ctl_u64("thread.deallocated"));
    uint64_t a0 = *ap, d0 = *dp;
    void *p = malloc(hide(123456));
    CHECK(p != NULL, "malloc failed");
    CHECK(*ap - a0 >= 123456, "*allocatedp moved by %" PRIu64 " for malloc(123456)", *ap - a0);
    free(p);
    CHECK(*dp - d0 >= 123456, "*deallocatedp moved by %" PRIu64 " for free", *dp - d0);

    /* Another thread has counters of its own; its allocations do not move ours. */
    struct thread_counters tc = {0};
    uint64_t mine = *ap;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, other_thread, &tc) == 0, "pthread_create failed");
    CHECK(pthread_join(t, NULL) == 0, "pthread_join failed");
    CHECK(tc.ap != (uint64_t *)ap, "two threads share thread.allocatedp %p", (void *)tc.ap);
    CHECK(tc.moved >= 64 * 64 * KiB, "other thread's counter moved by %" PRIu64, tc.moved);
    CHECK(*ap - mine < 64 * KiB, "another thread's 4 MiB moved our counter by %" PRIu64,
          *ap - mine);
}

/* ---- errors ---- */

static void test_unknown_names_enoent(void **state)
{
    static const char *names[] = {
        "",
        "nonexistent",
        "version.x",
        "arenas",
        "arenas.bin.9999.size",
        "arenas.bin.x.size",
        "arenas.bin.-1.size",
        "arenas.lextent.99999.size",
        "arenas.bin.0.nonexistent",
        "opt.nonexistent",
        "stats.nonexistent",
        "stats.arenas.99999.small.nmalloc",
        "arena.99999.purge",
        "thread.nonexistent",
        "config.nonexistent",
        "epoch.",
        ".epoch",
    };
    for (size_t i = 0; i < EXT_COUNT(names); i++) {
        char buf[64];
        size_t sz = sizeof buf;
        int r = mallctl(names[i], buf, &sz, NULL, 0);
        CHECK(r == ENOENT, "mallctl(\"%s\") returned %d, want ENOENT", names[i], r);
        if (strcmp(names[i], "arenas") == 0)
            continue; /* a prefix of names: a partial MIB may be had for it */
        size_t mib[8], len = EXT_COUNT(mib);
        r = mallctlnametomib(names[i], mib, &len);
        CHECK(r == ENOENT, "mallctlnametomib(\"%s\") returned %d, want ENOENT", names[i], r);
    }
}

static void test_wrong_lengths_einval(void **state)
{
    static const struct {
        const char *name;
        size_t right;
    } reads[] = {
        {"version", sizeof(const char *)},  {"epoch", sizeof(uint64_t)},
        {"arenas.narenas", sizeof(unsigned)}, {"arenas.nbins", sizeof(unsigned)},
        {"arenas.bin.0.size", sizeof(size_t)}, {"arenas.lextent.0.size", sizeof(size_t)},
        {"opt.tcache", sizeof(bool)},         {"opt.narenas", sizeof(unsigned)},
        {"opt.dirty_decay_ms", sizeof(ssize_t)}, {"stats.allocated", sizeof(size_t)},
        {"thread.allocated", sizeof(uint64_t)}, {"thread.arena", sizeof(unsigned)},
        {"stats.arenas.0.small.nmalloc", sizeof(uint64_t)},
        {"config.stats", sizeof(bool)},
    };
    for (size_t i = 0; i < EXT_COUNT(reads); i++) {
        unsigned char buf[32];
        size_t wrong[] = {reads[i].right / 2, reads[i].right * 2, reads[i].right + 1};
        for (size_t k = 0; k < EXT_COUNT(wrong); k++) {
            if (wrong[k] == 0)
                wrong[k] = 3;
            size_t sz = wrong[k];
            int r = mallctl(reads[i].name, buf, &sz, NULL, 0);
            CHECK(r == EINVAL, "mallctl(\"%s\") with oldlen %zu (type has %zu) returned %d",
                  reads[i].name, wrong[k], reads[i].right, r);
        }
    }
    /* Wrong newlen for writable names. */
    uint64_t e = 1;
    CHECK(mallctl("epoch", NULL, NULL, &e, sizeof(uint32_t)) == EINVAL, "epoch with newlen 4");
    unsigned ta = ctl_unsigned("thread.arena");
    size_t big = ta;
    CHECK(mallctl("thread.arena", NULL, NULL, &big, sizeof big) == EINVAL,
          "thread.arena with newlen %zu", sizeof big);
    int on = 1;
    CHECK(mallctl("thread.tcache.enabled", NULL, NULL, &on, sizeof on) == EINVAL,
          "thread.tcache.enabled with newlen %zu", sizeof on);
    CHECK(ctl_unsigned("thread.arena") == ta, "a refused write changed thread.arena");
}

static void test_read_only_eperm(void **state)
{
    static const struct {
        const char *name;
        size_t len;
    } names[] = {
        {"version", sizeof(const char *)},   {"arenas.narenas", sizeof(unsigned)},
        {"arenas.nbins", sizeof(unsigned)},  {"arenas.bin.0.size", sizeof(size_t)},
        {"arenas.nlextents", sizeof(unsigned)}, {"arenas.lextent.0.size", sizeof(size_t)},
        {"opt.narenas", sizeof(unsigned)},   {"opt.tcache", sizeof(bool)},
        {"opt.abort_conf", sizeof(bool)},    {"opt.junk", sizeof(const char *)},
        {"config.debug", sizeof(bool)},      {"stats.allocated", sizeof(size_t)},
        {"stats.active", sizeof(size_t)},    {"thread.allocated", sizeof(uint64_t)},
        {"thread.deallocated", sizeof(uint64_t)}, {"opt.dirty_decay_ms", sizeof(ssize_t)},
        {"stats.arenas.0.small.nmalloc", sizeof(uint64_t)},
    };
    for (size_t i = 0; i < EXT_COUNT(names); i++) {
        unsigned char buf[16] = {0};
        size_t sz = names[i].len;
        /* Write back the value it has. */
        int r = mallctl(names[i].name, buf, &sz, NULL, 0);
        CHECK(r == 0, "reading \"%s\" returned %d", names[i].name, r);
        r = mallctl(names[i].name, NULL, NULL, buf, names[i].len);
        CHECK(r == EPERM, "writing read-only \"%s\" returned %d, want EPERM", names[i].name, r);
    }
    /* Void names: neither read nor written. */
    static const char *voids[] = {"thread.tcache.flush", "arena.0.purge", "arena.0.decay"};
    for (size_t i = 0; i < EXT_COUNT(voids); i++) {
        unsigned u = 0;
        size_t sz = sizeof u;
        int r = mallctl(voids[i], &u, &sz, NULL, 0);
        CHECK(r == EPERM, "reading void \"%s\" returned %d, want EPERM", voids[i], r);
        r = mallctl(voids[i], NULL, NULL, &u, sizeof u);
        CHECK(r == EPERM, "writing void \"%s\" returned %d, want EPERM", voids[i], r);
    }
    /* Values are unchanged by the refused writes. */
    CHECK(strcmp(ctl_str("version"), HMALLOC_VERSION) == 0, "version changed");
}

/* ---- MIBs ---- */

static void test_mib_walks_bins(void **state)
{
    size_t mib[8], len = EXT_COUNT(mib);
    int r = mallctlnametomib("arenas.bin.0.size", mib, &len);
    CHECK(r == 0, "mallctlnametomib(\"arenas.bin.0.size\") returned %d", r);
    CHECK(len == 4, "mallctlnametomib(\"arenas.bin.0.size\") gave length %zu", len);
    CHECK(mib[2] == 0, "the index component is %zu", mib[2]);
    unsigned nbins = ctl_unsigned("arenas.nbins");
    for (unsigned i = 0; i < nbins; i++) {
        mib[2] = i;
        size_t v = 0, sz = sizeof v;
        r = mallctlbymib(mib, len, &v, &sz, NULL, 0);
        CHECK(r == 0, "mallctlbymib(arenas.bin.%u.size) returned %d", i, r);
        CHECK(v == ctl_size("arenas.bin.%u.size", i), "bin %u: by MIB %zu, by name %zu", i, v,
              ctl_size("arenas.bin.%u.size", i));
    }
    mib[2] = 9999;
    size_t v, sz = sizeof v;
    r = mallctlbymib(mib, len, &v, &sz, NULL, 0);
    CHECK(r == ENOENT, "mallctlbymib(arenas.bin.9999.size) returned %d", r);
    mib[2] = 0;
    sz = sizeof(unsigned);
    r = mallctlbymib(mib, len, &v, &sz, NULL, 0);
    CHECK(r == EINVAL, "mallctlbymib with a wrong length returned %d", r);
}

static void test_mib_walks_lextents_and_arenas(void **state)
{
    size_t mib[8], len = EXT_COUNT(mib);
    int r = mallctlnametomib("arenas.lextent.0.size", mib, &len);
    CHECK(r == 0 && len == 4, "mallctlnametomib(arenas.lextent.0.size): %d, length %zu", r, len);
    unsigned n = ctl_unsigned("arenas.nlextents");
    for (unsigned i = 0; i < n; i++) {
        mib[2] = i;
        size_t v = 0, sz = sizeof v;
        r = mallctlbymib(mib, len, &v, &sz, NULL, 0);
        CHECK(r == 0 && v == ctl_size("arenas.lextent.%u.size", i),
              "lextent %u: by MIB %zu (%d), by name %zu", i, v, r,
              ctl_size("arenas.lextent.%u.size", i));
    }

    unsigned a = ext_new_arena();
    void *p = mallocx(64, ext_arena_flags(a));
    CHECK(p != NULL, "mallocx failed");
    ext_refresh();
    len = EXT_COUNT(mib);
    r = mallctlnametomib("stats.arenas.0.small.nmalloc", mib, &len);
    CHECK(r == 0 && len == 5, "mallctlnametomib(stats.arenas.0.small.nmalloc): %d, length %zu", r,
          len);
    mib[2] = a;
    uint64_t v = 0;
    size_t sz = sizeof v;
    r = mallctlbymib(mib, len, &v, &sz, NULL, 0);
    CHECK(r == 0 && v == 1 && v == ctl_u64("stats.arenas.%u.small.nmalloc", a),
          "arena %u small.nmalloc by MIB %" PRIu64 " (%d), by name %" PRIu64, a, v, r,
          ctl_u64("stats.arenas.%u.small.nmalloc", a));

    /* Six components: stats.arenas.<a>.bins.<j>.curregs. */
    unsigned nbins = ctl_unsigned("arenas.nbins");
    unsigned bin = nbins;
    for (unsigned j = 0; j < nbins; j++)
        if (ctl_size("arenas.bin.%u.size", j) == sallocx(p, 0)) {
            bin = j;
            break;
        }
    CHECK(bin < nbins, "no bin has the size %zu of a 64-byte block", sallocx(p, 0));
    len = EXT_COUNT(mib);
    r = mallctlnametomib("stats.arenas.0.bins.0.curregs", mib, &len);
    CHECK(r == 0 && len == 6, "mallctlnametomib(stats.arenas.0.bins.0.curregs): %d, length %zu",
          r, len);
    mib[2] = a;
    for (unsigned j = 0; j < nbins; j++) {
        mib[4] = j;
        size_t cur = 99, csz = sizeof cur;
        r = mallctlbymib(mib, len, &cur, &csz, NULL, 0);
        CHECK(r == 0, "curregs of arena %u bin %u by MIB returned %d", a, j, r);
        CHECK(cur == (j == bin ? 1u : 0u), "arena %u bin %u curregs %zu", a, j, cur);
    }
    dallocx(p, ext_arena_flags(a));

    /* arena.<i>.purge by MIB, with every arena. */
    len = EXT_COUNT(mib);
    r = mallctlnametomib("arena.0.purge", mib, &len);
    CHECK(r == 0 && len == 3, "mallctlnametomib(arena.0.purge): %d, length %zu", r, len);
    mib[1] = a;
    CHECK(mallctlbymib(mib, len, NULL, NULL, NULL, 0) == 0, "purging arena %u by MIB", a);
    mib[1] = MALLCTL_ARENAS_ALL;
    CHECK(mallctlbymib(mib, len, NULL, NULL, NULL, 0) == 0, "purging all arenas by MIB");

    /* Single-component names. */
    len = EXT_COUNT(mib);
    r = mallctlnametomib("epoch", mib, &len);
    CHECK(r == 0 && len == 1, "mallctlnametomib(epoch): %d, length %zu", r, len);
    uint64_t e0 = ctl_u64("epoch"), one = 1;
    CHECK(mallctlbymib(mib, len, NULL, NULL, &one, sizeof one) == 0, "epoch by MIB");
    CHECK(ctl_u64("epoch") > e0, "writing epoch by MIB did not advance it");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_and_epoch),
        cmocka_unit_test(test_opt_and_config_types),
        cmocka_unit_test(test_arena_dss_is_disabled),
        cmocka_unit_test(test_bins_are_the_small_classes),
        cmocka_unit_test(test_lextents_are_the_large_classes),
        cmocka_unit_test(test_arenas_create),
        cmocka_unit_test(test_arena_purge_and_decay),
        cmocka_unit_test(test_purge_all_returns_memory),
        cmocka_unit_test(test_thread_arena),
        cmocka_unit_test(test_thread_arena_key_past_255),
        cmocka_unit_test(test_thread_tcache_enabled_and_flush),
        cmocka_unit_test(test_thread_allocated_counters),
        cmocka_unit_test(test_thread_allocatedp_is_live),
        cmocka_unit_test(test_unknown_names_enoent),
        cmocka_unit_test(test_wrong_lengths_einval),
        cmocka_unit_test(test_read_only_eperm),
        cmocka_unit_test(test_mib_walks_bins),
        cmocka_unit_test(test_mib_walks_lextents_and_arenas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
