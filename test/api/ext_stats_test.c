/* ext_stats_test.c: statistics through mallctl and malloc_stats_print.
 *  - After an "epoch" refresh, the totals (stats.allocated, active, resident, mapped, retained,
 *    metadata) are consistent with each other and follow a 64 MiB block in and out.
 *  - With the default retain:false, an arena chunk that empties is unmapped when purged:
 *    stats.mapped drops by the chunk and stats.retained stays 0; the purged pages are not
 *    counted lazy (purge:dontneed).
 *  - A private arena's counters are exact: small and large nmalloc/ndalloc/allocated, each
 *    bin's nmalloc/ndalloc/curregs, huge blocks counted as large, nthreads following bindings
 *    and thread exit.
 *  - malloc_stats_print writes readable text naming the allocator (through the callback, or to
 *    stderr without one) and, with 'J' in opts, one valid JSON document whose "hmalloc" object
 *    carries "version" and "stats" with numeric totals that reflect live memory.  The JSON
 *    parser used for that is itself checked on valid and invalid documents. */
#include <fcntl.h>
#include <pthread.h>
#include <strings.h>

#include "ext_test.h"
#include "ext_json.h"

struct totals {
    size_t allocated, active, resident, mapped, retained, metadata;
};

static struct totals read_totals(void)
{
    struct totals t;
    ext_refresh();
    t.allocated = ctl_size("stats.allocated");
    t.active = ctl_size("stats.active");
    t.resident = ctl_size("stats.resident");
    t.mapped = ctl_size("stats.mapped");
    t.retained = ctl_size("stats.retained");
    t.metadata = ctl_size("stats.metadata");
    return t;
}

static void check_consistent(const struct totals *t, const char *when)
{
    CHECK(t->allocated > 0, "%s: stats.allocated is 0", when);
    CHECK(t->allocated <= t->active, "%s: allocated %zu > active %zu", when, t->allocated,
          t->active);
    CHECK(t->active % page_size() == 0, "%s: active %zu is not a number of pages", when,
          t->active);
    CHECK(t->active <= t->resident, "%s: active %zu > resident %zu", when, t->active, t->resident);
    CHECK(t->active <= t->mapped, "%s: active %zu > mapped %zu", when, t->active, t->mapped);
    CHECK(t->metadata > 0, "%s: stats.metadata is 0", when);
}

static void test_totals_follow_a_big_block(void **state)
{
    const size_t big = 64 * MiB;
    struct totals t0 = read_totals();
    check_consistent(&t0, "at start");
    void *p = mallocx(big, 0);
    CHECK(p != NULL, "mallocx(64 MiB) failed");
    memset(p, 1, 4 * MiB);
    struct totals t1 = read_totals();
    check_consistent(&t1, "holding 64 MiB");
    CHECK(t1.allocated >= t0.allocated + big, "stats.allocated %zu -> %zu after mallocx(64 MiB)",
          t0.allocated, t1.allocated);
    CHECK(t1.active >= t0.active + big, "stats.active %zu -> %zu after mallocx(64 MiB)",
          t0.active, t1.active);
    CHECK(t1.mapped >= big, "stats.mapped %zu holding 64 MiB", t1.mapped);
    dallocx(p, 0);
    struct totals t2 = read_totals();
    check_consistent(&t2, "after freeing");
    CHECK(t2.allocated + big - MiB <= t1.allocated,
          "stats.allocated %zu -> %zu after freeing 64 MiB", t1.allocated, t2.allocated);
    CHECK(t2.active + big - MiB <= t1.active, "stats.active %zu -> %zu after freeing 64 MiB",
          t1.active, t2.active);
}

