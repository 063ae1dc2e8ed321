/* misuse_test: heap misuse is caught at the faulty call (or, across threads, at the next flush)
 * and named: the process prints exactly one line
 *
 *     hmalloc: <function>(): <what> 0x<address>
 *
 * to stderr and dies of SIGABRT.  A program's author relies on that line to find the bug: it
 * must name the function that was called, the kind of misuse, and the pointer that was passed.
 * The check that a pointer is hmalloc's must read only hmalloc's own metadata: a wild pointer
 * to a page of the program's own (mapped PROT_NONE here) gives SIGABRT, never SIGSEGV.
 *
 * Each case runs in a forked child whose stderr goes through a pipe; the child reports the
 * address it is about to misuse through a second pipe before it does.  Cases that need an option
 * set at start-up (check_sized) re-execute this binary with HMALLOC_CONF in its environment and
 * `--child NAME` on its command line. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HMALLOC_UNPREFIXED
#include "hmalloc.h"

#include "../start_background.h"

#include <cmocka.h>

/* Using freed pointers is what this file is about. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define REPORT_FD 63     /* the child's end of the address pipe (kept across exec) */
#define CHILD_SECONDS 20 /* a child stuck on a lock fails instead of hanging make check */

/* The compiler must neither see through a pointer (and warn about freeing a stack address, or
 * drop a double free it can prove) nor fold a size. */
static void *volatile hide_slot;
static void *hide(void *p)
{
    hide_slot = p;
    return hide_slot;
}
static size_t hide_size(size_t n)
{
    __asm__ volatile("" : "+r"(n));
    return n;
}

/* In the child: tell the parent which address the message must name. */
static void report(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    if (write(REPORT_FD, &a, sizeof(a)) != (ssize_t)sizeof(a))
        _exit(3);
}

/* In the child: a setup step failed (not what is under test). */
static void child_die(const char *what)
{
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "misuse_test child: setup failed: %s\n", what);
    ssize_t unused = write(2, buf, (size_t)n);
    (void)unused;
    _exit(4);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(hide_size(n));
    if (!p)
        child_die("malloc");
    memset(p, 0x33, n < 64 ? n : 64);
    return p;
}

static void flush_tcache(void)
{
    if (mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) != 0)
        child_die("thread.tcache.flush");
}

/* ---- the cases (each runs in a child; returning from one means nothing aborted) ---------- */

static void c_double_free_small(void)
{
    void *p = xmalloc(40);
    free(p);
    report(p);
    free(hide(p));
}

/* 1000 malloc/free pairs of other classes (small and large) between the two frees. */
static void c_double_free_small_after_pairs(void)
{
    void *p = xmalloc(40);
    free(p);
    for (int i = 0; i < 1000; i++) {
        size_t n = i % 10 == 9 ? 20 * KiB + (size_t)i * 8 : 64 + (size_t)(i % 50) * 16;
        void *q = xmalloc(n);
        if (q == p)
            child_die("a block of another class reused the freed one");
        free(q);
    }
    report(p);
    free(hide(p));
}

/* The freed block left the thread cache: 1000 frees of its class flushed it to its slab. */
static void c_double_free_small_after_flush(void)
{
    static void *held[1000];
    void *p = xmalloc(40);
    for (int i = 0; i < 1000; i++)
        held[i] = xmalloc(40);
    free(p);
    for (int i = 0; i < 1000; i++)
        free(held[i]);
    report(p);
    free(hide(p));
}

/* Freed, then flushed explicitly, then another region of its class freed. */
static void c_double_free_small_after_explicit_flush(void)
{
    void *p = xmalloc(24);
    void *q = xmalloc(24);
    free(p);
    flush_tcache();
    free(q);
    report(p);
    free(hide(p));
}

static void c_double_free_large(void)
{
    void *p = xmalloc(100 * KiB);
    free(p);
    report(p);
    free(hide(p));
}

static void c_double_free_huge_8m(void)
{
    void *p = xmalloc(8 * MiB);
    free(p);
    report(p);
    free(hide(p));
}

static void c_double_free_huge_100m(void)
{
    void *p = xmalloc(100 * MiB);
    free(p);
    report(p);
    free(hide(p));
}

/* The second block's range joins the first's in the cache of freed mappings (they are split
 * from one freed range, side by side): its start is then inside a bigger cached range, and a
 * second free of it is still a double free. */
