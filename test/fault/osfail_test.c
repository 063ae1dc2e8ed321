/* osfail_test: when the system refuses memory, every allocating call fails the standard way and
 * the allocator keeps working once memory is back.
 *
 * The kernel can refuse hmalloc at any of its mmap, mremap or madvise calls, also in the middle
 * of an operation (a chunk for a new slab or a new arena, a leaf of the chunk map, the second
 * mapping of an aligned huge block, the remap of a growing realloc, a purge).  A fixed mix of
 * allocations, run in two rounds each in a fresh arena, goes through every allocating path:
 * malloc small/large/huge, calloc, realloc growing from small to huge and back, reallocarray,
 * posix_memalign, aligned_alloc and memalign with big alignments, valloc, mallocx with flags
 * (zero, alignment, no cache, a created arena), rallocx and xallocx, with frees of every kind
 * along the way.  It runs in a child forked from the same state for every N from 1 to past the
 * number of OS calls the mix makes (counted first), so that each call in turn:
 *
 *   - fails once, through the hook hmalloc_test_fail_os_after(N) (hmalloc may absorb a single
 *     failure by giving back what it caches and retrying);
 *   - starts an outage: it and every later call fail until the mix is over.  This test defines
 *     mmap, mremap and madvise itself (hmalloc is linked into it, so its calls come here) to
 *     count the calls and refuse them.
 * Then the hook fails the N-th call of every operation, and four threads run the mix at once
 * while a random share of the calls fails.  Rules:
 *
 *   - a failure is NULL with errno ENOMEM (posix_memalign: returns ENOMEM, *memptr untouched;
 *     mallocx and rallocx: NULL; xallocx: the old size) and a failed resize leaves the block
 *     as it was;
 *   - a success is a block of the size and alignment asked, zeroed where promised, whose
 *     contents (a pattern per block) survive the rest of the mix;
 *   - afterwards, with every call allowed again, an 8 MiB block and many small ones can be
 *     allocated, and a round of the mix runs without a single failure.
 * A crash, a hang (alarm) or a broken rule fails the test, naming N.
 *
 * The last tests take memory away for real: RLIMIT_AS and RLIMIT_DATA (which counts private
 * writable mappings on Linux >= 4.7) are lowered to what the process uses plus 64 MiB,
 * allocations run into ENOMEM (every allocating function is tried there), freeing an 8 MiB block
 * makes room again, the limit is raised back to the hard limit and an 8 MiB block must then be
 * allocated.
 *
 * HMALLOC_STRESS_SCALE below 1 makes the hook's sweep skip values of N. */
#include "config.h" /* first: it defines _GNU_SOURCE (mremap, MREMAP_FIXED) */
#include "../stress/stress_common.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <cmocka.h>

void hmalloc_test_fail_os_after(long countdown);

#define KIB ((size_t)1 << 10)
#define CHILD_SECONDS 30
#define EDGE 4096 /* bytes checked at each end of a big block */

/* ---- held blocks -------------------------------------------------------------------------- */

enum op {
    OP_SMALL, OP_LARGE, OP_HUGE, OP_FILL, OP_CALLOC, OP_REALLOC, OP_REALLOCARRAY,
    OP_POSIX_MEMALIGN, OP_ALIGNED_ALLOC, OP_MEMALIGN, OP_VALLOC, OP_MALLOCX, OP_RALLOCX,
    OP_XALLOCX, OP_ARENA, NOPS
};
static const char *const op_names[NOPS] = {
    "malloc small", "malloc large", "malloc huge", "malloc (filling chunks)", "calloc",
    "realloc", "reallocarray", "posix_memalign", "aligned_alloc", "memalign", "valloc",
    "mallocx", "rallocx", "xallocx", "arenas.create/thread.arena"};

typedef struct {
    unsigned long attempts[NOPS];
    unsigned long failures[NOPS];
    long os_calls; /* mmap/mremap/madvise calls made by the mix */
    int bad_line;  /* line of the first broken rule, 0 if none */
} tally_t;

#define MAXHELD 4096
typedef struct {
    void *p;
    size_t size;
    uint64_t key;
} blk_t;

typedef struct {
    blk_t b[MAXHELD];
    blk_t tmp[MAXHELD];
    int n;
    tally_t *t;
    long arm; /* >0: re-arm the hook with this countdown before every operation */
    uint64_t next_key;
    unsigned arena0; /* an arena created by the parent, for MALLOCX_ARENA */
    unsigned arena;  /* the arena this thread is bound to */
} mix_t;

