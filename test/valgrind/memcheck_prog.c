/* memcheck_prog: run by memcheck_test.sh under valgrind's memcheck, against one build of
 * hmalloc (the drop-in build preloaded, or an hm_ build linked in).  It is written with the
 * unprefixed names; over an hm_ build hmalloc.h maps them to hm_malloc ... (HMALLOC_UNPREFIXED).
 *
 *   memcheck_prog clean    every allocation path, used correctly: memcheck must find nothing
 *   memcheck_prog errors   one misuse per function below: memcheck must name each, with the
 *                          function in the stack (the script checks the report)
 *
 * Each misuse sits in a function of its own, not inlined, so that memcheck's stack names it.
 * Exit status: 0, or 2 when hmalloc does not serve the calls (so nothing would be tested). */
#define _GNU_SOURCE
#define HMALLOC_UNPREFIXED
#include <hmalloc.h>
#include <hmalloc/rust_alloc.h>
#if HMALLOC_DROPIN
#include <malloc.h> /* memalign */
#endif

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))
#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* Defeats the compiler's knowledge of a value (it must not fold or drop a block). */
static void *volatile sink;
static size_t hide(size_t x)
{
    volatile size_t v = x;
    return v;
}

static int failures;
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "memcheck_prog: check failed: " __VA_ARGS__);                  \
            fputc('\n', stderr);                                                           \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static void fill(void *p, int c, size_t n) { memset(p, c, n); }

static int all(const void *p, int c, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)c)
            return 0;
    return 1;
}

/* ---- correct use: no error, no leak ------------------------------------------------------ */

/* Sizes across the kinds of block: small classes, page runs, mappings of their own. */
static const size_t sizes[] = {1, 10, 24, 100, 1000, 5000, 20000, 100 * KiB, 3 * MiB, 5 * MiB + 100};

static void clean_standard(void)
{
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = hide(sizes[k]);
        char *p = malloc(n);
        fill(p, 'a', n);
        /* All of the usable size may be written (malloc_usable_size's promise). */
        size_t u = malloc_usable_size(p);
        CHECK(u >= n, "malloc_usable_size %zu < %zu", u, n);
        fill(p, 'b', u);
        /* Grow and shrink: in place or moved, the contents follow. */
        char *q = realloc(p, n * 3 + 7);
        CHECK(all(q, 'b', n), "realloc(%zu -> %zu) lost the contents", n, n * 3 + 7);
        fill(q, 'c', n * 3 + 7);
        q = realloc(q, n / 2 + 1);
        CHECK(all(q, 'c', n / 2 + 1), "realloc shrink of %zu lost the contents", n);
        free(q);

        /* calloc memory reads as zero (and is defined to memcheck), all of its usable size. */
        unsigned char *z = calloc(1, n);
        CHECK(all(z, 0, n), "calloc(%zu) is not zero", n);
        CHECK(all(z, 0, malloc_usable_size(z)), "calloc(%zu): usable size not zero", n);
        free(z);

        void *a = NULL;
        CHECK(posix_memalign(&a, 256, n) == 0, "posix_memalign(256, %zu)", n);
        fill(a, 1, n);
        free(a);
        a = aligned_alloc(64, n);
        fill(a, 1, n);
        free(a);
        a = memalign(8192, n);
        fill(a, 1, n);
        free(a);
    }
    char *r = reallocarray(NULL, 10, 10);
    fill(r, 2, 100);
    free(r);
    free(malloc(0));
}

static void clean_extended(void)
{
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = hide(sizes[k]);
        unsigned char *p = mallocx(n, MALLOCX_ZERO);
        size_t u = sallocx(p, 0);
        CHECK(u == nallocx(n, 0), "sallocx %zu != nallocx %zu", u, nallocx(n, 0));
        CHECK(all(p, 0, u), "mallocx(%zu, ZERO) is not zero", n);
        fill(p, 'x', u);
        /* Growth in place (where the block's kind allows), zeroed past the old usable size. */
        size_t u2 = xallocx(p, n * 2, 0, MALLOCX_ZERO);
        CHECK(u2 >= u, "xallocx shrank the block");
        CHECK(all(p, 'x', u) && all(p + u, 0, u2 - u), "xallocx(%zu -> %zu) contents", n, n * 2);
        fill(p, 'y', u2);
        p = rallocx(p, n * 4 + 1, MALLOCX_ZERO);
        size_t kept = u2 < n * 4 + 1 ? u2 : n * 4 + 1; /* the program owns n * 4 + 1 now */
        CHECK(all(p, 'y', kept), "rallocx(%zu) lost the contents", n * 4 + 1);
        fill(p, 'z', n * 4 + 1);
        p = rallocx(p, n + 1, 0);
        CHECK(all(p, 'z', n + 1), "rallocx shrink lost the contents");
        sdallocx(p, n + 1, 0);

        p = mallocx(n, MALLOCX_ALIGN(4096));
        fill(p, 1, n);
        dallocx(p, MALLOCX_ALIGN(4096));
        p = mallocx(n, MALLOCX_TCACHE_NONE);
        fill(p, 1, n);
        dallocx(p, MALLOCX_TCACHE_NONE);
    }
    /* An explicit thread cache: under valgrind hmalloc bypasses it. */
    unsigned tc;
    size_t sz = sizeof tc;
    CHECK(mallctl("tcache.create", &tc, &sz, NULL, 0) == 0, "tcache.create");
    void *b[8];
    for (int i = 0; i < 8; i++) {
        b[i] = mallocx(48, MALLOCX_TCACHE(tc));
        fill(b[i], i, 48);
    }
    for (int i = 0; i < 8; i++)
        dallocx(b[i], MALLOCX_TCACHE(tc));
    CHECK(mallctl("tcache.destroy", NULL, NULL, &tc, sizeof tc) == 0, "tcache.destroy");
}

