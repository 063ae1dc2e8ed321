/* hardened_test: what hardened:true promises beyond the default build (misuse_test checks its
 * error messages): freed small blocks are not handed out again until about QUARANTINE_CAP
 * (1024) other small blocks of the arena have been freed, consecutive blocks come from random
 * places in their slab, the quarantine does not leak (memory comes back in a long loop), huge
 * blocks still resize correctly (by moving), and the option reads back through mallctl.  The
 * program sets the option itself with malloc_conf, so it needs no environment. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>
#define HMALLOC_UNPREFIXED
#include <hmalloc.h>

const char *malloc_conf = "hardened:true";

static void test_option_reads_back(void **state)
{
    (void)state;
    free(malloc(1)); /* initialise */
    bool hardened = false, tcache = true;
    size_t sz = sizeof(bool);
    assert_int_equal(mallctl("opt.hardened", &hardened, &sz, NULL, 0), 0);
    assert_true(hardened);
    assert_int_equal(mallctl("opt.tcache", &tcache, &sz, NULL, 0), 0);
    assert_false(tcache);
}

/* A freed block stays out of circulation while fewer than 1000 other blocks are freed. */
static void test_delayed_reuse(void **state)
{
    (void)state;
    enum { N = 900 };
    void *p = malloc(64);
    assert_non_null(p);
    free(p);
    void *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(64);
        assert_non_null(blocks[i]);
        assert_ptr_not_equal(blocks[i], p);
    }
    for (int i = 0; i < N; i++)
        free(blocks[i]);
}

/* Lowest-address-first order would make every block follow the previous one in a fresh slab;
 * random order makes a run of 64 ascending addresses practically impossible (1/64!). */
static void test_random_order(void **state)
{
    (void)state;
    enum { N = 64 };
    void *b[N];
    int ascending = 0;
    for (int i = 0; i < N; i++) {
        b[i] = malloc(96);
        assert_non_null(b[i]);
        if (i && (uintptr_t)b[i] > (uintptr_t)b[i - 1])
            ascending++;
    }
    assert_true(ascending < N - 1);
    assert_true(ascending > 5); /* and not simply descending */
    for (int i = 0; i < N; i++)
        free(b[i]);
}

/* Two million malloc/free pairs: the quarantine releases as it goes, so the small-block bytes
 * in use stay near the quarantine's size instead of growing with the loop. */
static void test_quarantine_does_not_leak(void **state)
{
    (void)state;
    for (long i = 0; i < 2000000; i++) {
        char *p = malloc(16 + (size_t)(i % 200));
        assert_non_null(p);
        p[0] = (char)i;
        free(p);
    }
    uint64_t epoch = 1;
    assert_int_equal(mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)), 0);
    size_t allocated, sz = sizeof(size_t);
    assert_int_equal(mallctl("stats.allocated", &allocated, &sz, NULL, 0), 0);
    assert_true(allocated < 4u << 20);
}

/* Huge blocks carry a guard page and are never resized in place: realloc moves them, with
 * their contents, and the old address is not valid any more. */
static void test_huge_realloc_moves_with_contents(void **state)
{
    (void)state;
    size_t n = 6u << 20;
    unsigned char *p = malloc(n);
    assert_non_null(p);
    for (size_t i = 0; i < n; i += 4096)
        p[i] = (unsigned char)(i >> 12);
    p[n - 1] = 0x5a;
    assert_true(malloc_usable_size(p) >= n);
    unsigned char *q = realloc(p, 3 * n);
    assert_non_null(q);
    for (size_t i = 0; i < n; i += 4096)
        assert_int_equal(q[i], (unsigned char)(i >> 12));
    assert_int_equal(q[n - 1], 0x5a);
    memset(q + n, 1, 2 * n); /* the whole new size is usable */
    q = realloc(q, n / 2);
    assert_non_null(q);
    assert_int_equal(q[4096], 1);
    free(q);
}

static void *thread_churn(void *arg)
{
    void **slot = arg;
    for (int i = 0; i < 100000; i++) {
        void *p = malloc(40);
        if (!p)
            return NULL;
        free(*slot); /* blocks of the other thread's arena cross over */
        *slot = p;
    }
    return slot;
}

static void test_threads(void **state)
{
    (void)state;
    void *slots[2] = {NULL, NULL};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_churn, &slots[i]), 0);
    for (int i = 0; i < 2; i++) {
        void *r;
        assert_int_equal(pthread_join(t[i], &r), 0);
        assert_non_null(r);
        free(slots[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_option_reads_back),
        cmocka_unit_test(test_delayed_reuse),
        cmocka_unit_test(test_random_order),
        cmocka_unit_test(test_quarantine_does_not_leak),
        cmocka_unit_test(test_huge_realloc_moves_with_contents),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