#define RULE(m, cond)                                                                          \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            if (!(m)->t->bad_line) {                                                           \
                (m)->t->bad_line = __LINE__;                                                   \
                stress_say("osfail_test: line %d: broken: %s (errno %d)\n", __LINE__, #cond,   \
                           errno);                                                             \
            }                                                                                  \
        }                                                                                      \
    } while (0)

/* Pattern over the whole of a small block, or its first and last EDGE bytes. */
static void fill(void *p, size_t size, uint64_t key)
{
    unsigned char *c = p;
    if (size <= 2 * EDGE) {
        stress_fill(c, size, key);
    } else {
        stress_fill(c, EDGE, key);
        stress_fill(c + size - EDGE, EDGE, ~key);
    }
}

static bool intact(const void *p, size_t size, uint64_t key)
{
    const unsigned char *c = p;
    if (size <= 2 * EDGE)
        return stress_check(c, size, key) == size;
    return stress_check(c, EDGE, key) == EDGE && stress_check(c + size - EDGE, EDGE, ~key) == EDGE;
}

/* Zero where a caller may look: all of a small block; the ends and every 64th page of a big one. */
static bool zeroed(const void *p, size_t size)
{
    const unsigned char *c = p;
    if (size <= 4 * EDGE)
        return stress_check_zero(c, size) == size;
    if (stress_check_zero(c, EDGE) != EDGE || stress_check_zero(c + size - EDGE, EDGE) != EDGE)
        return false;
    for (size_t off = 0; off + 8 <= size; off += 64 * 4096)
        if (stress_check_zero(c + off, 8) != 8)
            return false;
    return true;
}

static void before_op(mix_t *m, enum op op)
{
    if (m->arm > 0)
        hmalloc_test_fail_os_after(m->arm);
    m->t->attempts[op]++;
    errno = 0;
}

/* A new block from op: check it and hold it; its index, or -1. */
static int took(mix_t *m, void *p, size_t size, size_t align, bool zero)
{
    if (m->n >= MAXHELD || malloc_usable_size(p) < size ||
        (align != 0 && ((uintptr_t)p & (align - 1)) != 0) || (zero && !zeroed(p, size))) {
        if (!m->t->bad_line) {
            m->t->bad_line = __LINE__;
            stress_say("osfail_test: bad block %p of %zu bytes (usable %zu, align %zu, zero %d)\n",
                       p, size, malloc_usable_size(p), align, (int)zero);
        }
        return -1;
    }
    blk_t *b = &m->b[m->n];
    b->p = p;
    b->size = size;
    b->key = stress_key(++m->next_key, size);
    fill(p, size, b->key);
    return m->n++;
}

/* A failed standard call: NULL with ENOMEM.  Returns -1 (no block). */
static int failed(mix_t *m, enum op op, bool check_errno)
{
    int e = errno;
    m->t->failures[op]++;
    if (check_errno && e != ENOMEM && !m->t->bad_line) {
        m->t->bad_line = __LINE__;
        stress_say("osfail_test: %s failed with errno %d, not ENOMEM\n", op_names[op], e);
    }
    return -1;
}

static int do_malloc(mix_t *m, enum op op, size_t size)
{
    before_op(m, op);
    void *p = malloc(size);
    return p ? took(m, p, size, size >= 16 ? 16 : 0, false) : failed(m, op, true);
}

static int do_calloc(mix_t *m, size_t n, size_t size)
{
    before_op(m, OP_CALLOC);
    void *p = calloc(n, size);
    return p ? took(m, p, n * size, 16, true) : failed(m, OP_CALLOC, true);
}

static int do_posix_memalign(mix_t *m, size_t align, size_t size)
{
    before_op(m, OP_POSIX_MEMALIGN);
    void *p = (void *)&p; /* must stay untouched on failure */
    void *const sentinel = p;
    int r = posix_memalign(&p, align, size);
    if (r == 0)
        return took(m, p, size, align, false);
    errno = r;
    failed(m, OP_POSIX_MEMALIGN, true);
    if (p != sentinel && !m->t->bad_line) {
        m->t->bad_line = __LINE__;
        stress_say("osfail_test: failed posix_memalign changed *memptr\n");
    }
    return -1;
}

static int do_aligned(mix_t *m, enum op op, size_t align, size_t size)
{
    before_op(m, op);
    void *p = op == OP_ALIGNED_ALLOC ? aligned_alloc(align, size)
              : op == OP_MEMALIGN    ? memalign(align, size)
                                     : valloc(size);
    return p ? took(m, p, size, op == OP_VALLOC ? 4096 : align, false) : failed(m, op, true);
}

