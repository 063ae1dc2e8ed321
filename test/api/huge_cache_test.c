/* huge_cache_test.c: what the cache of freed huge mappings promises a program.  A freed huge
 * block's address range is reused by later huge blocks, also smaller ones (the rest of the range
 * stays cached for the next request) and bigger ones (ranges freed next to each other join);
 * reused memory is handed out with the same guarantees as fresh memory (calloc zeroes it,
 * the statistics count usable sizes), and arena.<i>.purge gives every cached range back to the
 * system (stats.mapped drops by it). */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <hmalloc.h>

#include "api_test.h"

#define MiB ((size_t)1 << 20)

static size_t read_size(const char *name)
{
    size_t v = 0, len = sizeof(v);
    int r = mallctl(name, &v, &len, NULL, 0);
    CHECK(r == 0, "mallctl(%s) returned %d", name, r);
    return v;
}

static uint64_t read_u64(const char *name)
{
    uint64_t v = 0;
    size_t len = sizeof(v);
    int r = mallctl(name, &v, &len, NULL, 0);
    CHECK(r == 0, "mallctl(%s) returned %d", name, r);
    return v;
}

static void refresh(void)
{
    uint64_t e = 1;
    CHECK(mallctl("epoch", NULL, NULL, &e, sizeof(e)) == 0, "epoch");
}

static void purge_all(void)
{
    CHECK(mallctl("arena.0.purge", NULL, NULL, NULL, 0) == 0, "arena.0.purge");
}

/* Flags for mallocx in a new arena, without the thread cache; its index goes to *ind. */
static int new_arena(unsigned *ind)
{
    size_t len = sizeof(*ind);
    CHECK(mallctl("arenas.create", ind, &len, NULL, 0) == 0, "arenas.create");
    return (int)MALLOCX_ARENA(*ind) | MALLOCX_TCACHE_NONE;
}

/* A cached range serves a smaller block from its start, and the rest of it the next one. */
static void test_split_and_join(void **state)
{
    (void)state;
    purge_all();
    /* A live huge block keeps the cache's limit (twice the huge bytes in use) above 32 MiB. */
    void *pin = malloc(hide(24 * MiB));
    CHECK(pin != NULL, "malloc(24 MiB)");
    unsigned char *p = malloc(hide(32 * MiB));
    CHECK(p != NULL, "malloc(32 MiB)");
    memset(p, 0x5a, 9 * MiB); /* dirty where the next two blocks will be */
    free(p);

    refresh();
    size_t allocated0 = read_size("stats.allocated"), mapped0 = read_size("stats.mapped");
    uint64_t thread0 = read_u64("thread.allocated");
    unsigned char *q = calloc(1, hide(8 * MiB));
    unsigned char *r = malloc(hide(8 * MiB));
    CHECK(q == p, "calloc(8 MiB) = %p, not the start %p of the freed 32 MiB range", (void *)q,
          (void *)p);
    CHECK(r == p + 8 * MiB, "malloc(8 MiB) = %p, not the rest %p of the range", (void *)r,
          (void *)(p + 8 * MiB));
    for (size_t i = 0; i < 8 * MiB; i += 4096)
        CHECK(q[i] == 0 && q[i + 4095] == 0, "calloc'ed memory is not zero at %zu", i);
    size_t uq = malloc_usable_size(q), ur = malloc_usable_size(r);
    CHECK(uq >= 8 * MiB && ur >= 8 * MiB, "usable sizes %zu %zu", uq, ur);
    memset(r, 0x33, ur); /* all of the usable size is ours */
    refresh();
    CHECK(read_size("stats.mapped") <= mapped0, "stats.mapped grew from %zu to %zu: mapped afresh",
          mapped0, read_size("stats.mapped"));
    CHECK(read_size("stats.allocated") == allocated0 + uq + ur,
          "stats.allocated %zu, expected %zu", read_size("stats.allocated"),
          allocated0 + uq + ur);
    CHECK(read_u64("thread.allocated") == thread0 + uq + ur, "thread.allocated");

    /* Freed side by side, the two ranges join and hold a block bigger than either. */
    free(q);
    free(r);
    unsigned char *s = malloc(hide(30 * MiB));
    CHECK(s == p, "malloc(30 MiB) = %p, not the joined range at %p", (void *)s, (void *)p);
    s[30 * MiB - 1] = 1;
    refresh();
    CHECK(read_size("stats.mapped") <= mapped0, "stats.mapped grew from %zu to %zu: mapped afresh",
          mapped0, read_size("stats.mapped"));
    free(s);
    free(pin);
}