static void test_empty_chunk_unmapped_without_retain(void **state)
{
    if (getenv(EXT_CONF_ENV)) /* the defaults are what is checked */
        skip();
    const size_t chunk = 4 * MiB;
    unsigned a = ext_new_arena();
    int flags = ext_arena_flags(a);
    void *pin = mallocx(64 * KiB, flags);
    void *p = mallocx(MiB, flags);
    CHECK(pin != NULL && p != NULL, "mallocx failed");
    memset(p, 1, MiB);
    dallocx(p, flags);
    CHECK(mallctl("arena.0.purge", NULL, NULL, NULL, 0) == 0 &&
              ctl_fmt(NULL, NULL, NULL, 0, "arena.%u.purge", a) == 0,
          "arena.<i>.purge failed");
    ext_refresh();
    CHECK(ctl_size("stats.arenas.%u.pmuzzy", a) == 0, "pmuzzy %zu with purge:dontneed",
          ctl_size("stats.arenas.%u.pmuzzy", a));
    CHECK(ctl_size("stats.arenas.%u.pdirty", a) == 0, "pdirty %zu after arena.%u.purge",
          ctl_size("stats.arenas.%u.pdirty", a), a);
    size_t mapped0 = ctl_size("stats.mapped");
    dallocx(pin, flags); /* the chunk is empty now */
    CHECK(ctl_fmt(NULL, NULL, NULL, 0, "arena.%u.purge", a) == 0, "arena.%u.purge failed", a);
    ext_refresh();
    CHECK(ctl_size("stats.retained") == 0, "stats.retained %zu with retain:false",
          ctl_size("stats.retained"));
    CHECK(ctl_size("stats.mapped") + chunk <= mapped0, "stats.mapped %zu -> %zu: the empty "
          "chunk was not unmapped", mapped0, ctl_size("stats.mapped"));
}

static size_t dirty_all_arenas(void)
{
    size_t sum = 0;
    unsigned n = ctl_unsigned("arenas.narenas");
    for (unsigned i = 0; i < n; i++) {
        size_t d = 0, len = sizeof d;
        if (ctl_fmt(&d, &len, NULL, 0, "stats.arenas.%u.pdirty", i) == 0)
            sum += d;
    }
    return sum;
}

/* Fill 24 MiB of 1 MiB blocks in arena flags's arena, touch them and free them: they become
 * dirty pages of the arena. */
static void dirty_24_mib(int flags)
{
    void *blocks[24];
    for (int i = 0; i < 24; i++) {
        blocks[i] = mallocx(MiB, flags);
        CHECK(blocks[i] != NULL, "mallocx failed");
        memset(blocks[i], 1, MiB);
    }
    for (int i = 0; i < 24; i++)
        dallocx(blocks[i], flags);
}

/* A new arena with one small block pinning its first chunk and 24 MiB of dirty pages. */
static unsigned arena_with_dirty_pages(int *flags, void **pin)
{
    unsigned a = ext_new_arena();
    *flags = ext_arena_flags(a);
    *pin = mallocx(64 * KiB, *flags);
    CHECK(*pin != NULL, "mallocx failed");
    dirty_24_mib(*flags);
    return a;
}

/* A program that frees many small and large blocks and then takes huge ones: a new huge
 * mapping that takes the footprint to a new peak while the arenas' dirty pages are more than
 * 1/8 of everything in use purges the excess (arena pages cannot serve a huge block), rather
 * than keeping both resident until the dirty pages decay. */
static void test_huge_map_purges_excess_dirty(void **state)
{
    if (getenv(EXT_CONF_ENV)) /* the default decay is what is checked */
        skip();
    int flags;
    void *pin;
    unsigned a = arena_with_dirty_pages(&flags, &pin);
    ext_refresh();
    size_t d0 = ctl_size("stats.arenas.%u.pdirty", a) * page_size();
    CHECK(d0 >= 20 * MiB, "arena %u has %zu dirty bytes after freeing 24 MiB", a, d0);
    /* Bigger than any mapping an earlier test may have left in the huge cache. */
    void *h = mallocx(100 * MiB, 0);
    CHECK(h != NULL, "mallocx(100 MiB) failed");
    ext_refresh();
    size_t dirty = dirty_all_arenas() * page_size(), active = ctl_size("stats.active");
    CHECK(dirty <= active / 8 + 64 * KiB,
          "after a new 100 MiB mapping the arenas keep %zu dirty bytes, %zu active", dirty,
          active);
    dallocx(h, 0);
    dallocx(pin, flags);
}

/* But a new huge mapping that does not take the footprint above its peak (here: after a
 * 100 MiB block came and went) leaves the dirty pages for the program to reuse: purging them
 * would only cost page faults when it does. */
