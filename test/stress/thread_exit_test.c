/* thread_exit_test: a program that starts and ends thousands of threads does not grow.
 *
 * Servers with thread pools that come and go, and programs that start a thread per task, rely on
 * memory that an exited thread cached (its thread cache) or left behind being reused.  Thousands
 * of short-lived threads each allocate and free blocks of many sizes, leave some blocks for the
 * main thread to free after they are gone, hand some to a collector thread that frees them while
 * they are exiting, and some free and allocate inside their own thread-specific-data
 * destructors, which run after the allocator's own thread-exit cleanup may have.  The resident
 * size after the run is compared with the size after a warm-up: if each exiting thread kept its
 * cache, its metadata or what it allocated while exiting, the process would grow by a little
 * per thread, which over thousands of threads is far more than the bound. */
#include "stress_common.h"

#include <pthread.h>
#include <setjmp.h>
#include <cmocka.h>

#define NTHREADS 20000
#define WARMUP 500
#define BATCH 8   /* threads alive at once */
#define LEFT 3    /* blocks each thread leaves for the main thread */
#define LOCAL 160 /* blocks each thread allocates and frees itself */
#define RSS_SLACK (32 * MIB)

struct job {
    pthread_t thread;
    uint64_t seed;
    int id;
    int failed;
    void *left[LEFT];
    size_t left_size[LEFT];
};

static pthread_key_t late_key;
static atomic_ulong late_runs;
static atomic_int late_failed;

/* Blocks handed to the collector: [next][size][pattern...], freed as soon as they arrive, which
 * is often while the thread that allocated them is exiting. */
#define HANDOFF 2
struct handoff {
    struct handoff *next;
    size_t size;
};
static pthread_mutex_t handoff_lock = PTHREAD_MUTEX_INITIALIZER;
static struct handoff *handoff_head;
static atomic_int collector_stop;
static atomic_ulong collected;

static uint64_t handoff_key(const struct handoff *h) { return stress_key((uintptr_t)h, h->size); }

static int hand_off(size_t size)
{
    struct handoff *h = malloc(size);
    if (h == NULL)
        return -1;
    h->size = size;
    stress_fill(h + 1, size - sizeof *h, handoff_key(h));
    pthread_mutex_lock(&handoff_lock);
    h->next = handoff_head;
    handoff_head = h;
    pthread_mutex_unlock(&handoff_lock);
    return 0;
}

static void *collector(void *arg)
{
    (void)arg;
    for (;;) {
        int stopping = atomic_load(&collector_stop);
        pthread_mutex_lock(&handoff_lock);
        struct handoff *h = handoff_head;
        handoff_head = NULL;
        pthread_mutex_unlock(&handoff_lock);
        if (h == NULL) {
            if (stopping)
                return NULL;
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
            continue;
        }
        while (h != NULL) {
            struct handoff *next = h->next;
            size_t body = h->size - sizeof *h;
            if (stress_check(h + 1, body, handoff_key(h)) != body)
                atomic_store(&late_failed, 1);
            free(h);
            atomic_fetch_add(&collected, 1);
            h = next;
        }
    }
}

static size_t thread_size(uint64_t *rng)
{
    unsigned r = (unsigned)(stress_rand(rng) % 100);
    if (r < 70)
        return stress_range(rng, 1, 512);
    if (r < 95)
        return stress_range(rng, 513, 16384);
    return stress_range(rng, 16385, 64 * 1024);
}

/* Runs at thread exit, after (or before: the order of destructors is not ours to choose) the
 * allocator's own cleanup.  The block it was given must still be intact and freeable, and
 * malloc and free must still work there. */
static void late_destructor(void *arg)
{
    unsigned char *p = arg;
    size_t size;
    memcpy(&size, p, sizeof size);
    if (stress_check(p + 8, size - 8, stress_key((uintptr_t)p, size)) != size - 8)
        atomic_store(&late_failed, 1);
    free(p);
    for (size_t n = 8; n <= 40000; n = n * 3 + 1) {
        unsigned char *q = malloc(n);
        if (q == NULL) {
            atomic_store(&late_failed, 1);
            return;
        }
        memset(q, 0xa5, n);
        free(q);
    }
    atomic_fetch_add(&late_runs, 1);
}

