/* shadow_stress_test: many threads use every allocation function at once, and each block's
 * contents are checked against a shadow model of what its owner wrote.
 *
 * Each block is filled over its whole usable size with a pattern derived from (block id, size)
 * and checked before free, after realloc (the old prefix must survive) and whenever it moves to
 * another thread through a shared exchange array, so most frees are cross-thread frees.  A block
 * handed out twice, a region shared by two blocks, a wrong malloc_usable_size, a realloc that
 * loses data or a misaligned result all show as a pattern mismatch or a failed check.  A second
 * test runs producer/consumer pairs and checks that memory freed by the consumer is reused, so
 * the process stays small however many blocks pass through. */
#include "stress_common.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#define NTHREADS 8
#define LIVE 512  /* blocks each thread holds */
#define NXCHG 256 /* exchange slots shared by all threads */
#define OPS_PER_THREAD 600000

enum how { BY_MALLOC, BY_CALLOC, BY_REALLOC, BY_POSIX_MEMALIGN, BY_ALIGNED_ALLOC, BY_MEMALIGN };
static const char *const how_name[] = {"malloc",         "calloc",        "realloc",
                                       "posix_memalign", "aligned_alloc", "memalign"};

struct blk {
    unsigned char *p;
    size_t size;   /* requested */
    size_t usable; /* malloc_usable_size at allocation; the pattern covers all of it */
    uint64_t id;
    int owner; /* thread that allocated (or last reallocated) it */
    enum how how;
};

struct slot {
    pthread_mutex_t lock;
    struct blk b;
};

static struct slot xchg[NXCHG];
static atomic_int failed;
static atomic_int stop;
static atomic_ulong cross_frees, moves, ops_done, reallocs_done;
static size_t ops_per_thread;

/* Hide where p came from, so the compiler does not hold writes up to the usable size (allowed by
 * malloc_usable_size) against the requested size. */
static inline void *launder(void *p)
{
    __asm__ volatile("" : "+r"(p));
    return p;
}

__attribute__((format(printf, 3, 4))) static void report_bad(const struct blk *b, int self,
                                                             const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    stress_say("shadow_stress: thread %d: %s: block id %#llx at %p size %zu usable %zu from %s on "
               "thread %d\n",
               self, msg, (unsigned long long)b->id, (void *)b->p, b->size, b->usable,
               how_name[b->how], b->owner);
    atomic_store(&failed, 1);
    atomic_store(&stop, 1);
}

/* Sizes: mostly small, some up to 64 KiB, rarely up to 4 MiB (log-uniform, so mostly a few
 * hundred KiB: every size category and the class boundaries between them get hit). */
static size_t random_size(uint64_t *rng)
{
    unsigned r = (unsigned)(stress_rand(rng) % 1000);
    if (r < 450)
        return stress_range(rng, 1, 128);
    if (r < 850)
        return stress_range(rng, 129, 1024);
    if (r < 997)
        return stress_range(rng, 1025, 64 * 1024);
    unsigned lg = (unsigned)stress_range(rng, 16, 21);
    return stress_range(rng, ((size_t)1 << lg) + 1, (size_t)2 << lg);
}

static size_t random_align(uint64_t *rng)
{
    if (stress_rand(rng) % 100 == 0)
        return (size_t)1 << stress_range(rng, 13, 21); /* 8 KiB .. 2 MiB */
    return (size_t)1 << stress_range(rng, 3, 12);
}

/* The alignment any type that fits in `size` bytes needs (at most the fundamental 16). */
static size_t natural_align(size_t size)
{
    size_t a = 16;
    while (a > size && a > 1)
        a >>= 1;
    return a;
}

static int check_new(struct blk *b, size_t align, int self)
{
    if (b->p == NULL) {
        report_bad(b, self, "allocation failed (errno %d)", errno);
        return -1;
    }
    if ((uintptr_t)b->p % align != 0) {
        report_bad(b, self, "not aligned to %zu", align);
        return -1;
    }
    b->usable = malloc_usable_size(b->p);
    if (b->usable < b->size) {
        report_bad(b, self, "malloc_usable_size %zu below the requested size", b->usable);
        return -1;
    }
    return 0;
}