static void test_huge_map_below_peak_keeps_dirty(void **state)
{
    if (getenv(EXT_CONF_ENV))
        skip();
    int flags;
    void *pin;
    unsigned a = arena_with_dirty_pages(&flags, &pin);
    void *h = mallocx(100 * MiB, 0); /* the peak */
    CHECK(h != NULL, "mallocx(100 MiB) failed");
    dallocx(h, 0);
    /* Arena 0's purge empties the huge cache too, so the next block is a new mapping. */
    CHECK(mallctl("arena.0.purge", NULL, NULL, NULL, 0) == 0, "arena.0.purge");
    dirty_24_mib(flags);
    ext_refresh();
    size_t d0 = ctl_size("stats.arenas.%u.pdirty", a) * page_size();
    CHECK(d0 >= 20 * MiB, "arena %u has %zu dirty bytes after freeing 24 MiB", a, d0);
    h = mallocx(8 * MiB, 0);
    CHECK(h != NULL, "mallocx(8 MiB) failed");
    ext_refresh();
    size_t d1 = ctl_size("stats.arenas.%u.pdirty", a) * page_size();
    CHECK(d1 >= d0, "a mapping below the peak purged arena %u's dirty pages: %zu -> %zu bytes", a,
          d0, d1);
    dallocx(h, 0);
    dallocx(pin, flags);
}

/* The values are those of the last refresh. */
static void test_totals_change_only_on_refresh(void **state)
{
    ext_refresh();
    size_t a0 = ctl_size("stats.allocated");
    void *p = mallocx(16 * MiB, 0);
    CHECK(p != NULL, "mallocx failed");
    size_t a1 = ctl_size("stats.allocated");
    ext_refresh();
    size_t a2 = ctl_size("stats.allocated");
    CHECK(a1 == a0, "stats.allocated moved from %zu to %zu without a refresh", a0, a1);
    CHECK(a2 >= a0 + 16 * MiB, "stats.allocated %zu -> %zu after the refresh", a0, a2);
    dallocx(p, 0);
}

/* Index of the bin holding blocks of usable size u. */
static unsigned bin_of(size_t u)
{
    unsigned nbins = ctl_unsigned("arenas.nbins");
    for (unsigned j = 0; j < nbins; j++)
        if (ctl_size("arenas.bin.%u.size", j) == u)
            return j;
    CHECK(0, "no bin of size %zu", u);
    return 0;
}

