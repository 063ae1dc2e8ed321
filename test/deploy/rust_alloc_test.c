/* rust_alloc_test.c: one C program, linked against each rust_alloc archive in turn
 * (include/hmalloc/rust_alloc.h).  Built with RUST_ALLOC_HMALLOC, it links
 * libhmalloc_rust_hmalloc.a with libhmalloc.a; without, libhmalloc_rust_system.a alone.
 *
 * Both: alignments from 1 to 4 MiB at sizes around every kind of block, zeroed blocks,
 * realloc keeping contents and alignment, realloc_in_place never moving and keeping its
 * promise about the size, several threads.  Over hmalloc, also: the usable size is exactly
 * the block's (sallocx), every deallocation's size is checked against the block
 * (check_sized:true, so a wrong size or flag aborts), and in the drop-in build the C
 * library's own allocations come from hmalloc as well: the whole process runs on it. */
#define _GNU_SOURCE
#include "hmalloc/rust_alloc.h"
#include "deploy_test.h"

#include <pthread.h>
#include <string.h>

#ifdef RUST_ALLOC_HMALLOC
#define HMALLOC_UNPREFIXED
#include "hmalloc.h"
#include "hmalloc_internal.h" /* HM_EXPORT */

/* Sized deallocation is checked: a size or alignment that does not match the block aborts.
 * (HMALLOC_UNPREFIXED makes the name PREFIXmalloc_conf in a namespaced build.) */
HM_EXPORT const char *malloc_conf = "check_sized:true";
#else
#include <dlfcn.h>
#include <malloc.h>
#endif

static const size_t sizes[] = {1,     7,     8,      15,     16,      24,        100,
                               1000,  4096,  5000,   14336,  16384,   20000,     100000,
                               1 << 20, (2 << 20) + 1, 3 << 20};
static const size_t aligns[] = {1, 2, 4, 8, 16, 32, 64, 256, 4096, 8192, 65536, 1 << 20, 2 << 20,
                                4 << 20};
#define NSIZES (sizeof sizes / sizeof *sizes)
#define NALIGNS (sizeof aligns / sizeof *aligns)

static int aligned(const void *p, size_t align) { return ((uintptr_t)p & (align - 1)) == 0; }

/* The block is what the layer says it is: usable as a whole, and over hmalloc exactly the
 * block's usable size. */
static void check_block(void *p, size_t size, size_t align)
{
    CHECK(p != NULL, "no block for size %zu align %zu", size, align);
    CHECK(aligned(p, align), "%p is not aligned to %zu", p, align);
    size_t usable = rust_usable_size(size, align);
    CHECK(usable >= size, "usable size %zu < size %zu", usable, size);
#ifdef RUST_ALLOC_HMALLOC
    CHECK(sallocx(p, 0) == usable, "size %zu align %zu: block of %zu bytes, usable size says %zu",
          size, align, sallocx(p, 0), usable);
#else
    CHECK(usable == size, "the system layer knows only the size");
#endif
}

static void test_alloc_dealloc(void)
{
    for (size_t i = 0; i < NSIZES; i++)
        for (size_t j = 0; j < NALIGNS; j++) {
            size_t size = sizes[i], align = aligns[j];
            unsigned char *p = rust_alloc(size, align);
            check_block(p, size, align);
            size_t usable = rust_usable_size(size, align);
            memset(p, 0xa5, usable);
            rust_dealloc(p, size, align);

            /* Zeroed, also where memory is reused dirty. */
            p = rust_alloc_zeroed(size, align);
            check_block(p, size, align);
            for (size_t k = 0; k < size; k++)
                CHECK(p[k] == 0, "rust_alloc_zeroed(%zu, %zu): byte %zu is %#x", size, align, k,
                      p[k]);
            rust_dealloc(p, size, align);
        }
}