static void fill(struct blk *b) { stress_fill(b->p, b->usable, stress_key(b->id, b->size)); }

static int verify(const struct blk *b, int self, const char *when)
{
    size_t off = stress_check(b->p, b->usable, stress_key(b->id, b->size));
    if (off != b->usable) {
        report_bad(b, self, "%s: pattern broken at offset %zu", when, off);
        return -1;
    }
    return 0;
}

static int alloc_block(struct blk *b, uint64_t *rng, uint64_t id, int self)
{
    size_t size = random_size(rng), align = natural_align(size);
    unsigned r = (unsigned)(stress_rand(rng) % 100);
    *b = (struct blk){.size = size, .id = id, .owner = self};
    if (r < 50) {
        b->how = BY_MALLOC;
        b->p = launder(malloc(size));
    } else if (r < 62) {
        b->how = BY_CALLOC;
        if (size % 8 == 0 && stress_rand(rng) % 2)
            b->p = launder(calloc(size / 8, 8));
        else
            b->p = launder(calloc(1, size));
    } else if (r < 72) {
        b->how = BY_REALLOC;
        b->p = launder(realloc(NULL, size));
    } else if (r < 84) {
        b->how = BY_POSIX_MEMALIGN;
        align = random_align(rng);
        void *p = NULL;
        int err = posix_memalign(&p, align, size);
        if (err != 0) {
            report_bad(b, self, "posix_memalign(%zu) returned %d", align, err);
            return -1;
        }
        b->p = launder(p);
    } else if (r < 94) {
        b->how = BY_ALIGNED_ALLOC;
        align = random_align(rng);
        b->size = size = (size + align - 1) & ~(align - 1);
        b->p = launder(aligned_alloc(align, size));
    } else {
        b->how = BY_MEMALIGN;
        align = random_align(rng);
        b->p = launder(memalign(align, size));
    }
    if (check_new(b, align, self) != 0)
        return -1;
    if (b->how == BY_CALLOC) {
        size_t off = stress_check_zero(b->p, size);
        if (off != size) {
            report_bad(b, self, "calloc block not zero at offset %zu", off);
            return -1;
        }
    }
    fill(b);
    return 0;
}

static int free_block(struct blk *b, uint64_t *rng, int self)
{
    if (verify(b, self, "before free") != 0)
        return -1;
    if (b->owner != self)
        atomic_fetch_add_explicit(&cross_frees, 1, memory_order_relaxed);
#ifdef HMALLOC_VERSION
    /* free_sized with the requested size is as good as free (C23); exercise both. */
    if (stress_rand(rng) % 4 == 0 && b->how != BY_ALIGNED_ALLOC && b->how != BY_POSIX_MEMALIGN &&
        b->how != BY_MEMALIGN) {
        free_sized(b->p, b->size);
        b->p = NULL;
        return 0;
    }
#else
    (void)rng;
#endif
    free(b->p);
    b->p = NULL;
    return 0;
}

static int realloc_block(struct blk *b, uint64_t *rng, uint64_t new_id, int self)
{
    if (verify(b, self, "before realloc") != 0)
        return -1;
    size_t old_size = b->size;
    uint64_t old_key = stress_key(b->id, b->size);
    unsigned r = (unsigned)(stress_rand(rng) % 4);
    size_t size;
    if (r == 0) /* shrink */
        size = stress_range(rng, 1, old_size);
    else if (r == 1) /* grow a little: often in place */
        size = old_size + stress_range(rng, 1, old_size / 4 + 16);
    else
        size = random_size(rng);
    void *p = launder(realloc(b->p, size));
    struct blk nb = {.p = p, .size = size, .id = new_id, .owner = self, .how = BY_REALLOC};
    if (check_new(&nb, natural_align(size), self) != 0)
        return -1; /* the old block is leaked: the test has failed anyway */
    size_t keep = old_size < size ? old_size : size;
    size_t off = stress_check(p, keep, old_key);
    if (off != keep) {
        report_bad(&nb, self, "realloc from %zu lost the old contents at offset %zu", old_size,
                   off);
        return -1;
    }
    if (b->owner != self)
        atomic_fetch_add_explicit(&cross_frees, 1, memory_order_relaxed);
    *b = nb;
    fill(b);
    atomic_fetch_add_explicit(&reallocs_done, 1, memory_order_relaxed);
    return 0;
}