static int do_mallocx(mix_t *m, size_t size, int flags, size_t align)
{
    before_op(m, OP_MALLOCX);
    void *p = mallocx(size, flags);
    /* mallocx reports failure by NULL alone (errno is not part of its contract) */
    return p ? took(m, p, size, align, (flags & MALLOCX_ZERO) != 0) : failed(m, OP_MALLOCX, false);
}

/* Resize block i with realloc, reallocarray or rallocx (with flags); the block's index, which
 * stays i.  A failure leaves the block as it was. */
static int do_resize(mix_t *m, enum op op, int i, size_t new_size, int flags)
{
    if (i < 0)
        return -1; /* the block to grow was never allocated */
    blk_t *b = &m->b[i];
    size_t old_usable = malloc_usable_size(b->p);
    before_op(m, op);
    void *q = op == OP_REALLOC        ? realloc(b->p, new_size)
              : op == OP_REALLOCARRAY ? reallocarray(b->p, new_size / 16, 16)
                                      : rallocx(b->p, new_size, flags);
    if (!q) {
        failed(m, op, op != OP_RALLOCX);
        RULE(m, intact(b->p, b->size, b->key)); /* the old block is untouched */
        return i;
    }
    /* The old contents moved along: all of a small block, the first EDGE bytes of a big one. */
    size_t keep = b->size <= 2 * EDGE ? b->size : EDGE;
    if (keep > new_size)
        keep = new_size;
    RULE(m, stress_check(q, keep, b->key) == keep);
    RULE(m, malloc_usable_size(q) >= new_size);
    /* MALLOCX_ZERO promises zero beyond what the old block had (its usable size). */
    if ((flags & MALLOCX_ZERO) && new_size > old_usable)
        RULE(m, zeroed((char *)q + old_usable, new_size - old_usable));
    size_t align = (size_t)1 << (flags & 0x3f);
    RULE(m, (flags & 0x3f) == 0 || ((uintptr_t)q & (align - 1)) == 0);
    b->p = q;
    b->size = new_size;
    fill(q, new_size, b->key);
    return i;
}

/* xallocx never moves and never fails loudly: it returns the block's usable size, old or new.
 * (Not growing in place is no error: the pages after the block may be taken.) */
static void do_xallocx(mix_t *m, int i, size_t size, size_t extra)
{
    if (i < 0)
        return;
    blk_t *b = &m->b[i];
    size_t before = malloc_usable_size(b->p);
    before_op(m, OP_XALLOCX);
    size_t got = xallocx(b->p, size, extra, 0);
    RULE(m, got == malloc_usable_size(b->p));
    if (got < size) {
        m->t->failures[OP_XALLOCX]++;
        RULE(m, got == before);
    }
    if (got >= b->size) {
        RULE(m, intact(b->p, b->size, b->key));
    } else { /* shrunk: the prefix it kept is intact */
        size_t keep = got < EDGE ? got : EDGE;
        RULE(m, stress_check(b->p, keep, b->key) == keep);
    }
    b->size = got;
    fill(b->p, b->size, b->key);
}

/* Check and free blocks [from, n) with a mix of the freeing functions. */
static void release_from(mix_t *m, int from)
{
    while (m->n > from) {
        blk_t *b = &m->b[--m->n];
        RULE(m, intact(b->p, b->size, b->key));
        switch (m->n % 4) {
        case 0: free(b->p); break;
        case 1: sdallocx(b->p, b->size, 0); break;
        case 2: dallocx(b->p, 0); break;
        default: free_sized(b->p, b->size); break;
        }
    }
}

/* A fresh arena for the calling thread (its first blocks need new chunks, so the small and
 * large paths meet the OS too); under injection arenas.create may fail, with EAGAIN. */
static void fresh_arena(mix_t *m)
{
    unsigned ind;
    size_t len = sizeof(ind);
    before_op(m, OP_ARENA);
    int r = mallctl("arenas.create", &ind, &len, NULL, 0);
    if (r != 0) {
        m->t->failures[OP_ARENA]++;
        RULE(m, r == EAGAIN);
        return;
    }
    before_op(m, OP_ARENA);
    r = mallctl("thread.arena", NULL, NULL, &ind, sizeof(ind));
    if (r != 0) {
        m->t->failures[OP_ARENA]++;
        RULE(m, r == EAGAIN);
        return;
    }
    m->arena = ind;
}

/* One round of the mix: every allocating path, with some blocks freed along the way (so that
 * freeing paths that purge or unmap run under injection too) and the rest held. */