static void test_private_arena_counters_are_exact(void **state)
{
    unsigned a = ext_new_arena();
    int flags = ext_arena_flags(a);
    size_t su = nallocx(100, 0), lu = nallocx(100000, 0);
    unsigned j = bin_of(su);
    void *small[10], *large[3];

    ext_refresh();
    CHECK(ctl_u64("stats.arenas.%u.small.nmalloc", a) == 0, "a new arena has small.nmalloc %" PRIu64,
          ctl_u64("stats.arenas.%u.small.nmalloc", a));
    CHECK(ctl_size("stats.arenas.%u.small.allocated", a) == 0, "new arena small.allocated %zu",
          ctl_size("stats.arenas.%u.small.allocated", a));
    CHECK(ctl_u64("stats.arenas.%u.large.nmalloc", a) == 0, "new arena large.nmalloc");

    for (int i = 0; i < 10; i++) {
        small[i] = mallocx(100, flags);
        CHECK(small[i] != NULL, "mallocx failed");
    }
    for (int i = 0; i < 3; i++) {
        large[i] = mallocx(100000, flags);
        CHECK(large[i] != NULL, "mallocx failed");
    }
    ext_refresh();
    CHECK(ctl_u64("stats.arenas.%u.small.nmalloc", a) == 10, "small.nmalloc %" PRIu64 ", want 10",
          ctl_u64("stats.arenas.%u.small.nmalloc", a));
    CHECK(ctl_u64("stats.arenas.%u.small.ndalloc", a) == 0, "small.ndalloc %" PRIu64 ", want 0",
          ctl_u64("stats.arenas.%u.small.ndalloc", a));
    CHECK(ctl_size("stats.arenas.%u.small.allocated", a) == 10 * su,
          "small.allocated %zu, want 10 * %zu", ctl_size("stats.arenas.%u.small.allocated", a), su);
    CHECK(ctl_u64("stats.arenas.%u.bins.%u.nmalloc", a, j) == 10, "bin %u nmalloc %" PRIu64, j,
          ctl_u64("stats.arenas.%u.bins.%u.nmalloc", a, j));
    CHECK(ctl_size("stats.arenas.%u.bins.%u.curregs", a, j) == 10, "bin %u curregs %zu", j,
          ctl_size("stats.arenas.%u.bins.%u.curregs", a, j));
    CHECK(ctl_u64("stats.arenas.%u.large.nmalloc", a) == 3, "large.nmalloc %" PRIu64 ", want 3",
          ctl_u64("stats.arenas.%u.large.nmalloc", a));
    CHECK(ctl_size("stats.arenas.%u.large.allocated", a) == 3 * lu,
          "large.allocated %zu, want 3 * %zu", ctl_size("stats.arenas.%u.large.allocated", a), lu);

    for (int i = 0; i < 4; i++)
        dallocx(small[i], flags);
    for (int i = 0; i < 3; i++)
        sdallocx(large[i], 100000, flags);
    ext_refresh();
    CHECK(ctl_u64("stats.arenas.%u.small.ndalloc", a) == 4, "small.ndalloc %" PRIu64 ", want 4",
          ctl_u64("stats.arenas.%u.small.ndalloc", a));
    CHECK(ctl_size("stats.arenas.%u.small.allocated", a) == 6 * su,
          "small.allocated %zu, want 6 * %zu", ctl_size("stats.arenas.%u.small.allocated", a), su);
    CHECK(ctl_u64("stats.arenas.%u.bins.%u.ndalloc", a, j) == 4, "bin %u ndalloc %" PRIu64, j,
          ctl_u64("stats.arenas.%u.bins.%u.ndalloc", a, j));
    CHECK(ctl_size("stats.arenas.%u.bins.%u.curregs", a, j) == 6, "bin %u curregs %zu", j,
          ctl_size("stats.arenas.%u.bins.%u.curregs", a, j));
    CHECK(ctl_u64("stats.arenas.%u.large.ndalloc", a) == 3, "large.ndalloc %" PRIu64 ", want 3",
          ctl_u64("stats.arenas.%u.large.ndalloc", a));
    CHECK(ctl_size("stats.arenas.%u.large.allocated", a) == 0, "large.allocated %zu, want 0",
          ctl_size("stats.arenas.%u.large.allocated", a));
    for (int i = 4; i < 10; i++)
        dallocx(small[i], flags);
    ext_refresh();
    CHECK(ctl_size("stats.arenas.%u.bins.%u.curregs", a, j) == 0, "bin %u curregs %zu", j,
          ctl_size("stats.arenas.%u.bins.%u.curregs", a, j));
    CHECK(ctl_size("stats.arenas.%u.small.allocated", a) == 0, "small.allocated %zu, want 0",
          ctl_size("stats.arenas.%u.small.allocated", a));
}

/* Blocks above the largest run (huge) are large allocations of the arena they were asked of. */
static void test_huge_blocks_count_as_large(void **state)
{
    unsigned a = ext_new_arena();
    int flags = ext_arena_flags(a);
    size_t u = nallocx(8 * MiB, 0);
    ext_refresh();
    uint64_t n0 = ctl_u64("stats.arenas.%u.large.nmalloc", a);
    void *p = mallocx(8 * MiB, flags);
    CHECK(p != NULL, "mallocx(8 MiB) failed");
    ext_refresh();
    CHECK(ctl_u64("stats.arenas.%u.large.nmalloc", a) == n0 + 1,
          "arena %u large.nmalloc %" PRIu64 " -> %" PRIu64 " after mallocx(8 MiB)", a, n0,
          ctl_u64("stats.arenas.%u.large.nmalloc", a));
    CHECK(ctl_size("stats.arenas.%u.large.allocated", a) == u,
          "arena %u large.allocated %zu holding an 8 MiB block (usable %zu)", a,
          ctl_size("stats.arenas.%u.large.allocated", a), u);
    dallocx(p, flags);
    ext_refresh();
    CHECK(ctl_u64("stats.arenas.%u.large.ndalloc", a) == 1, "arena %u large.ndalloc %" PRIu64, a,
          ctl_u64("stats.arenas.%u.large.ndalloc", a));
    CHECK(ctl_size("stats.arenas.%u.large.allocated", a) == 0, "arena %u large.allocated %zu", a,
          ctl_size("stats.arenas.%u.large.allocated", a));
}