static void *short_lived(void *arg)
{
    struct job *j = arg;
    uint64_t rng = j->seed;
    void *v[LOCAL];
    size_t sz[LOCAL];

    /* Enough blocks of enough classes to fill a thread cache, freed so that they sit in it. */
    for (int i = 0; i < LOCAL; i++) {
        sz[i] = thread_size(&rng);
        v[i] = malloc(sz[i]);
        if (v[i] == NULL) {
            j->failed = 1;
            return NULL;
        }
        stress_fill(v[i], sz[i], stress_key((uint64_t)j->id << 16 | (uint64_t)i, sz[i]));
    }
    for (int i = 0; i < LOCAL; i++) {
        if (stress_check(v[i], sz[i], stress_key((uint64_t)j->id << 16 | (uint64_t)i, sz[i])) !=
            sz[i])
            j->failed = 1;
        free(v[i]);
    }
    /* A second round reuses what the first freed. */
    for (int i = 0; i < LOCAL / 2; i++) {
        v[i] = malloc(sz[i]);
        if (v[i] == NULL) {
            j->failed = 1;
            return NULL;
        }
        memset(v[i], i, sz[i]);
    }
    for (int i = 0; i < LOCAL / 2; i++)
        free(v[i]);

    /* Blocks that outlive the thread: the main thread checks and frees them. */
    for (int i = 0; i < LEFT; i++) {
        j->left_size[i] = thread_size(&rng);
        j->left[i] = malloc(j->left_size[i]);
        if (j->left[i] == NULL) {
            j->failed = 1;
            return NULL;
        }
        stress_fill(j->left[i], j->left_size[i],
                    stress_key((uintptr_t)j->left[i], j->left_size[i]));
    }

    for (int i = 0; i < HANDOFF; i++) {
        if (hand_off(stress_range(&rng, sizeof(struct handoff), 4000)) != 0) {
            j->failed = 1;
            return NULL;
        }
    }

    /* Every other thread frees and allocates from a destructor at exit. */
    if (j->id % 2 == 0) {
        size_t n = stress_range(&rng, 16, 3000);
        unsigned char *p = malloc(n);
        if (p == NULL) {
            j->failed = 1;
            return NULL;
        }
        memcpy(p, &n, sizeof n);
        stress_fill(p + 8, n - 8, stress_key((uintptr_t)p, n));
        pthread_setspecific(late_key, p);
    }
    return NULL;
}

/* Run threads [first, last) in batches; the main thread frees what they left. */
static void run_threads(int first, int last, uint64_t seed)
{
    struct job jobs[BATCH];
    for (int base = first; base < last; base += BATCH) {
        int n = last - base < BATCH ? last - base : BATCH;
        for (int i = 0; i < n; i++) {
            jobs[i] = (struct job){.seed = seed + (uint64_t)(base + i), .id = base + i};
            assert_int_equal(pthread_create(&jobs[i].thread, NULL, short_lived, &jobs[i]), 0);
        }
        for (int i = 0; i < n; i++) {
            assert_int_equal(pthread_join(jobs[i].thread, NULL), 0);
            assert_int_equal(jobs[i].failed, 0);
            for (int k = 0; k < LEFT; k++) {
                void *p = jobs[i].left[k];
                size_t size = jobs[i].left_size[k];
                assert_int_equal(stress_check(p, size, stress_key((uintptr_t)p, size)), size);
                free(p);
            }
        }
    }
    assert_int_equal(atomic_load(&late_failed), 0);
}