static void mix_round(mix_t *m)
{
    fresh_arena(m);
    static const size_t small[] = {1, 8, 24, 100, 200, 500, 1000, 3000, 8000, 14336};
    for (size_t k = 0; k < sizeof(small) / sizeof(small[0]); k++)
        do_malloc(m, OP_SMALL, small[k]);
    do_malloc(m, OP_LARGE, 16 * KIB);
    do_malloc(m, OP_LARGE, 100 * KIB);
    do_malloc(m, OP_LARGE, 1 * MIB);
    do_malloc(m, OP_LARGE, 2 * MIB);
    do_malloc(m, OP_HUGE, 3 * MIB);
    do_malloc(m, OP_HUGE, 9 * MIB);
    /* Slabs filled and emptied again: their pages go back to the arena and get purged. */
    int mark = m->n;
    for (int k = 0; k < 120; k++)
        do_malloc(m, OP_FILL, 3584);
    release_from(m, mark + 20);
    do_calloc(m, 10, 10);
    do_calloc(m, 1, 50 * KIB);
    do_calloc(m, 1, 2200 * KIB);
    /* realloc: small -> small -> large -> bigger large -> huge -> bigger huge -> large. */
    static const size_t growth[] = {1000, 10 * KIB, 200 * KIB, 400 * KIB, 2200 * KIB, 4500 * KIB,
                                    20 * KIB};
    int i = do_malloc(m, OP_SMALL, 100);
    for (size_t k = 0; k < sizeof(growth) / sizeof(growth[0]); k++)
        do_resize(m, OP_REALLOC, i, growth[k], 0);
    i = do_malloc(m, OP_SMALL, 48);
    do_resize(m, OP_REALLOCARRAY, i, 64 * KIB, 0);
    do_resize(m, OP_REALLOCARRAY, i, 5 * MIB, 0);
    do_posix_memalign(m, 64, 1000);
    do_posix_memalign(m, 4096, 50 * KIB);
    do_posix_memalign(m, 2 * MIB, 3 * MIB);
    do_posix_memalign(m, 16 * MIB, 1 * MIB);
    do_aligned(m, OP_ALIGNED_ALLOC, 256, 256);
    do_aligned(m, OP_ALIGNED_ALLOC, 1 * MIB, 100 * KIB);
    do_aligned(m, OP_ALIGNED_ALLOC, 32 * MIB, 5 * MIB);
    do_aligned(m, OP_MEMALIGN, 8192, 20 * KIB);
    do_aligned(m, OP_MEMALIGN, 8 * MIB, 8 * MIB);
    do_aligned(m, OP_VALLOC, 0, 5000);
    do_aligned(m, OP_VALLOC, 0, 4 * MIB + 1);
    do_mallocx(m, 5000, MALLOCX_ZERO, 0);
    do_mallocx(m, 300 * KIB, MALLOCX_ZERO | MALLOCX_ALIGN(64 * KIB), 64 * KIB);
    do_mallocx(m, 2200 * KIB, MALLOCX_ZERO | MALLOCX_TCACHE_NONE, 0);
    do_mallocx(m, 700, MALLOCX_TCACHE_NONE | MALLOCX_ALIGN(128), 128);
    do_mallocx(m, 40 * KIB, MALLOCX_ARENA(m->arena0), 0);
    do_mallocx(m, 100, MALLOCX_ARENA(m->arena0) | MALLOCX_TCACHE_NONE, 0);
    do_mallocx(m, 6 * MIB, MALLOCX_ARENA(m->arena0) | MALLOCX_ALIGN(4 * MIB), 4 * MIB);
    i = do_malloc(m, OP_SMALL, 600);
    do_resize(m, OP_RALLOCX, i, 3000, MALLOCX_ZERO);
    do_resize(m, OP_RALLOCX, i, 500 * KIB, MALLOCX_ZERO);
    do_resize(m, OP_RALLOCX, i, 2200 * KIB, MALLOCX_ZERO | MALLOCX_ALIGN(1 * MIB));
    do_resize(m, OP_RALLOCX, i, 100 * KIB, MALLOCX_ARENA(m->arena0));
    i = do_malloc(m, OP_LARGE, 64 * KIB);
    do_xallocx(m, i, 1 * MIB, 0);
    do_xallocx(m, i, 1 * MIB, 1 * MIB);
    do_xallocx(m, i, 20 * KIB, 0);
    i = do_malloc(m, OP_HUGE, 5 * MIB);
    do_xallocx(m, i, 12 * MIB, 0);
    do_xallocx(m, i, 6 * MIB, 0);
}

/* The mix: rounds of every path, each round in a fresh arena; the blocks of a round are freed
 * two rounds later, so that state accumulates (cached huge mappings, dirty pages). */