/* realloc growing a huge block that cannot grow where it is moves it into a cached range (whose
 * pages are resident) rather than to a fresh mapping whose new pages all fault in. */
static void test_realloc_moves_into_cached_range(void **state)
{
    (void)state;
    purge_all();
    void *pin = malloc(hide(24 * MiB));
    unsigned char *a = malloc(hide(3 * MiB));
    unsigned char *b = malloc(hide(16 * MiB));
    CHECK(pin != NULL && a != NULL && b != NULL, "malloc");
    memset(b, 0x11, 10 * MiB);
    free(b);
    for (size_t i = 0; i < 3 * MiB; i += 4096)
        a[i] = (unsigned char)(i >> 12);
    unsigned char *q = realloc(a, hide(10 * MiB));
    CHECK(q != NULL, "realloc(3 MiB -> 10 MiB)");
    CHECK(q == a || q == b, "realloc(3 MiB -> 10 MiB) = %p: neither grown in place (%p) nor moved "
          "into the cached range %p", (void *)q, (void *)a, (void *)b);
    for (size_t i = 0; i < 3 * MiB; i += 4096)
        CHECK(q[i] == (unsigned char)(i >> 12), "contents lost at %zu", i);
    memset(q, 0x22, 10 * MiB);
    free(q);
    free(pin);
}

/* A huge block no bigger than a chunk takes an arena chunk that is entirely free (its pages are
 * resident already) before any new mapping. */
static void test_huge_block_takes_a_free_chunk(void **state)
{
    (void)state;
    unsigned a = 0;
    int flags = new_arena(&a);
    purge_all(); /* no cached range to serve the block instead */
    unsigned char *big = mallocx(2 * MiB, flags); /* alone in a new chunk of arena a */
    CHECK(big != NULL, "mallocx(2 MiB)");
    memset(big, 0x44, 2 * MiB);
    uintptr_t chunk = (uintptr_t)big & ~(uintptr_t)(4 * MiB - 1);
    dallocx(big, flags); /* the chunk is entirely free, and dirty */
    unsigned char *h = mallocx(3 * MiB, flags | MALLOCX_ZERO);
    CHECK(h != NULL, "mallocx(3 MiB)");
    CHECK((uintptr_t)h == chunk, "mallocx(3 MiB) = %p, not the free chunk %p", (void *)h,
          (void *)chunk);
    for (size_t i = 0; i < 3 * MiB; i += 4096)
        CHECK(h[i] == 0 && h[i + 4095] == 0, "MALLOCX_ZERO memory is not zero at %zu", i);
    CHECK(malloc_usable_size(h) >= 3 * MiB, "usable size %zu", malloc_usable_size(h));
    memset(h, 0x55, 3 * MiB);
    dallocx(h, flags);
}

/* Pages of [p, p + len) the kernel has resident. */
static size_t resident_pages(const void *p, size_t len)
{
    static unsigned char vec[64 * MiB / 4096];
    CHECK(len <= sizeof(vec) * 4096, "resident_pages: %zu bytes", len);
    CHECK(mincore((void *)p, len, vec) == 0, "mincore");
    size_t n = 0;
    for (size_t i = 0; i < len / 4096; i++)
        n += vec[i] & 1;
    return n;
}