static void test_many_threads_rss_bounded(void **state)
{
    (void)state;
    uint64_t seed = stress_seed();
    int nthreads = (int)stress_scaled(NTHREADS);
    if (nthreads < 2 * WARMUP)
        nthreads = 2 * WARMUP;
    assert_int_equal(pthread_key_create(&late_key, late_destructor), 0);
    pthread_t coll;
    assert_int_equal(pthread_create(&coll, NULL, collector, NULL), 0);

    run_threads(0, WARMUP, seed);
    size_t rss0 = stress_rss();
    run_threads(WARMUP, nthreads, seed);
    atomic_store(&collector_stop, 1);
    assert_int_equal(pthread_join(coll, NULL), 0);
    assert_int_equal(atomic_load(&late_failed), 0);
    assert_int_equal(atomic_load(&collected), (unsigned long)nthreads * HANDOFF);
    size_t rss1 = stress_rss();

    print_message("%d threads: RSS after %d: %zu KiB, after all: %zu KiB (%+ld KiB); %lu "
                  "destructors allocated at exit\n",
                  nthreads, WARMUP, rss0 >> 10, rss1 >> 10, ((long)rss1 - (long)rss0) / 1024,
                  atomic_load(&late_runs));
    assert_true(atomic_load(&late_runs) >= (unsigned long)nthreads / 2);
    assert_true(rss1 < rss0 + RSS_SLACK);
}

/* Memory a thread allocated and the main thread freed after the thread had exited is reused:
 * blocks left behind by dead threads are not stranded in an arena or a cache no one allocates
 * from.  Each round a new thread allocates about 4 MB in small blocks and exits; the main thread
 * checks and frees them.  Warm-up rounds let every arena get its share first (new threads may be
 * spread over the arenas in turn, and memory freed into one is reused when a thread next lands
 * there); after that the process must not grow by 4 MB a round. */
#define DEAD_ROUNDS 36 /* measured, after the warm-up */
#define DEAD_WARMUP 24 /* at least; two rounds an arena when there are more */
#define DEAD_BLOCKS 4000
#define DEAD_SIZE 1000

struct dead_job {
    void *blocks[DEAD_BLOCKS];
    int round;
    int failed;
};

static uint64_t dead_key(const struct dead_job *d, int i)
{
    return stress_key((uint64_t)d->round << 32 | (uint64_t)i, DEAD_SIZE);
}

static void *allocate_and_exit(void *arg)
{
    struct dead_job *d = arg;
    for (int i = 0; i < DEAD_BLOCKS; i++) {
        d->blocks[i] = malloc(DEAD_SIZE);
        if (d->blocks[i] == NULL) {
            d->failed = 1;
            return NULL;
        }
        stress_fill(d->blocks[i], DEAD_SIZE, dead_key(d, i));
    }
    return NULL;
}

/* How many arenas threads are spread over: hmalloc says (HMALLOC_CONF=narenas:N changes it);
 * otherwise assume the usual four per CPU. */
static int narenas(void)
{
#ifdef HMALLOC_VERSION
    unsigned n = 0;
    size_t len = sizeof n;
    if (mallctl("opt.narenas", &n, &len, NULL, 0) == 0 && n > 0)
        return (int)n;
#endif
    return 4 * (int)sysconf(_SC_NPROCESSORS_ONLN);
}

static void test_blocks_of_dead_threads_reused(void **state)
{
    (void)state;
    static struct dead_job d;
    int warmup = 2 * narenas() > DEAD_WARMUP ? 2 * narenas() : DEAD_WARMUP;
    int rounds = warmup + (int)stress_scaled(DEAD_ROUNDS);
    size_t rss0 = 0;
    for (int round = 0; round < rounds; round++) {
        if (round == warmup)
            rss0 = stress_rss();
        memset(&d, 0, sizeof d);
        d.round = round;
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, allocate_and_exit, &d), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(d.failed, 0);
        for (int i = 0; i < DEAD_BLOCKS; i++) {
            assert_int_equal(stress_check(d.blocks[i], DEAD_SIZE, dead_key(&d, i)), DEAD_SIZE);
            free(d.blocks[i]);
        }
    }
    size_t rss1 = stress_rss();
    print_message(
        "%d rounds of %d KB freed after their thread exited: RSS after %d rounds %zu KiB, "
        "after all %zu KiB (%+ld KiB)\n",
        rounds, DEAD_BLOCKS * DEAD_SIZE / 1000, warmup, rss0 >> 10, rss1 >> 10,
        ((long)rss1 - (long)rss0) / 1024);
    assert_true(rss1 < rss0 + RSS_SLACK);
}

int main(void)
{
    stress_watchdog(300);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_threads_rss_bounded),
        cmocka_unit_test(test_blocks_of_dead_threads_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