static void c_double_free_huge_joined(void)
{
    void *pin = xmalloc(24 * MiB); /* keeps the cache's limit above 32 MiB */
    void *big = xmalloc(32 * MiB);
    free(big);
    void *a = xmalloc(8 * MiB), *b = xmalloc(8 * MiB);
    free(a);
    free(b);
    report(b);
    free(hide(b));
    free(pin);
}

static void c_double_dallocx(void)
{
    void *p = xmalloc(200);
    dallocx(p, 0);
    report(p);
    dallocx(hide(p), 0);
}

static void c_double_dallocx_tcache_none(void)
{
    void *p = xmalloc(200);
    dallocx(p, MALLOCX_TCACHE_NONE);
    report(p);
    dallocx(hide(p), MALLOCX_TCACHE_NONE);
}

static void c_double_sdallocx(void)
{
    void *p = xmalloc(200);
    sdallocx(p, 200, 0);
    report(p);
    sdallocx(hide(p), 200, 0);
}

static void c_realloc_zero_freed(void)
{
    void *p = xmalloc(40);
    free(p);
    report(p);
    void *q = realloc(hide(p), 0);
    (void)q;
}

static unsigned create_tcache(void)
{
    unsigned id;
    size_t len = sizeof(id);
    if (mallctl("tcache.create", &id, &len, NULL, 0) != 0)
        child_die("tcache.create");
    return id;
}

/* Twice into the same explicit cache. */
static void c_double_dallocx_explicit_tcache(void)
{
    unsigned id = create_tcache();
    void *p = mallocx(64, MALLOCX_TCACHE(id));
    if (!p)
        child_die("mallocx");
    dallocx(p, MALLOCX_TCACHE(id));
    report(p);
    dallocx(hide(p), MALLOCX_TCACHE(id));
}

/* Once into an explicit cache, once into the thread's: p sits in two caches, and the second
 * flush finds it already free in its slab. */
static void c_double_free_two_caches(void)
{
    unsigned id = create_tcache();
    void *p = xmalloc(64);
    dallocx(p, MALLOCX_TCACHE(id));
    report(p);
    free(hide(p));
    flush_tcache();
    if (mallctl("tcache.flush", NULL, NULL, &id, sizeof(id)) != 0)
        child_die("tcache.flush");
}

static void c_double_free_sized(void)
{
    void *p = xmalloc(3000);
    free_sized(p, 3000);
    report(p);
    free_sized(hide(p), 3000);
}

static void c_double_free_sized_large(void)
{
    void *p = xmalloc(300 * KiB);
    free_sized(p, 300 * KiB);
    report(p);
    free_sized(hide(p), 300 * KiB);
}

static void c_middle_small(void)
{
    char *p = xmalloc(64);
    report(p + 16);
    free(hide(p + 16));
}

static void c_middle_small_odd(void)
{
    char *p = xmalloc(64);
    report(p + 1);
    free(hide(p + 1));
}

static void c_middle_large_page(void)
{
    char *p = xmalloc(100 * KiB);
    report(p + 4 * KiB);
    free(hide(p + 4 * KiB));
}

static void c_middle_large(void)
{
    char *p = xmalloc(100 * KiB);
    report(p + 100);
    free(hide(p + 100));
}

static void c_middle_huge(void)
{
    char *p = xmalloc(8 * MiB);
    report(p + 4 * KiB);
    free(hide(p + 4 * KiB));
}

static void c_middle_huge_far(void)
{
    char *p = xmalloc(8 * MiB);
    report(p + 5 * MiB + 48);
    free(hide(p + 5 * MiB + 48));
}

static void c_realloc_middle_small(void)
{
    char *p = xmalloc(64);
    report(p + 32);
    void *q = realloc(hide(p + 32), 100);
    (void)q;
}

/* Past the end of a huge block's pages, in the 4 MiB granule its last page is in: the address
 * is unmapped, so reading it would crash. */
static void c_past_huge(void)
{
    char *p = xmalloc(9 * MiB + 100);
    char *past = p + ((malloc_usable_size(p) + 4 * KiB - 1) & ~(4 * KiB - 1)) + 4 * KiB;
    report(past);
    free(hide(past));
}