static unsigned nthreads_of(unsigned a)
{
    ext_refresh();
    return ctl_unsigned("stats.arenas.%u.nthreads", a);
}

static unsigned bind_target;
static pthread_mutex_t bind_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bind_cv = PTHREAD_COND_INITIALIZER;
static int bind_stage;

static void *bound_thread(void *arg)
{
    (void)arg;
    int r = mallctl("thread.arena", NULL, NULL, &bind_target, sizeof bind_target);
    free(malloc(100));
    pthread_mutex_lock(&bind_mu);
    bind_stage = r == 0 ? 1 : -1;
    pthread_cond_broadcast(&bind_cv);
    while (bind_stage != 2)
        pthread_cond_wait(&bind_cv, &bind_mu);
    pthread_mutex_unlock(&bind_mu);
    return NULL;
}

/* A thread that cached blocks of one size and then works with another size gives the first
 * size's cached blocks back to the arena (the cache's collection on its slow paths), while a
 * thread that never touches the first size again would otherwise hold them until it exits. */
static void test_idle_class_cache_is_collected(void **state)
{
    (void)state;
    if (!ctl_bool("opt.tcache"))
        skip(); /* no thread caches to collect (tcache:false, junk, zero, valgrind) */
    unsigned arena = ctl_unsigned("thread.arena"), nbins = ctl_unsigned("arenas.nbins"), bin;
    for (bin = 0; bin < nbins && ctl_size("arenas.bin.%u.size", bin) != 1024; bin++)
        ;
    CHECK(bin < nbins, "no 1024-byte class");
    ext_refresh();
    size_t c0 = ctl_size("stats.arenas.%u.bins.%u.curregs", arena, bin);
    enum { N = 150 };
    void *b[N];
    for (int i = 0; i < N; i++)
        CHECK((b[i] = malloc(hide(1000))) != NULL, "malloc(1000)");
    for (int i = 0; i < N; i++)
        free(b[i]);
    ext_refresh();
    size_t c1 = ctl_size("stats.arenas.%u.bins.%u.curregs", arena, bin);
    CHECK(c1 > c0, "the thread cache kept none of the 1024-byte blocks (%zu, %zu)", c0, c1);
    void *s[1000];
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 1000; i++)
            CHECK((s[i] = malloc(hide(64))) != NULL, "malloc(64)");
        for (int i = 0; i < 1000; i++)
            free(s[i]);
    }
    ext_refresh();
    size_t c2 = ctl_size("stats.arenas.%u.bins.%u.curregs", arena, bin);
    CHECK(c2 <= c0, "1024-byte blocks in use went %zu -> %zu (cached) -> %zu after 200 rounds "
                    "of another size: the idle class's cache was not collected", c0, c1, c2);
}

static void test_nthreads_follows_bindings(void **state)
{
    unsigned a = ext_new_arena();
    CHECK(nthreads_of(a) == 0, "a new arena has %u threads", nthreads_of(a));
    unsigned old = ctl_unsigned("thread.arena");
    ext_tcache_flush();
    CHECK(mallctl("thread.arena", NULL, NULL, &a, sizeof a) == 0, "binding to %u", a);
    CHECK(nthreads_of(a) == 1, "arena %u has %u threads with this one bound", a, nthreads_of(a));

    bind_target = a;
    bind_stage = 0;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, bound_thread, NULL) == 0, "pthread_create failed");
    pthread_mutex_lock(&bind_mu);
    while (bind_stage == 0)
        pthread_cond_wait(&bind_cv, &bind_mu);
    int stage = bind_stage;
    pthread_mutex_unlock(&bind_mu);
    unsigned with_two = nthreads_of(a);
    pthread_mutex_lock(&bind_mu);
    bind_stage = 2;
    pthread_cond_broadcast(&bind_cv);
    pthread_mutex_unlock(&bind_mu);
    CHECK(pthread_join(t, NULL) == 0, "pthread_join failed");
    CHECK(stage == 1, "the other thread could not bind to arena %u", a);
    CHECK(with_two == 2, "arena %u has %u threads with two bound", a, with_two);
    CHECK(nthreads_of(a) == 1, "arena %u has %u threads after the other one exited", a,
          nthreads_of(a));

    ext_tcache_flush();
    CHECK(mallctl("thread.arena", NULL, NULL, &old, sizeof old) == 0, "restoring thread.arena");
    CHECK(nthreads_of(a) == 0, "arena %u has %u threads after unbinding", a, nthreads_of(a));
}