/* Grow and shrink through every kind of block, contents and alignment kept. */
static void test_realloc(void)
{
    static const size_t steps[] = {10, 100, 3000, 20000, 200000, 3 << 20, 5 << 20, 100000, 5000,
                                   40, 1};
    for (size_t j = 0; j < NALIGNS; j++) {
        size_t align = aligns[j], size = 1;
        unsigned char *p = rust_alloc(size, align);
        check_block(p, size, align);
        pattern_fill(p, size, 1);
        for (size_t s = 0; s < sizeof steps / sizeof *steps; s++) {
            size_t new_size = steps[s], keep = size < new_size ? size : new_size;
            unsigned char *q = rust_realloc(p, size, align, new_size);
            check_block(q, new_size, align);
            CHECK(pattern_ok(q, keep, (unsigned)s + 1), "realloc %zu -> %zu (align %zu) lost data",
                  size, new_size, align);
            pattern_fill(q, new_size, (unsigned)s + 2);
            p = q;
            size = new_size;
        }
        rust_dealloc(p, size, align);
    }
}

/* realloc_in_place: the block never moves; at least new_size means it is now a block of
 * new_size (it is given back with that size), less means nothing changed. */
static size_t in_place(size_t old_size, size_t align, size_t new_size, int must_succeed)
{
    unsigned char *p = rust_alloc(old_size, align);
    check_block(p, old_size, align);
    size_t keep = old_size < new_size ? old_size : new_size;
    pattern_fill(p, old_size, 3);
    size_t r = rust_realloc_in_place(p, old_size, align, new_size);
    CHECK(pattern_ok(p, keep, 3), "realloc_in_place %zu -> %zu changed the data", old_size, new_size);
    CHECK(!must_succeed || r >= new_size, "realloc_in_place %zu -> %zu (align %zu) failed: %zu",
          old_size, new_size, align, r);
    if (r >= new_size) {
#ifdef RUST_ALLOC_HMALLOC
        CHECK(r == rust_usable_size(new_size, align) && sallocx(p, 0) == r,
              "realloc_in_place %zu -> %zu returned %zu, block of %zu", old_size, new_size, r,
              sallocx(p, 0));
#endif
        memset(p, 1, new_size);
        rust_dealloc(p, new_size, align);
    } else {
#ifdef RUST_ALLOC_HMALLOC
        CHECK(sallocx(p, 0) == rust_usable_size(old_size, align),
              "a failed realloc_in_place %zu -> %zu changed the block", old_size, new_size);
#endif
        rust_dealloc(p, old_size, align);
    }
    return r;
}

static void test_realloc_in_place(void)
{
    for (size_t i = 0; i < NSIZES; i++)
        for (size_t j = 0; j < NALIGNS; j += 3)
            for (size_t k = 0; k < NSIZES; k += 2)
                in_place(sizes[i], aligns[j], sizes[k], 0);
    /* To the same size: always. */
    in_place(100, 8, 100, 1);
    in_place(20000, 8, 20000, 1);
    in_place(3 << 20, 4096, 3 << 20, 1);
#ifdef RUST_ALLOC_HMALLOC
    /* Within the block's size class: always. */
    in_place(100, 8, 110, 1);
    in_place(1000, 2 << 20, 1 << 20, 1); /* both round up to the alignment */
    /* A page run shrinks in place, and a mapping too. */
    in_place(200000, 16, 50000, 1);
    in_place(8 << 20, 16, 3 << 20, 1);
    /* A region does not change class in place, nor does a run become a region or a mapping
     * a run: those fail, and say so. */
    CHECK(in_place(100, 8, 50, 0) == 0, "a region shrank in place");
    CHECK(in_place(200000, 8, 100, 0) == 0, "a page run shrank to a region");
    CHECK(in_place(8 << 20, 8, 100000, 0) == 0, "a mapping shrank to a page run");
    /* (xallocx itself would leave this one at the smallest mapping class, 2.5 MiB: a block
     * neither of 4 MiB nor of 1 MiB.) */
    CHECK(in_place(4 << 20, 2 << 20, 1 << 20, 0) == 0, "a mapping shrank to a run's class");
#else
    in_place(200000, 16, 50, 1);
    in_place(64, 64, 1, 1);
    /* Growing needs moving: the C library cannot. */
    void *p = rust_alloc(100, 8);
    CHECK(rust_realloc_in_place(p, 100, 8, 200) < 200, "the system layer grew a block in place");
    rust_dealloc(p, 100, 8);
#endif
}

