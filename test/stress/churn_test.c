/* churn_test: 100,000 threads, started in waves of 64 that run at once, each allocating and
 * freeing small and large blocks, leave the process no bigger than after the first 5,000.
 *
 * A server that starts a thread per connection, or a pool that grows and shrinks, creates and
 * ends threads all day.  Each thread's cache, its arena binding and what it allocated must be
 * given back or reused when it exits, and a block allocated by a thread that has exited must be
 * freeable by another.  Each thread here allocates blocks of many sizes (some through mallocx
 * without a cache, some with calloc or posix_memalign), checks their contents, frees them, and
 * frees the block a thread of the previous wave left in its slot of a hand-off array, leaving
 * one of its own for the next wave.  The resident size (/proc/self/statm) after 5,000 threads
 * is the baseline; at the end it may be at most RSS_BOUND above it.
 *
 * HMALLOC_STRESS_SCALE=N runs N times as many threads.  Exit status 0: pass, 1: fail. */
#include "stress_common.h"

#include <pthread.h>
#include <stdbool.h>

#define KIB ((size_t)1 << 10)
#define NTHREADS 100000
#define WAVE 64
#define BASELINE_AFTER 5000
#define RSS_BOUND (16 * MIB)
#define SMALL_BLOCKS 24

static void *handoff[WAVE];
static size_t handoff_size[WAVE];
static atomic_int failed;

static void fail_msg(const char *what, size_t a, size_t b)
{
    if (!atomic_exchange(&failed, 1))
        stress_say("churn_test: %s (%zu, %zu)\n", what, a, b);
}

struct job {
    pthread_t thread;
    unsigned slot;
    uint64_t seed;
};

static void *churn_thread(void *arg)
{
    struct job *j = arg;
    uint64_t rng = j->seed;
    void *p[SMALL_BLOCKS];
    size_t n[SMALL_BLOCKS];
    for (int i = 0; i < SMALL_BLOCKS; i++) {
        n[i] = stress_range(&rng, 1, 1024);
        switch (i % 4) {
        case 0: p[i] = calloc(1, n[i]); break;
        case 1: p[i] = mallocx(n[i], MALLOCX_TCACHE_NONE); break;
        default: p[i] = malloc(n[i]); break;
        }
        if (!p[i]) {
            fail_msg("small allocation failed", n[i], (size_t)i);
            return NULL;
        }
        stress_fill(p[i], n[i], stress_key(j->seed, n[i]) + (uint64_t)i);
    }
    /* Large blocks: touched at both ends only (pages cost page faults). */
    size_t ln = stress_range(&rng, 16 * KIB + 1, 200 * KIB);
    unsigned char *large = NULL;
    if (posix_memalign((void **)&large, 64, ln) != 0) {
        fail_msg("large allocation failed", ln, 0);
        return NULL;
    }
    large[0] = 1;
    large[ln - 1] = 2;
    for (int i = 0; i < SMALL_BLOCKS; i++) {
        size_t bad = stress_check(p[i], n[i], stress_key(j->seed, n[i]) + (uint64_t)i);
        if (bad != n[i])
            fail_msg("a small block changed (size, byte)", n[i], bad);
        if (i % 3 == 0)
            free_sized(p[i], n[i]);
        else
            free(p[i]);
    }
    if (large[0] != 1 || large[ln - 1] != 2)
        fail_msg("a large block changed", ln, 0);
    free(large);
    /* The hand-off: free what an exited thread left here, leave a block for the next wave. */
    void *old = handoff[j->slot];
    if (old) {
        size_t on = handoff_size[j->slot];
        if (((unsigned char *)old)[0] != (unsigned char)on || ((unsigned char *)old)[on - 1] != 0x77)
            fail_msg("a handed-off block changed", on, 0);
        free(old);
    }
    size_t hn = stress_range(&rng, 2, 3000);
    unsigned char *h = malloc(hn);
    if (!h) {
        fail_msg("hand-off allocation failed", hn, 0);
        return NULL;
    }
    h[0] = (unsigned char)hn;
    h[hn - 1] = 0x77;
    handoff[j->slot] = h;
    handoff_size[j->slot] = hn;
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void)
{
    size_t nthreads = stress_scaled(NTHREADS);
    size_t baseline_at = nthreads < 2 * BASELINE_AFTER ? nthreads / 2 : BASELINE_AFTER;
    stress_watchdog(300);
    uint64_t rng = stress_seed();
    static struct job jobs[WAVE];
    /* Small stacks: glibc keeps them for reuse (its cache holds 40 MiB), so the test measures
     * the allocator rather than the kernel mapping and unmapping 8 MiB stacks. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 128 * KIB);
    size_t rss_base = 0, started = 0;
    double t0 = now(), t_base = t0;
    while (started < nthreads && !atomic_load(&failed)) {
        unsigned wave = nthreads - started < WAVE ? (unsigned)(nthreads - started) : WAVE;
        for (unsigned i = 0; i < wave; i++) {
            jobs[i].slot = i;
            jobs[i].seed = stress_rand(&rng);
            int err = pthread_create(&jobs[i].thread, &attr, churn_thread, &jobs[i]);
            if (err) {
                stress_say("churn_test: pthread_create failed (error %d) after %zu threads\n", err,
                           started + i);
                return 1;
            }
        }
        for (unsigned i = 0; i < wave; i++)
            pthread_join(jobs[i].thread, NULL);
        size_t before = started;
        started += wave;
        if (before < baseline_at && started >= baseline_at) {
            rss_base = stress_rss();
            t_base = now();
        }
    }
    double t1 = now();
    size_t rss_end = stress_rss();
    for (unsigned i = 0; i < WAVE; i++)
        free(handoff[i]);
    if (atomic_load(&failed))
        return 1;
    printf("churn_test: %zu threads in %.1f s (%.0f threads/s); RSS after %zu threads %zu KiB, "
           "at the end %zu KiB (growth %ld KiB, bound %zu KiB)\n",
           started, t1 - t0, (double)started / (t1 - t0), baseline_at, rss_base / KIB,
           rss_end / KIB, ((long)rss_end - (long)rss_base) / 1024, RSS_BOUND / KIB);
    (void)t_base;
    if (rss_base == 0 || rss_end == 0) {
        printf("churn_test: /proc/self/statm unreadable\n");
        return 1;
    }
    if (rss_end > rss_base + RSS_BOUND) {
        printf("churn_test: FAILED: the resident size grew by %zu KiB (bound %zu KiB)\n",
               (rss_end - rss_base) / KIB, RSS_BOUND / KIB);
        return 1;
    }
    return 0;
}
