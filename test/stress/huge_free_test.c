/* huge_free_test: freeing a very large block gives its memory back to the system at once.
 *
 * A program that allocates a 1 GiB buffer for one phase of its work and frees it expects to shrink
 * right away, not after some delay or only once it allocates again: other processes on the
 * machine need that memory, and a container's memory limit counts it.  Each way to get a large
 * block (malloc, calloc, realloc growing a block, posix_memalign, aligned_alloc) is used for
 * 1 GiB or 256 MiB (page faults are slow on a VM: 1 GiB takes seconds); the block is written so
 * that it is resident, freed (also from another thread than the one that allocated it), and the
 * resident size must be back near where it was with no sleep in between.  Repeating the cycle
 * checks that nothing accumulates. */
#include "stress_common.h"

#include <pthread.h>
#include <setjmp.h>
#include <cmocka.h>

#define SLACK (8 * MIB) /* "back near where it was" */

enum how { BY_MALLOC, BY_CALLOC, BY_REALLOC, BY_POSIX_MEMALIGN, BY_ALIGNED_ALLOC };

static void *huge_alloc(enum how how, size_t size)
{
    void *p = NULL;
    switch (how) {
    case BY_MALLOC:
        p = malloc(size);
        break;
    case BY_CALLOC:
        p = calloc(size / 4096, 4096);
        if (p != NULL)
            assert_int_equal(stress_check_zero(p, size), size);
        break;
    case BY_REALLOC: {
        /* Grown through the size categories, as a growing buffer is. */
        unsigned char *q = malloc(100);
        assert_non_null(q);
        memset(q, 0x77, 100);
        for (size_t n = 4096; n < size; n *= 8) {
            unsigned char *r = realloc(q, n);
            assert_non_null(r);
            assert_int_equal(r[99], 0x77);
            q = r;
        }
        p = realloc(q, size);
        assert_non_null(p);
        assert_int_equal(((unsigned char *)p)[99], 0x77);
        break;
    }
    case BY_POSIX_MEMALIGN:
        assert_int_equal(posix_memalign(&p, 2 * MIB, size), 0);
        assert_int_equal((uintptr_t)p % (2 * MIB), 0);
        break;
    case BY_ALIGNED_ALLOC:
        p = aligned_alloc(64 * 1024, size);
        assert_int_equal((uintptr_t)p % (64 * 1024), 0);
        break;
    }
    assert_non_null(p);
    assert_true(malloc_usable_size(p) >= size);
    return p;
}

static void *free_on_thread(void *p)
{
    free(p);
    return NULL;
}

/* One cycle: allocate, make resident, check RSS rose by the size, free, check it fell back. */
static void cycle(enum how how, size_t size, int free_elsewhere)
{
    size_t before = stress_rss();
    unsigned char *p = huge_alloc(how, size);
    memset(p, 0x5c, size);
    size_t peak = stress_rss();
    /* Sanity: the measurement sees the block (otherwise the test below proves nothing). */
    assert_true(peak >= before + size - 16 * MIB);
    if (free_elsewhere) {
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, free_on_thread, p), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
    } else {
        free(p);
    }
    size_t after = stress_rss();
    print_message("RSS %zu MiB -> %zu MiB with the block -> %zu MiB after free%s\n", before / MIB,
                  peak / MIB, after / MIB, free_elsewhere ? " (on another thread)" : "");
    assert_true(after <= before + SLACK);
}

static void test_huge_malloc(void **state)
{
    (void)state;
    cycle(BY_MALLOC, GIB, 0);
    cycle(BY_MALLOC, 256 * MIB, 0);
    cycle(BY_MALLOC, 256 * MIB, 0);
}

static void test_huge_calloc(void **state)
{
    (void)state;
    cycle(BY_CALLOC, 256 * MIB, 0);
}

static void test_huge_realloc_grown(void **state)
{
    (void)state;
    cycle(BY_REALLOC, 256 * MIB, 0);
}

static void test_huge_posix_memalign(void **state)
{
    (void)state;
    cycle(BY_POSIX_MEMALIGN, 256 * MIB, 0);
}

static void test_huge_aligned_alloc(void **state)
{
    (void)state;
    cycle(BY_ALIGNED_ALLOC, 256 * MIB, 0);
}

static void test_huge_freed_by_another_thread(void **state)
{
    (void)state;
    cycle(BY_MALLOC, 256 * MIB, 1);
}

/* Small allocations made between cycles (as a real program makes) do not pin the memory. */
static void test_huge_with_small_blocks_around(void **state)
{
    (void)state;
    enum { N = 20000 };
    static void *small[N];
    for (int i = 0; i < N; i++)
        assert_non_null(small[i] = malloc((size_t)(i % 700) + 1));
    for (int i = 0; i < N; i += 2)
        free(small[i]);
    cycle(BY_MALLOC, 256 * MIB, 0);
    for (int i = 0; i < N; i += 2)
        assert_non_null(small[i] = malloc((size_t)(i % 3000) + 1));
    cycle(BY_REALLOC, 256 * MIB, 0);
    for (int i = 0; i < N; i++)
        free(small[i]);
}

int main(void)
{
    stress_watchdog(200);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_huge_malloc),
        cmocka_unit_test(test_huge_calloc),
        cmocka_unit_test(test_huge_realloc_grown),
        cmocka_unit_test(test_huge_posix_memalign),
        cmocka_unit_test(test_huge_aligned_alloc),
        cmocka_unit_test(test_huge_freed_by_another_thread),
        cmocka_unit_test(test_huge_with_small_blocks_around),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