/* ---- malloc_stats_print ---- */

struct sink {
    char *buf;
    size_t len, cap;
    unsigned calls;
};

static void sink_write(void *opaque, const char *s)
{
    struct sink *k = opaque;
    size_t l = strlen(s);
    k->calls++;
    if (k->len + l + 1 > k->cap) {
        size_t cap = (k->len + l + 1) * 2;
        char *b = realloc(k->buf, cap);
        if (b == NULL)
            return;
        k->buf = b;
        k->cap = cap;
    }
    memcpy(k->buf + k->len, s, l + 1);
    k->len += l;
}

static struct sink print_stats(const char *opts)
{
    struct sink k = {0};
    malloc_stats_print(sink_write, &k, opts);
    CHECK(k.buf != NULL && k.len > 0, "malloc_stats_print(opts \"%s\") wrote nothing",
          opts ? opts : "(null)");
    CHECK(strlen(k.buf) == k.len, "malloc_stats_print wrote a NUL byte");
    return k;
}

static bool contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return false;
}

static void test_stats_print_text(void **state)
{
    struct sink k = print_stats(NULL);
    CHECK(strstr(k.buf, EXT_NAME) != NULL, "the statistics do not name %s:\n%.400s", EXT_NAME,
          k.buf);
    CHECK(strstr(k.buf, ctl_str("version")) != NULL, "the statistics do not give version %s",
          ctl_str("version"));
    CHECK(contains_nocase(k.buf, "allocated"), "the statistics say nothing of allocated bytes");
    size_t lines = 0;
    for (const char *c = k.buf; *c; c++)
        lines += *c == '\n';
    CHECK(lines >= 3, "the statistics have %zu lines", lines);
    CHECK(k.buf[k.len - 1] == '\n', "the statistics do not end with a newline");
    free(k.buf);

    k = print_stats("");
    CHECK(strstr(k.buf, EXT_NAME) != NULL, "with opts \"\" the statistics do not name %s",
          EXT_NAME);
    free(k.buf);
}

/* Without a callback the text goes to standard error. */
static void test_stats_print_to_stderr(void **state)
{
    char path[] = "/tmp/ext_stats_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp failed");
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    CHECK(saved >= 0 && dup2(fd, 2) == 2, "redirecting stderr failed");
    malloc_stats_print(NULL, NULL, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    off_t len = lseek(fd, 0, SEEK_END);
    char buf[4096] = {0};
    ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    CHECK(len > 0 && got > 0, "malloc_stats_print(NULL, ...) wrote nothing to stderr");
    CHECK(strstr(buf, EXT_NAME) != NULL, "stderr output does not name %s", EXT_NAME);
}

static json_t *parse_stats_json(const char *opts, struct sink *out)
{
    struct sink k = print_stats(opts);
    char err[200];
    json_t *root = json_parse(k.buf, k.len, err, sizeof err);
    if (root == NULL) {
        size_t off = 0;
        sscanf(strstr(err, "offset ") ? strstr(err, "offset ") + 7 : "0", "%zu", &off);
        size_t from = off > 200 ? off - 200 : 0;
        print_error("JSON around the error: ...%.*s<<HERE>>%.100s\n", (int)(off - from),
                    k.buf + from, k.buf + off);
    }
    CHECK(root != NULL, "malloc_stats_print(opts \"%s\") is not valid JSON: %s", opts, err);
    CHECK(root->type == JSON_OBJECT, "the JSON document is not an object");
    if (out)
        *out = k;
    else
        free(k.buf);
    return root;
}

