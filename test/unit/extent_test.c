/* extent_test: the page allocator of an arena.  Runs come back coalesced with their free
 * neighbours, aligned requests are aligned, fully free chunks beyond one spare are unmapped,
 * and purging gives dirty pages back (they read as zero afterwards). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "init.h"

static arena_t *arena;

static void *run_alloc(size_t npages, size_t align_pages)
{
    bool zeroed;
    hm_mutex_lock(&arena->lock);
    void *p = extent_alloc(arena, npages, align_pages, PM_LARGE, NSMALL, &zeroed);
    assert_true(extent_validate(arena));
    hm_mutex_unlock(&arena->lock);
    return p;
}

static void run_free(void *p)
{
    hm_mutex_lock(&arena->lock);
    extent_free(arena, p);
    assert_true(extent_validate(arena));
    hm_mutex_unlock(&arena->lock);
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
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