static void c_stack(void)
{
    char buf[64];
    memset(buf, 1, sizeof(buf));
    report(buf);
    free(hide(buf));
}

static int static_var[16];

static void c_static(void)
{
    report(static_var);
    free(hide(static_var));
}

static void c_wild(void)
{
    report((void *)0x12345678);
    free(hide((void *)0x12345678));
}

/* A page of the program's own that nobody may touch: reading it raises SIGSEGV. */
static void *own_page(void)
{
    void *q = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (q == MAP_FAILED)
        child_die("mmap");
    return q;
}

static void c_own_page(void)
{
    void *q = own_page();
    report(q);
    free(hide(q));
}

static void c_own_page_realloc(void)
{
    void *q = own_page();
    report(q);
    void *r = realloc(hide(q), 10);
    (void)r;
}

static void c_own_page_usable_size(void)
{
    void *q = own_page();
    report(q);
    size_t n = malloc_usable_size(hide(q));
    (void)n;
}

static void c_own_page_sdallocx(void)
{
    char *q = own_page();
    report(q + 16);
    sdallocx(hide(q + 16), 16, 0);
}

/* The header of the chunk a small block lives in: hmalloc's memory, but never a block. */
static void c_chunk_header(void)
{
    char *p = xmalloc(32);
    char *hdr = (char *)((uintptr_t)p & ~(uintptr_t)(4 * MiB - 1));
    report(hdr);
    free(hide(hdr));
}

static void c_realloc_freed_small(void)
{
    void *p = xmalloc(40);
    free(p);
    report(p);
    void *q = realloc(hide(p), 100);
    (void)q;
}

static void c_realloc_freed_small_flushed(void)
{
    void *p = xmalloc(40);
    void *keep = xmalloc(40);
    free(p);
    flush_tcache();
    report(p);
    void *q = realloc(hide(p), 100);
    (void)q;
    free(keep);
}

static void c_realloc_freed_large(void)
{
    void *p = xmalloc(100 * KiB);
    free(p);
    report(p);
    void *q = realloc(hide(p), 200 * KiB);
    (void)q;
}

static void c_realloc_freed_huge(void)
{
    void *p = xmalloc(8 * MiB);
    free(p);
    report(p);
    void *q = realloc(hide(p), 10 * MiB);
    (void)q;
}

static void c_rallocx_freed(void)
{
    void *p = xmalloc(500);
    free(p);
    report(p);
    void *q = rallocx(hide(p), 1000, 0);
    (void)q;
}

static void c_xallocx_freed(void)
{
    void *p = xmalloc(100 * KiB);
    free(p);
    report(p);
    size_t n = xallocx(hide(p), 200 * KiB, 0, 0);
    (void)n;
}

static void c_usable_size_freed(void)
{
    void *p = xmalloc(40);
    free(p);
    report(p);
    size_t n = malloc_usable_size(hide(p));
    (void)n;
}

static void c_usable_size_freed_large(void)
{
    void *p = xmalloc(100 * KiB);
    free(p);
    report(p);
    size_t n = malloc_usable_size(hide(p));
    (void)n;
}

static void c_sallocx_freed(void)
{
    void *p = xmalloc(8 * MiB);
    free(p);
    report(p);
    size_t n = sallocx(hide(p), 0);
    (void)n;
}

/* ---- cross-thread double free ------------------------------------------------------------- */

static pthread_mutex_t xt_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t xt_cond = PTHREAD_COND_INITIALIZER;
static int xt_step;
static void *xt_ptr;
static int xt_flush_first; /* thread A flushes before thread B frees */

static void xt_wait(int step)
{
    pthread_mutex_lock(&xt_lock);
    while (xt_step < step)
        pthread_cond_wait(&xt_cond, &xt_lock);
    pthread_mutex_unlock(&xt_lock);
}

static void xt_go(int step)
{
    pthread_mutex_lock(&xt_lock);
    xt_step = step;
    pthread_cond_broadcast(&xt_cond);
    pthread_mutex_unlock(&xt_lock);
}

/* A: free p (then step 1), maybe flush first; after B is done (step 2), flush. */
static void *xt_thread_a(void *arg)
{
    (void)arg;
    free(hide(xt_ptr));
    if (xt_flush_first)
        flush_tcache();
    xt_go(1);
    xt_wait(2);
    flush_tcache();
    xt_go(3);
    return NULL;
}

