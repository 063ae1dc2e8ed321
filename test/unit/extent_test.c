/* extent_test: the page allocator of an arena.  Runs come back coalesced with their free
 * neighbours, aligned requests are aligned, fully free chunks beyond one spare are unmapped,
 * and purging gives dirty pages back (they read as zero afterwards with MADV_DONTNEED; with
 * MADV_FREE they are lazily free and never reported zeroed).  Purging drops the arena lock
 * around madvise, and runs allocated and freed meanwhile keep the invariants and their
 * contents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "conf.h"
#include "init.h"
#include "../smaps.h"

static arena_t *arena;

static void *run_alloc(size_t npages, size_t align_pages)
{
    bool zeroed;
    hm_mutex_lock(&arena->lock);
    void *p = extent_alloc(arena, npages, align_pages, PM_LARGE, NSMALL, &zeroed);
    bool valid = extent_validate(arena);
    hm_mutex_unlock(&arena->lock); /* before asserting: a failure must not leave it held */
    assert_true(valid);
    return p;
}

static void run_free(void *p)
{
    hm_mutex_lock(&arena->lock);
    extent_free(arena, p);
    bool valid = extent_validate(arena);
    hm_mutex_unlock(&arena->lock);
    assert_true(valid);
}

static size_t largest_free_run(void)
{
    for (size_t n = CHUNK_USABLE_PAGES; n > 0; n--)
        if (arena->pa.avail[n])
            return n;
    return 0;
}

static void test_coalesce_neighbours(void **state)
{
    (void)state;
    char *a = run_alloc(3, 1), *b = run_alloc(5, 1), *c = run_alloc(7, 1);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    /* A fresh chunk is cut from its start, so the three runs are adjacent. */
    assert_ptr_equal(b, a + 3 * PAGE);
    assert_ptr_equal(c, b + 5 * PAGE);
    run_free(a);
    run_free(c);
    run_free(b); /* joins both sides and the rest of the chunk */
    assert_int_equal(largest_free_run(), CHUNK_USABLE_PAGES);
    assert_int_equal(arena->pa.nactive, 0);
}

static void test_random_order(void **state)
{
    (void)state;
    enum { N = 300 };
    void *runs[N];
    unsigned seed = 12345;
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245 + 12345;
        runs[i] = run_alloc(1 + (seed >> 16) % 40, 1);
        assert_non_null(runs[i]);
        memset(runs[i], 0x5a, PAGE);
    }
    for (int i = N - 1; i > 0; i--) {
        seed = seed * 1103515245 + 12345;
        int j = (int)((seed >> 16) % (unsigned)(i + 1));
        void *t = runs[i];
        runs[i] = runs[j];
        runs[j] = t;
    }
    for (int i = 0; i < N; i++)
        run_free(runs[i]);
    assert_int_equal(arena->pa.nactive, 0);
    /* Everything was freed: the chunks stay until purged, which unmaps them. */
    hm_mutex_lock(&arena->lock);
    extent_purge(arena, 0);
    assert_int_equal(arena->pa.nchunks, 0);
    assert_int_equal(arena->pa.ndirty, 0);
    assert_true(extent_validate(arena));
    hm_mutex_unlock(&arena->lock);
}

static void test_alignment(void **state)
{
    (void)state;
    void *pad = run_alloc(1, 1);
    for (size_t al = 2; al <= 256; al <<= 1) {
        void *p = run_alloc(3, al);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % (al * PAGE), 0);
        run_free(p);
    }
    run_free(pad);
}

static void test_purge_zeroes(void **state)
{
    (void)state;
    char *p = run_alloc(16, 1);
    memset(p, 0xab, 16 * PAGE);
    run_free(p);
    hm_mutex_lock(&arena->lock);
    assert_true(arena->pa.ndirty >= 16);
    extent_purge(arena, 0);
    assert_int_equal(arena->pa.ndirty, 0);
    assert_true(extent_validate(arena));
    hm_mutex_unlock(&arena->lock);
    bool zeroed;
    hm_mutex_lock(&arena->lock);
    char *q = extent_alloc(arena, 16, 1, PM_LARGE, NSMALL, &zeroed);
    hm_mutex_unlock(&arena->lock);
    assert_true(zeroed);
    for (size_t i = 0; i < 16 * PAGE; i++)
        assert_int_equal(q[i], 0);
    run_free(q);
}

static void test_purge_lazy_is_not_zeroed(void **state)
{
    (void)state;
    unsigned saved = opt_purge;
    opt_purge = PURGE_FREE;
    char *pin = run_alloc(1, 1); /* keeps the chunk from emptying (it would be released) */
    char *p = run_alloc(256, 1);
    memset(p, 0xab, 256 * PAGE);
    run_free(p);
    hm_mutex_lock(&arena->lock);
    size_t lazy0 = arena->pa.nlazy;
    extent_purge(arena, 0);
    size_t dirty = arena->pa.ndirty, lazy = arena->pa.nlazy;
    bool valid = extent_validate(arena);
    hm_mutex_unlock(&arena->lock);
    assert_int_equal(dirty, 0);
    assert_true(lazy >= lazy0 + 256);
    assert_true(valid);
    /* The kernel knows the pages as lazily free (smaps has LazyFree since Linux 4.12; it
     * marks them in per-CPU batches, so a few may not show yet). */
    long kib = smaps_lazyfree_kib(p);
    if (kib >= 0)
        assert_true(kib >= (long)(128 * PAGE / 1024));
    bool zeroed = true;
    hm_mutex_lock(&arena->lock);
    char *q = extent_alloc(arena, 256, 1, PM_LARGE, NSMALL, &zeroed);
    hm_mutex_unlock(&arena->lock);
    assert_ptr_equal(q, p);
    assert_false(zeroed); /* MADV_FREE pages may keep their bytes: the caller must zero */
    run_free(q);
    run_free(pin);
    hm_mutex_lock(&arena->lock);
    opt_purge = PURGE_DONTNEED;
    extent_purge(arena, 0);
    hm_mutex_unlock(&arena->lock);
    opt_purge = saved;
}