static void clean_rust(void)
{
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = hide(sizes[k]);
        unsigned char *p = rust_alloc_zeroed(n, 64);
        CHECK(all(p, 0, n), "rust_alloc_zeroed(%zu) is not zero", n);
        fill(p, 3, rust_usable_size(n, 64)); /* all of it is the program's */
        size_t m = n + n / 4, got = rust_realloc_in_place(p, n, 64, m);
        if (got >= m) { /* resized in place: all of the usable size it returns is the program's */
            fill(p, 4, got);
            n = m;
        }
        p = rust_realloc(p, n, 64, 2 * n + 1);
        CHECK(all(p, got >= m ? 4 : 3, n), "rust_realloc(%zu) lost the contents", n);
        fill(p, 5, rust_usable_size(2 * n + 1, 64));
        rust_dealloc(p, 2 * n + 1, 64);
    }
}

/* A leaked list reachable from a global is not a leak. */
struct node {
    struct node *next;
    char payload[40];
};
static struct node *kept;

static int run_clean(void)
{
    clean_standard();
    clean_extended();
    clean_rust();
    for (int i = 0; i < 10; i++) {
        struct node *n = malloc(sizeof *n);
        n->next = kept;
        kept = n;
    }
    return failures ? 1 : 0;
}

/* ---- misuse: each must be reported, naming its function ------------------------------------ */

static NOINLINE void leak_small(void)
{
    char *p = malloc(hide(40));
    fill(p, 1, 40);
    sink = p + 1; /* interior pointers do not keep the block */
    sink = NULL;
}

/* hmalloc's metadata knows a huge block's address: it must not count as a reference. */
static NOINLINE void leak_huge(void)
{
    char *p = malloc(hide(6 * MiB));
    fill(p, 1, 4096);
}

static NOINLINE int read_after_free(void)
{
    char *p = malloc(hide(24));
    fill(p, 1, 24);
    free(p);
    return ((volatile char *)p)[8];
}

static NOINLINE int read_after_realloc_move(void)
{
    char *p = malloc(hide(100));
    fill(p, 1, 100);
    char *q = realloc(p, hide(200 * KiB)); /* a small block cannot grow into a page run */
    int r = ((volatile char *)p)[0];
    free(q);
    return r;
}

static NOINLINE void write_past_small(void)
{
    char *p = malloc(hide(10));
    ((volatile char *)p)[10] = 1; /* within the 16-byte class */
    free(p);
}

static NOINLINE void write_past_large(void)
{
    char *p = malloc(hide(20000));
    ((volatile char *)p)[20000] = 1;
    free(p);
}

static NOINLINE void write_past_huge(void)
{
    char *p = malloc(hide(5 * MiB + 100));
    ((volatile char *)p)[5 * MiB + 100] = 1;
    free(p);
}

static NOINLINE void write_past_shrunk(void)
{
    char *p = malloc(hide(64 * KiB));
    p = realloc(p, hide(40000)); /* a page run shrinks in place */
    ((volatile char *)p)[40000] = 1;
    free(p);
}

static NOINLINE void write_past_aligned(void)
{
    char *p = mallocx(hide(100), MALLOCX_ALIGN(256));
    ((volatile char *)p)[100] = 1;
    dallocx(p, MALLOCX_ALIGN(256));
}

/* The layer promises the whole usable size (rust_usable_size): past that is past the end. */
static NOINLINE void write_past_rust(void)
{
    char *p = rust_alloc(hide(100), 8);
    ((volatile char *)p)[rust_usable_size(100, 8)] = 1;
    rust_dealloc(p, 100, 8);
}

static NOINLINE int read_uninit(void)
{
    char *p = malloc(hide(32));
    if (((volatile char *)p)[5] == 7) /* never written */
        fill(p, 0, 1);                /* a call: the compiler cannot turn the test into a move */
    free(p);
    return 0;
}

static int run_errors(void)
{
    int r = 0;
    leak_small();
    leak_huge();
    r += read_after_free();
    r += read_after_realloc_move();
    write_past_small();
    write_past_large();
    write_past_huge();
    write_past_shrunk();
    write_past_aligned();
    write_past_rust();
    r += read_uninit();
    return r & 0; /* the values read are garbage */
}

int main(int argc, char **argv)
{
    /* On valgrind's own malloc the usable size would be the requested one. */
    void *probe = malloc(hide(10));
    size_t u = malloc_usable_size(probe);
    free(probe);
    if (u != nallocx(10, 0)) {
        fprintf(stderr, "memcheck_prog: malloc is not hmalloc's (usable size %zu)\n", u);
        return 2;
    }
    if (argc == 2 && !strcmp(argv[1], "clean"))
        return run_clean();
    if (argc == 2 && !strcmp(argv[1], "errors"))
        return run_errors();
    fprintf(stderr, "usage: memcheck_prog clean|errors\n");
    return 2;
}