static void *xt_thread_b(void *arg)
{
    (void)arg;
    xt_wait(1);
    void *warm = xmalloc(48); /* B has a cache of its own */
    free(warm);
    free(hide(xt_ptr));
    flush_tcache();
    xt_go(2);
    return NULL;
}

static void cross_thread(int flush_first)
{
    xt_flush_first = flush_first;
    xt_ptr = xmalloc(48);
    report(xt_ptr);
    pthread_t a, b;
    if (pthread_create(&a, NULL, xt_thread_a, NULL) || pthread_create(&b, NULL, xt_thread_b, NULL))
        child_die("pthread_create");
    pthread_join(b, NULL);
    pthread_join(a, NULL);
}

/* A frees p into its cache; B frees p as well (it cannot know p sits in A's cache); the
 * flushes return p to its slab twice, and the second one is caught. */
static void c_cross_thread_double_free(void) { cross_thread(0); }
/* A frees and flushes p; B's free finds p free in its slab at once. */
static void c_cross_thread_double_free_flushed(void) { cross_thread(1); }

/* A thread frees p and exits (its cache is flushed at exit); the main thread frees p again. */
static void *free_and_exit(void *p)
{
    free(p);
    return NULL;
}

static void c_double_free_after_thread_exit(void)
{
    void *p = xmalloc(48);
    void *keep = xmalloc(48);
    pthread_t t;
    if (pthread_create(&t, NULL, free_and_exit, p))
        child_die("pthread_create");
    pthread_join(t, NULL);
    report(p);
    free(hide(p));
    free(keep);
}

/* A thread bound to another arena than p's frees p twice (or a pointer into it): the remote
 * frees take their own fast path, which must still catch both at the faulty call (the thread
 * ends the process right after it, before any flush could find the block twice). */
static void *remote_free_twice(void *p)
{
    unsigned mine, other;
    size_t len = sizeof mine;
    if (mallctl("thread.arena", &mine, &len, NULL, 0) != 0)
        child_die("thread.arena");
    other = mine == 0 ? 1 : 0;
    if (mallctl("thread.arena", NULL, NULL, &other, sizeof other) != 0)
        child_die("thread.arena (set)");
    free(xmalloc(48)); /* this thread has a cache */
    free(hide(p));
    free(hide(p));
    _exit(0);
}

static void *remote_free_middle(void *p)
{
    unsigned mine, other;
    size_t len = sizeof mine;
    if (mallctl("thread.arena", &mine, &len, NULL, 0) != 0)
        child_die("thread.arena");
    other = mine == 0 ? 1 : 0;
    if (mallctl("thread.arena", NULL, NULL, &other, sizeof other) != 0)
        child_die("thread.arena (set)");
    free(xmalloc(48));
    free(hide((char *)p + 16));
    _exit(0);
}

static void remote_case(void *(*fn)(void *), size_t off)
{
    unsigned zero = 0;
    if (mallctl("thread.arena", NULL, NULL, &zero, sizeof zero) != 0)
        child_die("thread.arena (set)");
    void *p = xmalloc(48);
    report((char *)p + off);
    pthread_t t;
    if (pthread_create(&t, NULL, fn, p))
        child_die("pthread_create");
    pthread_join(t, NULL);
}

static void c_remote_double_free(void) { remote_case(remote_free_twice, 0); }
static void c_remote_free_middle(void) { remote_case(remote_free_middle, 16); }

/* ---- sized deallocation with check_sized (runs in a re-executed child) -------------------- */

static void require_check_sized(void)
{
    bool on = false;
    size_t len = sizeof(on);
    if (mallctl("opt.check_sized", &on, &len, NULL, 0) != 0 || !on)
        child_die("opt.check_sized is not on in the re-executed child");
}

static void c_sized_small_wrong(void)
{
    require_check_sized();
    void *p = xmalloc(100);
    report(p);
    sdallocx(hide(p), hide_size(1000), 0);
}

static void c_sized_small_smaller_class(void)
{
    require_check_sized();
    void *p = xmalloc(100);
    report(p);
    sdallocx(hide(p), hide_size(16), 0);
}

static void c_sized_large_wrong(void)
{
    require_check_sized();
    void *p = xmalloc(100 * KiB);
    report(p);
    free_sized(hide(p), hide_size(50 * KiB));
}