/* A thread purging over and over while the main thread allocates, writes, checks and frees
 * runs: a run being purged must never be handed out (its pattern would read back as zero), and
 * the invariants hold whenever the lock is held, with runs in flight. */
static volatile bool purger_stop;
static unsigned long purger_seen_dropped; /* times the main thread held the lock mid-purge */

static void *purger(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&purger_stop, __ATOMIC_ACQUIRE)) {
        hm_mutex_lock(&arena->lock);
        extent_purge(arena, 0);
        hm_mutex_unlock(&arena->lock);
    }
    return NULL;
}

static void test_purge_without_lock_concurrent(void **state)
{
    (void)state;
    enum { NLIVE = 64 };
    char *live[NLIVE] = {0};
    size_t len[NLIVE] = {0};
    unsigned seed = 42;
    pthread_t t;
    purger_stop = false;
    assert_int_equal(pthread_create(&t, NULL, purger, NULL), 0);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned long iter = 0;; iter++) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= 2 && iter > 20000)
            break;
        seed = seed * 1103515245u + 12345u;
        unsigned i = (seed >> 8) % NLIVE;
        if (live[i]) {
            for (size_t k = 0; k < len[i] * PAGE; k += PAGE / 2)
                assert_int_equal((unsigned char)live[i][k], (unsigned char)(i + 1));
            run_free(live[i]);
            live[i] = NULL;
        } else {
            len[i] = 1 + (seed >> 16) % 24;
            live[i] = run_alloc(len[i], 1);
            assert_non_null(live[i]);
            memset(live[i], (int)(i + 1), len[i] * PAGE);
        }
        hm_mutex_lock(&arena->lock);
        if (arena->pa.purgers)
            purger_seen_dropped++;
        bool valid = extent_validate(arena);
        hm_mutex_unlock(&arena->lock);
        assert_true(valid);
    }
    __atomic_store_n(&purger_stop, true, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    for (unsigned i = 0; i < NLIVE; i++)
        if (live[i])
            run_free(live[i]);
    hm_mutex_lock(&arena->lock);
    size_t purgers = arena->pa.purgers, npurging = arena->pa.npurging;
    size_t nactive = arena->pa.nactive;
    bool valid = extent_validate(arena);
    hm_mutex_unlock(&arena->lock);
    assert_int_equal(purgers, 0);
    assert_int_equal(npurging, 0);
    assert_int_equal(nactive, 0);
    assert_true(valid);
    /* Before purging dropped the lock, the main thread could never hold it mid-purge. */
    printf("lock held by the main thread during a purge %lu times\n", purger_seen_dropped);
    assert_true(purger_seen_dropped > 0);
}

static void test_too_big(void **state)
{
    (void)state;
    assert_null(run_alloc(CHUNK_USABLE_PAGES + 1, 1));
    void *whole = run_alloc(CHUNK_USABLE_PAGES, 1);
    assert_non_null(whole);
    run_free(whole);
}

static void test_grow_shrink_in_place(void **state)
{
    (void)state;
    char *a = run_alloc(4, 1), *b = run_alloc(4, 1), *c = run_alloc(4, 1);
    bool zeroed;
    hm_mutex_lock(&arena->lock);
    /* b's neighbour c is allocated: no room. */
    assert_false(extent_grow(arena, b, 6, NSMALL + 1, &zeroed));
    hm_mutex_unlock(&arena->lock);
    run_free(c);
    hm_mutex_lock(&arena->lock);
    assert_true(extent_grow(arena, b, 10, NSMALL + 1, &zeroed));
    assert_true(extent_validate(arena));
    assert_int_equal(chunk_of(b)->runs[chunk_page_index(chunk_of(b), b)].npages, 10);
    /* Every page of the grown block is marked as part of it. */
    for (size_t i = 0; i < 10; i++) {
        uint32_t pm = chunk_of(b)->pagemap[chunk_page_index(chunk_of(b), b) + i];
        assert_int_equal(pm_state(pm), PM_LARGE);
        assert_int_equal(pm_poff(pm), i);
    }
    extent_shrink(arena, b, 2, NSMALL);
    assert_true(extent_validate(arena));
    hm_mutex_unlock(&arena->lock);
    /* The tail went back: a 3-page run now fits right after b. */
    char *d = run_alloc(3, 1);
    assert_ptr_equal(d, b + 2 * PAGE);
    run_free(d);
    run_free(b);
    run_free(a);
    assert_int_equal(arena->pa.nactive, 0);
}

static int setup(void **state)
{
    (void)state;
    free(malloc(1)); /* initialise hmalloc */
    arena = arena_get(MAX_ARENAS - 1); /* an arena no thread is bound to */
    return arena ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coalesce_neighbours), cmocka_unit_test(test_random_order),
        cmocka_unit_test(test_alignment), cmocka_unit_test(test_purge_zeroes),
        cmocka_unit_test(test_too_big), cmocka_unit_test(test_grow_shrink_in_place),
        cmocka_unit_test(test_purge_lazy_is_not_zeroed),
        cmocka_unit_test(test_purge_without_lock_concurrent),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