static void test_stats_print_json(void **state)
{
    const size_t big = 48 * MiB;
    void *p = mallocx(big, 0);
    CHECK(p != NULL, "mallocx failed");
    json_t *root = parse_stats_json("J", NULL);
    json_t *top = json_get(root, EXT_NAME);
    CHECK(top != NULL && top->type == JSON_OBJECT, "no \"%s\" object at the top", EXT_NAME);

    json_t *version = json_get(top, "version");
    CHECK(version != NULL && version->type == JSON_STRING, "no \"version\" string");
    CHECK(strcmp(version->text, ctl_str("version")) == 0, "JSON version \"%s\", mallctl \"%s\"",
          version->text, ctl_str("version"));
    static const char *sections[] = {"config", "opt", "arenas", "stats"};
    for (size_t i = 0; i < EXT_COUNT(sections); i++) {
        json_t *s = json_get(top, sections[i]);
        CHECK(s != NULL && s->type == JSON_OBJECT, "no \"%s\" object in \"%s\"", sections[i],
              EXT_NAME);
    }

    json_t *stats = json_get(top, "stats");
    static const char *totals[] = {"allocated", "active", "metadata", "resident", "mapped",
                                   "retained"};
    unsigned long long v[6];
    for (size_t i = 0; i < EXT_COUNT(totals); i++)
        CHECK(json_uint(json_get(stats, totals[i]), &v[i]),
              "\"stats\" has no integer \"%s\"", totals[i]);
    CHECK(v[0] >= big, "JSON stats.allocated %llu while a %zu-byte block is live", v[0], big);
    CHECK(v[0] <= v[1], "JSON allocated %llu > active %llu", v[0], v[1]);
    CHECK(v[1] <= v[4], "JSON active %llu > mapped %llu", v[1], v[4]);

    json_t *opt = json_get(top, "opt");
    unsigned long long narenas;
    CHECK(json_uint(json_get(opt, "narenas"), &narenas), "\"opt\" has no integer \"narenas\"");
    CHECK(narenas == ctl_unsigned("opt.narenas"), "JSON opt.narenas %llu, mallctl %u", narenas,
          ctl_unsigned("opt.narenas"));
    json_t *tcache = json_get(opt, "tcache");
    CHECK(tcache != NULL && tcache->type == JSON_BOOL && tcache->b == ctl_bool("opt.tcache"),
          "\"opt\" has no boolean \"tcache\" equal to mallctl's");
    json_free(root);
    dallocx(p, 0);

    /* Without the block, the printed total drops. */
    root = parse_stats_json("J", NULL);
    unsigned long long after;
    CHECK(json_uint(json_get(json_get(json_get(root, EXT_NAME), "stats"), "allocated"), &after),
          "no stats.allocated the second time");
    CHECK(after + big - 4 * MiB <= v[0], "JSON allocated %llu with the block, %llu without", v[0],
          after);
    json_free(root);
}

/* Other opts letters (sections left out) still give a valid document. */
static void test_stats_print_json_with_other_opts(void **state)
{
    static const char *opts[] = {"J", "Jg", "Jm", "Jd", "Ja", "Jb", "Jl", "Jx", "Jgmdablx", "gJ"};
    for (size_t i = 0; i < EXT_COUNT(opts); i++) {
        json_t *root = parse_stats_json(opts[i], NULL);
        CHECK(json_get(root, EXT_NAME) != NULL, "opts \"%s\": no \"%s\" object", opts[i],
              EXT_NAME);
        json_free(root);
    }
}

/* Statistics printed while other threads allocate are still one valid document. */
static volatile int churn_stop;

static void *churn(void *arg)
{
    (void)arg;
    void *ring[64] = {0};
    unsigned i = 0;
    while (!churn_stop) {
        free(ring[i % 64]);
        ring[i % 64] = malloc(16 + (i * 7919u) % 70000);
        if (++i % 256 == 0)
            usleep(50);
    }
    for (int k = 0; k < 64; k++)
        free(ring[k]);
    return NULL;
}

