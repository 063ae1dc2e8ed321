/* sz_test: the size-class table.  Every size maps to the smallest class that holds it, the
 * table lookup and the computed path agree, the reciprocal gives exact region indices, and
 * aligned requests get classes that really are aligned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "slab.h"

static void test_smallest_class_holds(void **state)
{
    (void)state;
    for (size_t s = 1; s <= LARGE_MAXCLASS + PAGE; s++) {
        unsigned i = sz_size2index(s);
        assert_true(sz_index2size(i) >= s);
        if (i > 0)
            assert_true(sz_index2size(i - 1) < s);
    }
    assert_int_equal(sz_size2index(0), 0);
    assert_int_equal(sz_index2size(0), 8);
}

static void test_classes_shape(void **state)
{
    (void)state;
    assert_int_equal(sz_index2size(NSMALL - 1), SMALL_MAXCLASS);
    assert_int_equal(sz_index2size(NSMALL), LARGE_MINCLASS);
    assert_int_equal(sz_index2size(sz_huge_index - 1), LARGE_MAXCLASS);
    assert_int_equal(sz_index2size(NCLASSES - 1), HUGE_MAXCLASS);
    for (unsigned i = 1; i < NCLASSES; i++) {
        size_t s = sz_index2size(i), prev = sz_index2size(i - 1);
        assert_true(s > prev);
        assert_int_equal(s % 16, 0);
        /* Waste bound: a class is at most 25% above the largest size of the class below
         * plus one byte (four classes per doubling). */
        if (prev >= 128)
            assert_true((double)s / (double)(prev + 1) <= 1.25);
        if (i >= NSMALL)
            assert_int_equal(s % PAGE, 0);
    }
    for (size_t s = HUGE_MAXCLASS - 100; s < HUGE_MAXCLASS; s++)
        assert_int_equal(sz_size2index_compute(s), NCLASSES - 1);
}

static void test_lookup_matches_compute(void **state)
{
    (void)state;
    for (size_t s = 1; s <= LOOKUP_MAXCLASS; s++)
        assert_int_equal(sz_lut[(s + 7) >> 3], sz_size2index_compute(s));
}

static void test_reciprocal_exact(void **state)
{
    (void)state;
    for (unsigned c = 0; c < NSMALL; c++) {
        const sz_small_info_t *si = &sz_small[c];
        assert_true(si->nregs >= 1 && si->nregs <= SLAB_MAXREGS);
        assert_true((size_t)si->nregs * si->size <= (size_t)si->npages * PAGE);
        for (uintptr_t off = 0; off < (uintptr_t)si->npages * PAGE; off++) {
            bool exact;
            unsigned idx = slab_region_index(off, c, &exact);
            assert_int_equal(idx, off / si->size);
            assert_int_equal(exact, off % si->size == 0);
        }
    }
}

static void test_aligned_usize(void **state)
{
    (void)state;
    for (size_t a = 1; a <= ((size_t)1 << 30); a <<= 1) {
        size_t sizes[] = {0, 1, a - 1, a, a + 1, 3 * a, 100, 5000};
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
            size_t u = sz_sa2u(sizes[k], a);
            assert_true(u >= sizes[k] && u > 0);
            /* A small class serves alignment a only if all its regions are a-aligned. */
            if (u <= SMALL_MAXCLASS)
                assert_int_equal(u % a, 0);
        }
    }
    assert_int_equal(sz_sa2u(HUGE_MAXCLASS + 1, 16), 0);
    assert_int_equal(sz_sa2u(HUGE_MAXCLASS, (size_t)1 << 62), 0);
}

int main(void)
{
    sz_boot();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smallest_class_holds), cmocka_unit_test(test_classes_shape),
        cmocka_unit_test(test_lookup_matches_compute), cmocka_unit_test(test_reciprocal_exact),
        cmocka_unit_test(test_aligned_usize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