/* 10 MiB is not a power of two, so no alignment the block happens to have makes 5 MiB fit. */
static void c_sized_huge_wrong(void)
{
    require_check_sized();
    void *p = xmalloc(10 * MiB);
    report(p);
    sdallocx(hide(p), hide_size(5 * MiB), 0);
}

static void c_sized_aligned_wrong(void)
{
    require_check_sized();
    void *p = aligned_alloc(4096, 4096);
    if (!p)
        child_die("aligned_alloc");
    report(p);
    free_aligned_sized(hide(p), 4096, hide_size(3 * 4096));
}

/* Sizes that do belong to the block must be accepted: any size of the block's class, and the
 * size and alignment it was allocated with.  The child exits 0. */
static void c_sized_right(void)
{
    require_check_sized();
    void *p = xmalloc(100);
    sdallocx(p, hide_size(100), 0);
    p = xmalloc(100);
    sdallocx(p, hide_size(nallocx(100, 0)), 0);
    p = xmalloc(100 * KiB);
    free_sized(p, hide_size(100 * KiB - 5));
    p = xmalloc(8 * MiB);
    sdallocx(p, hide_size(8 * MiB), 0);
    p = mallocx(100, MALLOCX_ALIGN(64));
    if (!p)
        child_die("mallocx");
    sdallocx(p, hide_size(100), MALLOCX_ALIGN(64));
    p = aligned_alloc(4096, 4096);
    if (!p)
        child_die("aligned_alloc");
    free_aligned_sized(p, 4096, hide_size(4096));
    p = mallocx(5000, MALLOCX_ALIGN(8192));
    if (!p)
        child_die("mallocx");
    sdallocx(p, hide_size(5000), MALLOCX_ALIGN(8192));
    _exit(0);
}

/* Misuses nothing: the harness must see a clean exit. */
static void c_nothing(void)
{
    free(xmalloc(100));
}

/* ---- the table, the child side and the parent side ---------------------------------------- */

typedef struct {
    const char *name;
    void (*fn)(void);
} misuse_case_t;

#define CASE(n) {#n, c_##n}
/* Hardened mode (run with HMALLOC_CONF=hardened:true).  A block freed, written over (the
 * cache tag gone) and freed again: the quarantine still knows it. */
static void c_hardened_free_write_free(void)
{
    char *p = xmalloc(32);
    free(p);
    memset(hide(p), 'x', 32);
    report(p);
    free(hide(p));
}

static void c_hardened_realloc_freed(void)
{
    char *p = xmalloc(200);
    free(p);
    memset(hide(p), 'y', 200);
    report(p);
    void *q = realloc(hide(p), 300);
    (void)q;
}

/* The byte just past a huge block's pages is a guard page: writing it faults. */
static void c_hardened_huge_overrun(void)
{
    size_t n = 10 * MiB;
    volatile char *p = xmalloc(n);
    report((const void *)p);
    p[hide_size(n)] = 1;
}

static const misuse_case_t cases[] = {
    CASE(double_free_small),
    CASE(double_free_small_after_pairs),
    CASE(double_free_small_after_flush),
    CASE(double_free_small_after_explicit_flush),
    CASE(double_free_large),
    CASE(double_free_huge_8m),
    CASE(double_free_huge_100m),
    CASE(double_free_huge_joined),
    CASE(double_dallocx),
    CASE(double_dallocx_tcache_none),
    CASE(double_sdallocx),
    CASE(double_free_sized),
    CASE(realloc_zero_freed),
    CASE(double_dallocx_explicit_tcache),
    CASE(double_free_two_caches),
    CASE(double_free_sized_large),
    CASE(middle_small),
    CASE(middle_small_odd),
    CASE(middle_large_page),
    CASE(middle_large),
    CASE(middle_huge),
    CASE(middle_huge_far),
    CASE(realloc_middle_small),
    CASE(past_huge),
    CASE(stack),
    CASE(static),
    CASE(wild),
    CASE(own_page),
    CASE(own_page_realloc),
    CASE(own_page_usable_size),
    CASE(own_page_sdallocx),
    CASE(chunk_header),
    CASE(realloc_freed_small),
    CASE(realloc_freed_small_flushed),
    CASE(realloc_freed_large),
    CASE(realloc_freed_huge),
    CASE(rallocx_freed),
    CASE(xallocx_freed),
    CASE(usable_size_freed),
    CASE(usable_size_freed_large),
    CASE(sallocx_freed),
    CASE(cross_thread_double_free),
    CASE(cross_thread_double_free_flushed),
    CASE(remote_double_free),
    CASE(remote_free_middle),
    CASE(double_free_after_thread_exit),
    CASE(sized_small_wrong),
    CASE(sized_small_smaller_class),
    CASE(sized_large_wrong),
    CASE(sized_huge_wrong),
    CASE(sized_aligned_wrong),
    CASE(sized_right),
    CASE(nothing),
    CASE(hardened_free_write_free),
    CASE(hardened_realloc_freed),
    CASE(hardened_huge_overrun),
};