/* A huge block of several chunks that would raise the footprint above its peak is made of
 * chunks its arena left entirely free (which would otherwise be purged to make room), moved
 * into place with their pages: they are resident before the program touches the block, where
 * a fresh mapping has none. */
static void test_huge_block_moves_free_chunks(void **state)
{
    (void)state;
    unsigned a = 0;
    int flags = new_arena(&a);
    purge_all(); /* no cached range to serve the block instead */
    /* Two 2 MiB blocks cannot share a chunk (its header takes some pages): two chunks. */
    unsigned char *b1 = mallocx(2 * MiB, flags), *b2 = mallocx(2 * MiB, flags);
    CHECK(b1 != NULL && b2 != NULL, "mallocx(2 MiB)");
    memset(b1, 0x44, 2 * MiB);
    memset(b2, 0x44, 2 * MiB);
    dallocx(b1, flags); /* both chunks are entirely free, and dirty */
    dallocx(b2, flags);
    /* Far above anything this program has had mapped: the footprint's peak grows. */
    unsigned char *h = mallocx(256 * MiB, flags);
    CHECK(h != NULL, "mallocx(256 MiB)");
    size_t resident = resident_pages(h, 8 * MiB);
    CHECK(resident >= 2 * MiB / 4096, "%zu of the block's pages resident: no free chunk moved",
          resident);
    CHECK(malloc_usable_size(h) >= 256 * MiB, "usable size %zu", malloc_usable_size(h));
    memset(h, 0x55, 8 * MiB);
    h[256 * MiB - 1] = 0x55;
    dallocx(h, flags);
}

static void purge_every_arena(void)
{
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
    CHECK(mallctl(name, NULL, NULL, NULL, 0) == 0, "%s", name);
}

/* Memory a freed huge block held serves the program's later slabs and large blocks with its
 * pages still resident: a range the cache evicts gives its chunks to its arena, and a chunk one
 * arena left entirely free becomes another's before anything is mapped afresh. */
static void test_freed_huge_memory_serves_arena_blocks(void **state)
{
    (void)state;
    unsigned a = 0, b = 0;
    int flags = new_arena(&a);
    purge_every_arena(); /* no free chunk anywhere, no cached range */
    void *live[4]; /* 8 MiB in use in arena a, one block per chunk */
    for (int i = 0; i < 4; i++)
        CHECK((live[i] = mallocx(2 * MiB, flags)) != NULL, "mallocx(2 MiB)");
    /* Three 6 MiB blocks (their ranges cannot join: each starts on a 4 MiB boundary); once
     * none is live, the cache keeps 16 MiB, so freeing the third evicts the first. */
    unsigned char *h[3];
    for (int i = 0; i < 3; i++) {
        CHECK((h[i] = mallocx(6 * MiB, flags)) != NULL, "mallocx(6 MiB)");
        memset(h[i], 0x66, 6 * MiB);
    }
    for (int i = 0; i < 3; i++)
        dallocx(h[i], flags);
    refresh();
    char name[64];
    snprintf(name, sizeof(name), "stats.arenas.%u.pdirty", a);
    size_t pdirty = read_size(name);
    CHECK(pdirty >= MiB / 4096, "arena %u has %zu dirty pages: no chunk of the evicted range",
          a, pdirty);
    unsigned char *l = mallocx(2 * MiB, flags);
    CHECK(l != NULL, "mallocx(2 MiB)");
    size_t resident = resident_pages(l, 2 * MiB);
    CHECK(resident >= MiB / 4096, "%zu of 512 pages resident: the evicted range's chunk went",
          resident);
    memset(l, 0x77, 2 * MiB);
    dallocx(l, flags);
    for (int i = 0; i < 4; i++)
        dallocx(live[i], flags);

    /* A chunk another arena left entirely free serves before a fresh one. */
    purge_every_arena();
    unsigned char *g = mallocx(2 * MiB, flags); /* alone in a new chunk of arena a */
    CHECK(g != NULL, "mallocx(2 MiB)");
    memset(g, 0x66, 2 * MiB);
    dallocx(g, flags);
    int flags_b = new_arena(&b);
    l = mallocx(2 * MiB, flags_b);
    CHECK(l != NULL, "mallocx(2 MiB) in another new arena");
    resident = resident_pages(l, 2 * MiB);
    CHECK(resident >= MiB / 4096, "%zu of 512 pages resident: arena %u's free chunk not used",
          resident, a);
    dallocx(l, flags_b);
}