#define ROUNDS 2
static void run_mix(mix_t *m)
{
    int start[ROUNDS + 1] = {0};
    for (int r = 0; r < ROUNDS; r++) {
        start[r] = m->n;
        mix_round(m);
        if (r >= 1) { /* free round r-1's blocks: swap them to the end, then release */
            int from = start[r - 1], to = start[r], cnt = to - from;
            blk_t *tmp = m->tmp;
            memcpy(tmp, &m->b[from], (size_t)cnt * sizeof(blk_t));
            memmove(&m->b[from], &m->b[to], (size_t)(m->n - to) * sizeof(blk_t));
            memcpy(&m->b[m->n - cnt], tmp, (size_t)cnt * sizeof(blk_t));
            release_from(m, m->n - cnt);
            start[r] = from;
        }
    }
    release_from(m, 0);
}

/* With injection off: an 8 MiB block and many small ones, then the whole mix, all succeeding. */
static void recovery(mix_t *m)
{
    hmalloc_test_fail_os_after(0);
    m->arm = 0;
    unsigned char *big = malloc(8 * MIB);
    RULE(m, big != NULL);
    for (size_t off = 0; big && off < 8 * MIB; off += 16 * 4096) /* every 16th page */
        big[off] = 0x5c;
    if (big)
        big[8 * MIB - 1] = 0x5c;
    static void *smalls[2000];
    for (int i = 0; i < 2000; i++) {
        smalls[i] = malloc((size_t)(i % 50) * 16 + 8);
        RULE(m, smalls[i] != NULL);
        memset(smalls[i], i, 8);
    }
    for (int i = 0; i < 2000; i++)
        free(smalls[i]);
    free(big);
    tally_t before = *m->t;
    mix_round(m);
    release_from(m, 0);
    for (int op = 0; op < NOPS; op++) /* xallocx may not grow in place: no error */
        RULE(m, op == OP_XALLOCX || m->t->failures[op] == before.failures[op]);
}

/* ---- the OS calls, seen from here ---------------------------------------------------------
 * hmalloc is linked into this executable, so its calls to mmap, mremap and madvise resolve to
 * the definitions below (the C library's own internal calls do not).  They count the calls
 * that reach the kernel and can refuse them, which the hook cannot do: every call from the
 * fail_from-th on (memory gone for good, until the test gives it back), or a random share
 * (fail_one_in).  The hook's failures happen before these are reached. */

static long os_calls;    /* atomic: calls made */
static long fail_from;   /* atomic: 0, or fail the calls numbered fail_from and later */
static long fail_one_in; /* atomic: 0, or fail each call with probability 1/fail_one_in */
static uint64_t fail_rng;

static bool os_refuse(void)
{
    long n = __atomic_add_fetch(&os_calls, 1, __ATOMIC_SEQ_CST);
    long from = __atomic_load_n(&fail_from, __ATOMIC_SEQ_CST);
    long one_in = __atomic_load_n(&fail_one_in, __ATOMIC_SEQ_CST);
    if (from > 0 && n >= from)
        return true;
    if (one_in > 0) {
        uint64_t z = __atomic_add_fetch(&fail_rng, 0x9e3779b97f4a7c15ull, __ATOMIC_RELAXED);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z ^= z >> 27;
        return z % (uint64_t)one_in == 0;
    }
    return false;
}

static void os_policy(long from, long one_in)
{
    __atomic_store_n(&fail_from, from, __ATOMIC_SEQ_CST);
    __atomic_store_n(&fail_one_in, one_in, __ATOMIC_SEQ_CST);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (os_refuse()) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    void *new_addr = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        new_addr = va_arg(ap, void *);
        va_end(ap);
    }
    if (os_refuse()) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
}

int madvise(void *addr, size_t len, int advice)
{
    if (os_refuse()) {
        errno = EAGAIN;
        return -1;
    }
    return (int)syscall(SYS_madvise, addr, len, advice);
}

/* ---- running children --------------------------------------------------------------------- */

static unsigned test_arena;

enum mode {
    HOOK_ONCE,    /* the hook fails the N-th call once */
    HOOK_REARMED, /* the hook fails the N-th call of every operation */
    FAIL_FROM,    /* every call from the N-th on fails, until the recovery */
    COUNT,        /* no failures: count the calls the mix makes */
};

/* In a child: run the mix under the failure mode, then recover (nothing fails any more). */
static void child_mix(tally_t *t, long n, int mode)
{
    static mix_t m; /* big: not on the stack */
    memset(&m, 0, sizeof(m));
    m.t = t;
    m.arena0 = test_arena;
    __atomic_store_n(&os_calls, 0, __ATOMIC_SEQ_CST);
    if (mode == HOOK_ONCE || mode == HOOK_REARMED)
        hmalloc_test_fail_os_after(n);
    if (mode == HOOK_REARMED)
        m.arm = n;
    if (mode == FAIL_FROM)
        os_policy(n, 0);
    run_mix(&m);
    t->os_calls = __atomic_load_n(&os_calls, __ATOMIC_SEQ_CST);
    os_policy(0, 0);
    if (t->bad_line)
        return;
    recovery(&m);
}