/* Swap b with a random exchange slot; the block received was allocated (and may be freed next)
 * by whichever thread put it there, so check it now that it has changed threads. */
static int exchange_block(struct blk *b, uint64_t *rng, int self)
{
    struct slot *s = &xchg[stress_rand(rng) % NXCHG];
    pthread_mutex_lock(&s->lock);
    struct blk got = s->b;
    s->b = *b;
    pthread_mutex_unlock(&s->lock);
    *b = got;
    if (b->p == NULL)
        return 0;
    atomic_fetch_add_explicit(&moves, 1, memory_order_relaxed);
    return verify(b, self, "after moving to another thread");
}

struct worker {
    pthread_t thread;
    int self;
    uint64_t seed;
};

static void *shadow_worker(void *arg)
{
    struct worker *w = arg;
    int self = w->self;
    uint64_t rng = w->seed, next_id = ((uint64_t)self + 1) << 40;
    struct blk live[LIVE];
    memset(live, 0, sizeof live);

    size_t op;
    for (op = 0; op < ops_per_thread && !atomic_load_explicit(&stop, memory_order_relaxed); op++) {
        struct blk *b = &live[stress_rand(&rng) % LIVE];
        int rc;
        if (b->p == NULL) {
            rc = alloc_block(b, &rng, next_id++, self);
        } else {
            unsigned r = (unsigned)(stress_rand(&rng) % 100);
            if (r < 40)
                rc = free_block(b, &rng, self);
            else if (r < 60)
                rc = realloc_block(b, &rng, next_id++, self);
            else if (r < 85)
                rc = exchange_block(b, &rng, self);
            else
                rc = verify(b, self, "while held");
        }
        if (rc != 0)
            break;
    }
    atomic_fetch_add(&ops_done, op);
    if (atomic_load(&failed))
        return NULL;
    for (size_t i = 0; i < LIVE; i++)
        if (live[i].p != NULL && free_block(&live[i], &rng, self) != 0)
            break;
    return NULL;
}