/* Threads allocating, resizing and freeing at once, blocks passed between them. */
#define SLOTS 256
static void *volatile shared_slot[SLOTS];
static size_t shared_size[SLOTS], shared_align[SLOTS];
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;

static void *churn(void *arg)
{
    uint64_t rs = 0x9e3779b97f4a7c15ull + (uintptr_t)arg;
    for (int round = 0; round < 20000; round++) {
        uint64_t r = rnd_next(&rs);
        size_t slot = r % SLOTS;
        size_t size = r >> 40 & 7 ? 1 + (r >> 20) % 2000 : 1 + (r >> 20) % 300000;
        size_t align = (size_t)1 << ((r >> 50) % 14);
        pthread_mutex_lock(&shared_lock);
        void *p = shared_slot[slot];
        size_t old = shared_size[slot], oalign = shared_align[slot];
        shared_slot[slot] = NULL;
        pthread_mutex_unlock(&shared_lock);
        if (p) {
            CHECK(pattern_ok(p, old < 64 ? old : 64, (unsigned)old), "slot %zu was overwritten", slot);
            if (r & 1) {
                rust_dealloc(p, old, oalign);
                p = NULL;
            } else {
                p = rust_realloc(p, old, oalign, size);
                CHECK(p && aligned(p, oalign), "rust_realloc %zu -> %zu", old, size);
                align = oalign;
            }
        }
        if (!p) {
            p = (r & 2) ? rust_alloc_zeroed(size, align) : rust_alloc(size, align);
            CHECK(p && aligned(p, align), "rust_alloc(%zu, %zu)", size, align);
        }
        pattern_fill(p, size < 64 ? size : 64, (unsigned)size);
        pthread_mutex_lock(&shared_lock);
        if (shared_slot[slot]) { /* another thread filled it meanwhile */
            pthread_mutex_unlock(&shared_lock);
            rust_dealloc(p, size, align);
            continue;
        }
        shared_slot[slot] = p;
        shared_size[slot] = size;
        shared_align[slot] = align;
        pthread_mutex_unlock(&shared_lock);
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, churn, (void *)i) == 0, "pthread_create");
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < SLOTS; i++)
        if (shared_slot[i])
            rust_dealloc(shared_slot[i], shared_size[i], shared_align[i]);
}

/* Which allocator is under the layer, and under the C library. */
static void test_whole_process(void)
{
#ifdef RUST_ALLOC_HMALLOC
    bool check_sized = false;
    size_t len = sizeof check_sized;
    CHECK(mallctl("opt.check_sized", &check_sized, &len, NULL, 0) == 0 && check_sized,
          "malloc_conf did not turn check_sized on");
    uint64_t before = 0, after = 0;
    len = sizeof before;
    mallctl("thread.allocated", &before, &len, NULL, 0);
    void *p = rust_alloc(1000, 8);
    mallctl("thread.allocated", &after, &len, NULL, 0);
    CHECK(after - before >= 1000, "rust_alloc did not allocate from hmalloc");
    rust_dealloc(p, 1000, 8);
    if (HMALLOC_DROPIN) {
        char *s = strdup("the C library allocates from hmalloc too");
        CHECK(sallocx(s, 0) >= strlen(s) + 1, "strdup's block is not hmalloc's");
        free(s);
    }
#else
    /* No hmalloc in this program: the blocks are the C library's. */
    CHECK(dlsym(RTLD_DEFAULT, "mallocx") == NULL, "hmalloc is linked into the program");
    void *p = rust_alloc(1000, 8);
    CHECK(malloc_usable_size(p) >= 1000, "malloc_usable_size of a rust_alloc block");
    rust_dealloc(p, 1000, 8);
#endif
}

int main(void)
{
    test_whole_process();
    test_alloc_dealloc();
    test_realloc();
    test_realloc_in_place();
    test_threads();
#ifdef RUST_ALLOC_HMALLOC
    printf("rust_alloc over hmalloc: all checks passed\n");
#else
    printf("rust_alloc over the C library: all checks passed\n");
#endif
    return 0;
}