static const misuse_case_t *find_case(const char *name)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (strcmp(cases[i].name, name) == 0)
            return &cases[i];
    return NULL;
}

/* The child's side: stderr and REPORT_FD are already the pipes. */
static void child_run(const char *name)
{
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core); /* an expected abort should not leave a core file */
    alarm(CHILD_SECONDS);
    /* Started in the middle of a case, the background thread's creation could be handed the
     * block the case has just freed, making its second free a legitimate one. */
    start_background_thread();
    const misuse_case_t *c = find_case(name);
    if (!c)
        child_die("unknown case");
    c->fn();
    _exit(0); /* nothing aborted */
}

typedef struct {
    int status;
    char err[8192];
    size_t errlen;
    uintptr_t addr;
    int naddr; /* addresses reported */
} outcome_t;

static void read_all(int fd, char *buf, size_t cap, size_t *len)
{
    *len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + *len, cap - 1 - *len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        *len += (size_t)n;
        if (*len == cap - 1) { /* keep draining so the child never blocks */
            char sink[4096];
            while (read(fd, sink, sizeof(sink)) > 0)
                ;
            break;
        }
    }
    buf[*len] = '\0';
}

/* Run case `name` in a child: forked, or re-executed with HMALLOC_CONF=conf when conf is set. */
static void run_case(const char *name, const char *conf, outcome_t *o)
{
    int errp[2], repp[2];
    assert_int_equal(pipe(errp), 0);
    assert_int_equal(pipe(repp), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(errp[0]);
        close(repp[0]);
        if (dup2(errp[1], 2) < 0 || dup2(repp[1], REPORT_FD) < 0)
            _exit(5);
        close(errp[1]);
        close(repp[1]);
        if (conf) {
            char *argv[] = {(char *)"misuse_test", (char *)"--child", (char *)name, NULL};
            setenv("HMALLOC_CONF", conf, 1);
            execv("/proc/self/exe", argv);
            child_die("execv");
        }
        child_run(name);
    }
    close(errp[1]);
    close(repp[1]);
    read_all(errp[0], o->err, sizeof(o->err), &o->errlen);
    char rep[64];
    size_t replen;
    read_all(repp[0], rep, sizeof(rep), &replen);
    close(errp[0]);
    close(repp[0]);
    o->naddr = (int)(replen / sizeof(uintptr_t));
    o->addr = 0;
    if (o->naddr >= 1)
        memcpy(&o->addr, rep, sizeof(uintptr_t));
    assert_int_equal(waitpid(pid, &o->status, 0), pid);
}

static void describe(const char *name, const outcome_t *o)
{
    if (WIFSIGNALED(o->status))
        print_error("case %s: child killed by signal %d (%s)\n", name, WTERMSIG(o->status),
                    strsignal(WTERMSIG(o->status)));
    else
        print_error("case %s: child exited with status %d\n", name, WEXITSTATUS(o->status));
    print_error("case %s: child's stderr (%zu bytes): [%s]\n", name, o->errlen, o->err);
}

/* The case must end in SIGABRT after printing exactly the line naming func, what and the
 * address the child reported. */
static void expect_abort(const char *name, const char *conf, const char *func, const char *what)
{
    outcome_t o;
    run_case(name, conf, &o);
    char want[256];
    snprintf(want, sizeof(want), "hmalloc: %s(): %s 0x%" PRIxPTR "\n", func, what, o.addr);
    int ok = o.naddr == 1 && WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGABRT &&
             strcmp(o.err, want) == 0;
    if (!ok) {
        describe(name, &o);
        print_error("case %s: expected SIGABRT and stderr [%s]\n", name, want);
        fail();
    }
}