static size_t arena_pdirty(unsigned a)
{
    char name[64];
    snprintf(name, sizeof(name), "stats.arenas.%u.pdirty", a);
    refresh();
    return read_size(name);
}

/* Three 6 MiB blocks of arena flags, each written over touch bytes, then freed in order: once
 * none is live the cache keeps 16 MiB, so the third free evicts the first block's range. */
static void free_three_evict_first(int flags, size_t touch)
{
    unsigned char *h[3];
    for (int i = 0; i < 3; i++) {
        CHECK((h[i] = mallocx(6 * MiB, flags)) != NULL, "mallocx(6 MiB)");
        memset(h[i], 0x66, touch);
    }
    for (int i = 0; i < 3; i++)
        dallocx(h[i], flags);
}

/* An evicted range gives its arena only chunks whose pages are mostly resident: a block the
 * program wrote all over is worth keeping for reuse even when the arena has nothing in use
 * (a program that frees its big objects and goes on with small ones), while one it barely
 * touched goes back to the system, since reusing it would fault its pages in anyway. */
static void test_evicted_range_kept_only_if_resident(void **state)
{
    (void)state;
    unsigned a = 0;
    int flags = new_arena(&a);
    purge_every_arena(); /* no free chunk anywhere, no cached range */
    CHECK(arena_pdirty(a) == 0, "arena %u has dirty pages before the test", a);
    free_three_evict_first(flags, 6 * MiB);
    size_t pdirty = arena_pdirty(a);
    CHECK(pdirty >= 2 * MiB / 4096, "arena %u has %zu dirty pages: the written range's chunk "
          "was unmapped", a, pdirty);

    purge_every_arena();
    CHECK(arena_pdirty(a) == 0, "arena %u has dirty pages after the purge", a);
    free_three_evict_first(flags, 1);
    pdirty = arena_pdirty(a);
    CHECK(pdirty == 0, "arena %u has %zu dirty pages: a range whose pages were not resident "
          "became a dirty chunk", a, pdirty);
    purge_every_arena();
}

/* arena.<i>.purge unmaps every cached range: stats.mapped drops by what the cache held. */
static void test_purge_returns_cached_ranges(void **state)
{
    (void)state;
    void *pin = malloc(hide(24 * MiB));
    unsigned char *p = malloc(hide(32 * MiB));
    CHECK(pin != NULL && p != NULL, "malloc");
    p[0] = p[32 * MiB - 1] = 1;
    free(p);
    refresh();
    size_t mapped = read_size("stats.mapped");
    purge_all();
    refresh();
    size_t after = read_size("stats.mapped");
    CHECK(after + 32 * MiB <= mapped, "stats.mapped %zu -> %zu after arena.0.purge", mapped,
          after);
    /* And the allocator maps afresh as needed. */
    p = malloc(hide(32 * MiB));
    CHECK(p != NULL, "malloc(32 MiB) after the purge");
    p[32 * MiB - 1] = 2;
    free(p);
    free(pin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_and_join),
        cmocka_unit_test(test_realloc_moves_into_cached_range),
        cmocka_unit_test(test_huge_block_takes_a_free_chunk),
        cmocka_unit_test(test_huge_block_moves_free_chunks),
        cmocka_unit_test(test_freed_huge_memory_serves_arena_blocks),
        cmocka_unit_test(test_evicted_range_kept_only_if_resident),
        cmocka_unit_test(test_purge_returns_cached_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