/* Fork a child that runs fn(t, n, mode) and writes its tally back; add it to *sum.  Returns
 * false (after printing why) when the child crashed, hung or broke a rule. */
static bool in_child(void (*fn)(tally_t *, long, int), long n, int mode, tally_t *sum)
{
    static const char *const mode_names[] = {"the hook fails call N once",
                                             "the hook fails call N of every operation",
                                             "every call from N on fails", "counting"};
    int pfd[2];
    if (pipe(pfd) != 0)
        return false;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        close(pfd[0]);
        alarm(CHILD_SECONDS);
            static tally_t t;
        fn(&t, n, mode);
        ssize_t w = write(pfd[1], &t, sizeof(t));
        _exit(w == (ssize_t)sizeof(t) && t.bad_line == 0 ? 0 : 1);
    }
    close(pfd[1]);
    tally_t t;
    size_t got = 0;
    while (got < sizeof(t)) {
        ssize_t r = read(pfd[0], (char *)&t + got, sizeof(t) - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(pfd[0]);
    int status;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
        print_error("N=%ld (%s): child killed by signal %d (%s)\n", n, mode_names[mode],
                    WTERMSIG(status), strsignal(WTERMSIG(status)));
        return false;
    }
    if (got != sizeof(t) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        print_error("N=%ld (%s): child failed (rule broken at line %d), exit status %d\n", n,
                    mode_names[mode], got == sizeof(t) ? t.bad_line : -1,
                    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return false;
    }
    for (int op = 0; op < NOPS; op++) {
        sum->attempts[op] += t.attempts[op];
        sum->failures[op] += t.failures[op];
    }
    sum->os_calls += t.os_calls;
    return true;
}

static void print_tally(const char *what, const tally_t *t, long runs)
{
    print_message("%s: %ld runs; failures/attempts per operation:\n", what, runs);
    for (int op = 0; op < NOPS; op++)
        print_message("    %-28s %6lu / %lu\n", op_names[op], t->failures[op], t->attempts[op]);
}

static int setup(void **state)
{
    (void)state;
    size_t len = sizeof(test_arena);
    if (mallctl("arenas.create", &test_arena, &len, NULL, 0) != 0)
        return -1;
    return 0;
}

static void need_hooks(void)
{
    if (!HM_CONFIG_TEST_HOOKS)
        skip(); /* built with --disable-test-hooks */
}

/* Visible failures in a tally (xallocx not growing in place is no failure). */
static unsigned long failures(const tally_t *t)
{
    unsigned long n = 0;
    for (int op = 0; op < NOPS; op++)
        if (op != OP_XALLOCX)
            n += t->failures[op];
    return n;
}

/* The OS calls the mix makes in a child (the same in every child: they all start from this
 * process's state). */
static long mix_calls(void)
{
    static long calls;
    if (calls == 0) {
        tally_t t = {0};
        if (!in_child(child_mix, 0, COUNT, &t))
            fail();
        calls = t.os_calls;
        print_message("the mix makes %ld mmap/mremap/madvise calls\n", calls);
        assert_true(calls > 10);
        assert_int_equal(failures(&t), 0);
    }
    return calls;
}

/* N from 1 to past the last call, one step in `stride` (HMALLOC_STRESS_SCALE shrinks it). */
static long sweep_step(long stride)
{
    long step = (long)((double)stride / stress_scale() + 0.5);
    return step < 1 ? 1 : step;
}

/* The hook works: an armed failure never reaches the kernel.  (Growing a huge block in place
 * is one mremap, with no retry.) */
static void test_hook_refuses(void **state)
{
    (void)state;
    need_hooks();
    void *p = malloc(3 * MIB);
    assert_non_null(p);
    size_t before = malloc_usable_size(p);
    long calls = __atomic_load_n(&os_calls, __ATOMIC_SEQ_CST);
    hmalloc_test_fail_os_after(1);
    size_t got = xallocx(p, 3 * MIB + 600 * KIB, 0, 0);
    hmalloc_test_fail_os_after(0);
    assert_int_equal(got, before);
    assert_int_equal(malloc_usable_size(p), before);
    assert_int_equal(__atomic_load_n(&os_calls, __ATOMIC_SEQ_CST), calls);
    free(p);
}

/* The hook fails each call of the mix in turn, once.  hmalloc may absorb a single failure
 * (it gives back what it caches and retries); whatever it does, the rules hold. */
static void test_each_call_fails_once(void **state)
{
    (void)state;
    need_hooks();
    long k = mix_calls();
    tally_t sum = {0};
    long runs = 0;
    for (long n = 1; n <= k + 2; n += sweep_step(1), runs++)
        if (!in_child(child_mix, n, HOOK_ONCE, &sum))
            fail();
    print_tally("the hook fails call N once", &sum, runs);
}

/* Memory runs out for good at each call of the mix in turn (and comes back for the recovery):
 * every path meets failures, every failure is clean. */
static void test_out_of_memory_from_each_call(void **state)
{
    (void)state;
    long k = mix_calls();
    tally_t sum = {0};
    long runs = 0;
    for (long n = 1; n <= k + 1; n += sweep_step(1), runs++)
        if (!in_child(child_mix, n, FAIL_FROM, &sum))
            fail();
    print_tally("every call from N on fails", &sum, runs);
    for (int op = 0; op < NOPS; op++) /* (arenas.create needs little; it may never fail) */
        if (op != OP_XALLOCX && op != OP_ARENA && sum.failures[op] == 0) {
            print_error("%s never failed\n", op_names[op]);
            fail();
        }
}

static void test_each_operation_fails(void **state)
{
    (void)state;
    need_hooks();
    tally_t sum = {0};
    long runs = 0;
    for (long n = 1; n <= 6; n++, runs++)
        if (!in_child(child_mix, n, HOOK_REARMED, &sum))
            fail();
    print_tally("the hook fails call N of every operation", &sum, runs);
}

/* Four threads run the mix at once while a random share of the OS calls fails: failures land
 * in any thread, in the middle of another thread's operation. */
typedef struct {
    tally_t t;
    int index;
} mt_arg_t;

static mix_t mt_mixes[4];

static void *mt_worker(void *arg)
{
    mt_arg_t *a = arg;
    mix_t *m = &mt_mixes[a->index];
    memset(m, 0, sizeof(*m));
    m->t = &a->t;
    m->arena0 = test_arena;
    run_mix(m);
    return NULL;
}

static void child_threads(tally_t *t, long n, int mode)
{
    (void)mode;
    static mt_arg_t args[4];
    pthread_t th[4];
    __atomic_store_n(&fail_rng, (uint64_t)n * 7919, __ATOMIC_SEQ_CST);
    os_policy(0, n / 1000); /* n: 1000 * (one call in how many fails) + run number */
    for (int i = 0; i < 4; i++) {
        memset(&args[i], 0, sizeof(args[i]));
        args[i].index = i;
        if (pthread_create(&th[i], NULL, mt_worker, &args[i]) != 0) {
            t->bad_line = __LINE__;
            return;
        }
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        for (int op = 0; op < NOPS; op++) {
            t->attempts[op] += args[i].t.attempts[op];
            t->failures[op] += args[i].t.failures[op];
        }
        if (args[i].t.bad_line && !t->bad_line)
            t->bad_line = args[i].t.bad_line;
    }
    os_policy(0, 0);
    if (t->bad_line)
        return;
    static mix_t m;
    memset(&m, 0, sizeof(m));
    m.t = t;
    m.arena0 = test_arena;
    recovery(&m);
}

static void test_threads(void **state)
{
    (void)state;
    tally_t sum = {0};
    long runs = 0;
    static const long one_in[] = {1, 2, 2, 3, 3}; /* 1: every call fails */
    for (size_t k = 0; k < sizeof(one_in) / sizeof(one_in[0]); k++, runs++)
        if (!in_child(child_threads, one_in[k] * 1000 + (long)k, 0, &sum))
            fail();
    print_tally("four threads, one call in N fails", &sum, runs);
    assert_true(failures(&sum) > 0);
}

/* ---- real limits -------------------------------------------------------------------------- */

#define HEADROOM (64 * MIB)

/* Kilobytes of the "VmData:" line of /proc/self/status, or 0. */
static size_t vm_data(void)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *l = strstr(buf, "VmData:");
    return l ? (size_t)strtoull(l + 7, NULL, 10) * KIB : 0;
}

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            stress_say("osfail_test: line %d: check failed: %s (errno %d)\n", __LINE__, #cond, \
                       errno);                                                                 \
            _exit(1);                                                                          \
        }                                                                                      \
    } while (0)