/* The case must die of signal sig with nothing on stderr. */
static void expect_signal(const char *name, const char *conf, int sig)
{
    outcome_t o;
    run_case(name, conf, &o);
    if (!WIFSIGNALED(o.status) || WTERMSIG(o.status) != sig || o.errlen != 0) {
        describe(name, &o);
        print_error("case %s: expected signal %d (%s), nothing on stderr\n", name, sig,
                    strsignal(sig));
        fail();
    }
}

static void expect_clean_exit(const char *name, const char *conf)
{
    outcome_t o;
    run_case(name, conf, &o);
    if (!WIFEXITED(o.status) || WEXITSTATUS(o.status) != 0 || o.errlen != 0) {
        describe(name, &o);
        print_error("case %s: expected exit 0 and nothing on stderr\n", name);
        fail();
    }
}

#define DF "double free"
#define NOT_OURS "invalid pointer (not allocated by hmalloc)"
#define NOT_START "invalid pointer (not the start of a block)"
#define FREED "pointer to a freed block"
#define SIZE "size does not match the block"

/* One cmocka test per case, so a failure names it. */
#define T(name, func, what)                                                                    \
    static void test_##name(void **state)                                                      \
    {                                                                                          \
        (void)state;                                                                           \
        expect_abort(#name, NULL, func, what);                                                 \
    }
#define TS(name, func, what)                                                                   \
    static void test_##name(void **state)                                                      \
    {                                                                                          \
        (void)state;                                                                           \
        expect_abort(#name, "check_sized:true", func, what);                                   \
    }

T(double_free_small, "free", DF)
T(double_free_small_after_pairs, "free", DF)
T(double_free_small_after_flush, "free", DF)
T(double_free_small_after_explicit_flush, "free", DF)
T(double_free_large, "free", DF)
T(double_free_huge_8m, "free", DF)
T(double_free_huge_joined, "free", DF)
T(double_dallocx, "dallocx", DF)
T(double_dallocx_tcache_none, "dallocx", DF)
T(double_sdallocx, "sdallocx", DF)
T(double_free_sized, "free_sized", DF)
T(realloc_zero_freed, "realloc", DF)
T(double_dallocx_explicit_tcache, "dallocx", DF)
T(double_free_two_caches, "free", DF)
T(double_free_sized_large, "free_sized", DF)
T(middle_small, "free", NOT_START)
T(middle_small_odd, "free", NOT_START)
T(middle_large_page, "free", NOT_START)
T(middle_large, "free", NOT_START)
T(middle_huge, "free", NOT_START)
T(middle_huge_far, "free", NOT_START)
T(realloc_middle_small, "realloc", NOT_START)
T(past_huge, "free", NOT_OURS)
T(stack, "free", NOT_OURS)
T(static, "free", NOT_OURS)
T(wild, "free", NOT_OURS)
T(own_page, "free", NOT_OURS)
T(own_page_realloc, "realloc", NOT_OURS)
T(own_page_usable_size, "malloc_usable_size", NOT_OURS)
T(own_page_sdallocx, "sdallocx", NOT_OURS)
T(chunk_header, "free", NOT_OURS)
T(realloc_freed_small, "realloc", FREED)
T(realloc_freed_small_flushed, "realloc", FREED)
T(realloc_freed_large, "realloc", FREED)
T(realloc_freed_huge, "realloc", FREED)
T(rallocx_freed, "rallocx", FREED)
T(xallocx_freed, "xallocx", FREED)
T(usable_size_freed, "malloc_usable_size", FREED)
T(usable_size_freed_large, "malloc_usable_size", FREED)
T(sallocx_freed, "sallocx", FREED)
T(cross_thread_double_free, "free", DF)
T(cross_thread_double_free_flushed, "free", DF)
T(remote_double_free, "free", DF)
T(remote_free_middle, "free", NOT_START)
T(double_free_after_thread_exit, "free", DF)
TS(sized_small_wrong, "sdallocx", SIZE)
TS(sized_small_smaller_class, "sdallocx", SIZE)
TS(sized_large_wrong, "free_sized", SIZE)
TS(sized_huge_wrong, "sdallocx", SIZE)
TS(sized_aligned_wrong, "free_aligned_sized", SIZE)

/* A huge block above HUGE_CACHE_MAX (64 MiB) is unmapped by free(); its chunk-map entries keep
 * a freed mark, so a second free() is still named a double free. */
static void test_double_free_huge_100m(void **state)
{
    (void)state;
    expect_abort("double_free_huge_100m", NULL, "free", DF);
}

static void test_hardened_free_write_free(void **state)
{
    (void)state;
    expect_abort("hardened_free_write_free", "hardened:true", "free", DF);
}

static void test_hardened_realloc_freed(void **state)
{
    (void)state;
    expect_abort("hardened_realloc_freed", "hardened:true", "realloc", FREED);
}

static void test_hardened_huge_overrun(void **state)
{
    (void)state;
    expect_signal("hardened_huge_overrun", "hardened:true", SIGSEGV);
}

static void test_sized_right(void **state)
{
    (void)state;
    expect_clean_exit("sized_right", "check_sized:true");
}

/* The harness itself: a child that misuses nothing exits 0 with nothing on stderr. */
static void test_harness_detects_no_abort(void **state)
{
    (void)state;
    expect_clean_exit("nothing", NULL);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--child") == 0)
        child_run(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_double_free_small),
        cmocka_unit_test(test_double_free_small_after_pairs),
        cmocka_unit_test(test_double_free_small_after_flush),
        cmocka_unit_test(test_double_free_small_after_explicit_flush),
        cmocka_unit_test(test_double_free_large),
        cmocka_unit_test(test_double_free_huge_8m),
        cmocka_unit_test(test_double_free_huge_joined),
        cmocka_unit_test(test_double_free_huge_100m),
        cmocka_unit_test(test_double_dallocx),
        cmocka_unit_test(test_double_dallocx_tcache_none),
        cmocka_unit_test(test_double_sdallocx),
        cmocka_unit_test(test_double_free_sized),
        cmocka_unit_test(test_realloc_zero_freed),
        cmocka_unit_test(test_double_dallocx_explicit_tcache),
        cmocka_unit_test(test_double_free_two_caches),
        cmocka_unit_test(test_double_free_sized_large),
        cmocka_unit_test(test_middle_small),
        cmocka_unit_test(test_middle_small_odd),
        cmocka_unit_test(test_middle_large_page),
        cmocka_unit_test(test_middle_large),
        cmocka_unit_test(test_middle_huge),
        cmocka_unit_test(test_middle_huge_far),
        cmocka_unit_test(test_realloc_middle_small),
        cmocka_unit_test(test_past_huge),
        cmocka_unit_test(test_stack),
        cmocka_unit_test(test_static),
        cmocka_unit_test(test_wild),
        cmocka_unit_test(test_own_page),
        cmocka_unit_test(test_own_page_realloc),
        cmocka_unit_test(test_own_page_usable_size),
        cmocka_unit_test(test_own_page_sdallocx),
        cmocka_unit_test(test_chunk_header),
        cmocka_unit_test(test_realloc_freed_small),
        cmocka_unit_test(test_realloc_freed_small_flushed),
        cmocka_unit_test(test_realloc_freed_large),
        cmocka_unit_test(test_realloc_freed_huge),
        cmocka_unit_test(test_rallocx_freed),
        cmocka_unit_test(test_xallocx_freed),
        cmocka_unit_test(test_usable_size_freed),
        cmocka_unit_test(test_usable_size_freed_large),
        cmocka_unit_test(test_sallocx_freed),
        cmocka_unit_test(test_cross_thread_double_free),
        cmocka_unit_test(test_cross_thread_double_free_flushed),
        cmocka_unit_test(test_remote_double_free),
        cmocka_unit_test(test_remote_free_middle),
        cmocka_unit_test(test_double_free_after_thread_exit),
        cmocka_unit_test(test_sized_small_wrong),
        cmocka_unit_test(test_sized_small_smaller_class),
        cmocka_unit_test(test_sized_large_wrong),
        cmocka_unit_test(test_sized_huge_wrong),
        cmocka_unit_test(test_sized_aligned_wrong),
        cmocka_unit_test(test_sized_right),
        cmocka_unit_test(test_hardened_free_write_free),
        cmocka_unit_test(test_hardened_realloc_freed),
        cmocka_unit_test(test_hardened_huge_overrun),
        cmocka_unit_test(test_harness_detects_no_abort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