static void test_shadow_model_threads(void **state)
{
    (void)state;
    atomic_store(&failed, 0);
    atomic_store(&stop, 0);
    uint64_t seed = stress_seed();
    ops_per_thread = stress_scaled(OPS_PER_THREAD);
    print_message("seed %#llx (HMALLOC_STRESS_SEED replays the per-thread choices), %d threads x "
                  "%zu operations\n",
                  (unsigned long long)seed, NTHREADS, ops_per_thread);
    for (int i = 0; i < NXCHG; i++) {
        pthread_mutex_init(&xchg[i].lock, NULL);
        xchg[i].b.p = NULL;
    }

    struct worker w[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        w[i].self = i;
        w[i].seed = seed + (uint64_t)i * 0x1234567ull;
        assert_int_equal(pthread_create(&w[i].thread, NULL, shadow_worker, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_join(w[i].thread, NULL), 0);
    assert_int_equal(atomic_load(&failed), 0);

    /* What is left in the exchange was allocated by workers that have exited since. */
    uint64_t rng = seed;
    for (int i = 0; i < NXCHG; i++) {
        struct blk *b = &xchg[i].b;
        if (b->p != NULL)
            assert_int_equal(free_block(b, &rng, -1), 0);
    }
    assert_int_equal(atomic_load(&failed), 0);
    print_message("%lu operations, %lu reallocs, %lu blocks moved between threads, %lu "
                  "cross-thread frees\n",
                  atomic_load(&ops_done), atomic_load(&reallocs_done), atomic_load(&moves),
                  atomic_load(&cross_frees));
    /* The run really did what it is meant to test. */
    assert_true(atomic_load(&ops_done) == (unsigned long)NTHREADS * ops_per_thread);
    assert_true(atomic_load(&cross_frees) > ops_per_thread / 20);
}

/* Producer/consumer: blocks allocated on one thread and freed on another must become reusable.
 * Each pair passes blocks through a single-producer single-consumer ring. */
#define RING 1024
#define PC_PAIRS 2
#define PC_BLOCKS 3000000

struct ring {
    _Alignas(64) atomic_size_t head; /* next slot the producer writes */
    _Alignas(64) atomic_size_t tail; /* next slot the consumer reads */
    _Alignas(64) struct blk slots[RING];
    size_t nblocks;
    uint64_t seed;
    int pair;
};

static void *producer(void *arg)
{
    struct ring *r = arg;
    uint64_t rng = r->seed;
    for (size_t n = 0; n < r->nblocks && !atomic_load_explicit(&stop, memory_order_relaxed); n++) {
        size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
        while (head - atomic_load_explicit(&r->tail, memory_order_acquire) == RING) {
            if (atomic_load_explicit(&stop, memory_order_relaxed))
                return NULL;
            sched_yield();
        }
        struct blk *b = &r->slots[head % RING];
        size_t size = stress_rand(&rng) % 16 == 0 ? stress_range(&rng, 1025, 32768)
                                                  : stress_range(&rng, 1, 512);
        *b = (struct blk){.size = size, .id = n, .owner = r->pair, .how = BY_MALLOC};
        b->p = launder(malloc(size));
        if (check_new(b, natural_align(size), r->pair) != 0)
            return NULL;
        fill(b);
        atomic_store_explicit(&r->head, head + 1, memory_order_release);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct ring *r = arg;
    uint64_t rng = r->seed ^ 0x5555;
    for (size_t n = 0; n < r->nblocks; n++) {
        size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        while (atomic_load_explicit(&r->head, memory_order_acquire) == tail) {
            if (atomic_load_explicit(&stop, memory_order_relaxed))
                return NULL;
            sched_yield();
        }
        struct blk *b = &r->slots[tail % RING];
        if (free_block(b, &rng, 100 + r->pair) != 0)
            return NULL;
        atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
    }
    return NULL;
}

static void run_pairs(struct ring *rings, size_t nblocks, uint64_t seed)
{
    pthread_t t[2 * PC_PAIRS];
    for (int i = 0; i < PC_PAIRS; i++) {
        memset(&rings[i], 0, sizeof rings[i]);
        rings[i].nblocks = nblocks;
        rings[i].seed = seed + (uint64_t)i;
        rings[i].pair = i;
        assert_int_equal(pthread_create(&t[2 * i], NULL, producer, &rings[i]), 0);
        assert_int_equal(pthread_create(&t[2 * i + 1], NULL, consumer, &rings[i]), 0);
    }
    for (int i = 0; i < 2 * PC_PAIRS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(atomic_load(&failed), 0);
}

static void test_producer_consumer_memory_reused(void **state)
{
    (void)state;
    static struct ring rings[PC_PAIRS];
    uint64_t seed = stress_seed();
    size_t nblocks = stress_scaled(PC_BLOCKS);
    atomic_store(&failed, 0);
    atomic_store(&stop, 0);
    atomic_store(&cross_frees, 0);

    /* Warm up: the caches and arenas reach their working size. */
    run_pairs(rings, nblocks / 10, seed);
    size_t rss0 = stress_rss();
    run_pairs(rings, nblocks, seed + 99);
    size_t rss1 = stress_rss();
    print_message("%d pairs x %zu blocks: RSS %zu -> %zu MiB\n", PC_PAIRS, nblocks, rss0 / MIB,
                  rss1 / MIB);
    assert_true(atomic_load(&cross_frees) >= (unsigned long)(PC_PAIRS * (nblocks + nblocks / 10)));
    /* At most RING blocks per pair are live at once (< 40 MiB for all pairs even if every one
     * were 32 KiB); memory that passed through must have been reused, not kept. */
    assert_true(rss1 < rss0 + 64 * MIB);
}

int main(void)
{
    stress_watchdog(300);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shadow_model_threads),
        cmocka_unit_test(test_producer_consumer_memory_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