static void test_stats_print_json_under_load(void **state)
{
    pthread_t t;
    churn_stop = 0;
    CHECK(pthread_create(&t, NULL, churn, NULL) == 0, "pthread_create failed");
    for (int round = 0; round < 4; round++) {
        json_t *root = parse_stats_json("J", NULL);
        json_free(root);
    }
    churn_stop = 1;
    pthread_join(t, NULL);
}

/* The parser accepts JSON and nothing else (so that the checks above mean something). */
static void test_json_parser_itself(void **state)
{
    static const char *good[] = {
        "{}", "[]", "0", "-0", "1.5e10", "-12.25E-3", "true", "false", "null", "\"\"",
        " { \"a\" : [1, 2, {\"b\": null}], \"c\": \"x\\\"y\\\\z\\/\\b\\f\\n\\r\\t\\u00e9\" } ",
        "{\"s\": \"\\ud83d\\ude00\"}", "[[[[[]]]]]", "{\"a\":{\"b\":{\"c\":1}}}",
    };
    static const char *bad[] = {
        "",        "{",          "}",          "{\"a\":1,}",   "[1,]",     "[1 2]",
        "{\"a\" 1}", "{a:1}",    "01",         "1.",           ".5",       "1e",
        "+1",      "tru",        "nul",        "\"abc",        "\"\\x\"",  "\"\\u12\"",
        "\"a\tb\"", "{} x",      "[] []",      "{\"a\":1}}",   "'a'",      "\"\\ud800\"",
        "NaN",     "-",          "{\"a\":}",   "[,1]",         "{,}",      "\"\\udc00\"",
    };
    for (size_t i = 0; i < EXT_COUNT(good); i++) {
        char err[200];
        json_t *v = json_parse(good[i], strlen(good[i]), err, sizeof err);
        CHECK(v != NULL, "valid JSON rejected: %s (%s)", good[i], err);
        json_free(v);
    }
    for (size_t i = 0; i < EXT_COUNT(bad); i++) {
        json_t *v = json_parse(bad[i], strlen(bad[i]), NULL, 0);
        CHECK(v == NULL, "invalid JSON accepted: %s", bad[i]);
    }
    static const char doc[] = "{\"k\": {\"n\": 42, \"s\": \"\\u00e9\"}}";
    json_t *v = json_parse(doc, strlen(doc), NULL, 0);
    CHECK(v != NULL, "parse failed");
    unsigned long long n = 0;
    CHECK(json_uint(json_get(json_get(v, "k"), "n"), &n) && n == 42, "lookup gave %llu", n);
    CHECK(strcmp(json_get(json_get(v, "k"), "s")->text, "\xc3\xa9") == 0, "\\u00e9 decoded wrong");
    json_free(v);
}

/* A program that uses hmalloc holds blocks of it.  In a namespaced build nothing else in this
 * process allocates from hmalloc (cmocka and the C library use the system malloc), so without
 * this block the totals would start at zero, before hmalloc is even initialised. */
static void *held_block;

static int hold_a_block(void **state)
{
    held_block = malloc(hide(1000));
    return held_block == NULL ? -1 : 0;
}

static int release_the_block(void **state)
{
    free(held_block);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_totals_follow_a_big_block),
        cmocka_unit_test(test_empty_chunk_unmapped_without_retain),
        cmocka_unit_test(test_totals_change_only_on_refresh),
        cmocka_unit_test(test_private_arena_counters_are_exact),
        cmocka_unit_test(test_huge_blocks_count_as_large),
        cmocka_unit_test(test_nthreads_follows_bindings),
        cmocka_unit_test(test_json_parser_itself),
        cmocka_unit_test(test_stats_print_text),
        cmocka_unit_test(test_stats_print_to_stderr),
        cmocka_unit_test(test_stats_print_json),
        cmocka_unit_test(test_stats_print_json_with_other_opts),
        cmocka_unit_test(test_stats_print_json_under_load),
        cmocka_unit_test(test_idle_class_cache_is_collected),
        cmocka_unit_test(test_huge_map_purges_excess_dirty),
        cmocka_unit_test(test_huge_map_below_peak_keeps_dirty),
    };
    return cmocka_run_group_tests(tests, hold_a_block, release_the_block);
}