/* Blocks held while exhausting, chained through their first word. */
static void *chain;
static size_t chained;

static void hold(void *p, size_t size)
{
    *(void **)p = chain;
    ((size_t *)p)[1] = size;
    memset((char *)p + 16, 0xab, (size < 4096 ? size : 4096) - 16);
    chain = p;
    chained++;
}

/* Allocate blocks of size with malloc until it fails: it must fail, with ENOMEM. */
static void exhaust(size_t size)
{
    for (size_t n = 0;; n++) {
        CHECK(n < 2 * HEADROOM / size + 10000);
        errno = 0;
        void *p = malloc(size);
        if (!p) {
            CHECK(errno == ENOMEM);
            return;
        }
        hold(p, size);
    }
}

/* In a child with the limit lowered to what it uses plus HEADROOM. */
static void limited_child(int resource)
{
    struct rlimit rl;
    CHECK(getrlimit(resource, &rl) == 0);
    size_t used = resource == RLIMIT_AS ? stress_vmsize() : vm_data();
    CHECK(used > 0);
    struct rlimit low = {used + HEADROOM, rl.rlim_max};
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < low.rlim_cur)
        low.rlim_cur = rl.rlim_max;
    CHECK(setrlimit(resource, &low) == 0);
    /* Does the kernel enforce it on mappings like hmalloc's?  (RLIMIT_DATA: Linux >= 4.7.) */
    void *probe = mmap(NULL, 2 * HEADROOM, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe != MAP_FAILED) {
        munmap(probe, 2 * HEADROOM);
        _exit(77);
    }
    exhaust(8 * MIB);
    CHECK(chained >= 1);
    /* Freeing one gives memory back (hmalloc may keep the mapping for reuse, but must give
     * it up when a mapping fails): smaller blocks can be had again. */
    void *one = chain;
    chain = *(void **)one;
    chained--;
    free(one);
    void *again = malloc(256 * KIB);
    CHECK(again != NULL);
    hold(again, 256 * KIB);
    exhaust(256 * KIB);
    exhaust(1000);
    exhaust(40);
    stress_say("%s: %zu blocks held when malloc(40) failed\n",
               resource == RLIMIT_AS ? "RLIMIT_AS" : "RLIMIT_DATA", chained);
    /* Every allocating function fails cleanly at the limit. */
    errno = 0;
    CHECK(malloc(64 * MIB) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(calloc(1, 16 * MIB) == NULL && errno == ENOMEM);
    void *p = (void *)&p;
    CHECK(posix_memalign(&p, 4 * MIB, 16 * MIB) == ENOMEM && p == (void *)&p);
    errno = 0;
    CHECK(aligned_alloc(16 * MIB, 16 * MIB) == NULL && errno == ENOMEM);
    CHECK(mallocx(32 * MIB, MALLOCX_ZERO) == NULL);
    void *last = chain, *link = *(void **)chain;
    errno = 0;
    CHECK(realloc(last, 64 * MIB) == NULL && errno == ENOMEM);
    CHECK(*(void **)last == link && ((unsigned char *)last)[16] == 0xab); /* left intact */
    /* Memory is back: the limit goes up to the hard limit, with everything still held. */
    CHECK(setrlimit(resource, &rl) == 0);
    unsigned char *big = malloc(8 * MIB);
    CHECK(big != NULL);
    memset(big, 0x11, 8 * MIB);
    for (int i = 0; i < 1000; i++) {
        void *s = malloc((size_t)(i % 40) * 8 + 16);
        CHECK(s != NULL);
        hold(s, (size_t)(i % 40) * 8 + 16);
    }
    CHECK(chain != last); /* the small blocks went on top of it */
    void **prev = &chain;
    while (*prev != last)
        prev = (void **)*prev;
    void *q = realloc(last, 64 * MIB); /* now it can grow (it moves: it was small) */
    CHECK(q != NULL && *(void **)q == link && ((unsigned char *)q)[16] == 0xab);
    *prev = q;
    free(big);
    size_t freed = 0;
    while (chain) {
        void *next = *(void **)chain;
        free(chain);
        chain = next;
        freed++;
    }
    CHECK(freed == chained);
    _exit(0);
}

static void run_limited(int resource)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(CHILD_SECONDS);
        limited_child(resource);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        skip(); /* the kernel does not apply this limit to private mappings */
    if (WIFSIGNALED(status))
        print_error("child killed by signal %d (%s)\n", WTERMSIG(status),
                    strsignal(WTERMSIG(status)));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_rlimit_as(void **state)
{
    (void)state;
    run_limited(RLIMIT_AS);
}

static void test_rlimit_data(void **state)
{
    (void)state;
    run_limited(RLIMIT_DATA);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hook_refuses),
        cmocka_unit_test(test_each_call_fails_once),
        cmocka_unit_test(test_out_of_memory_from_each_call),
        cmocka_unit_test(test_each_operation_fails),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_rlimit_as),
        cmocka_unit_test(test_rlimit_data),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
