/* decay_test: memory freed by threads that then go idle goes back to the kernel within
 * dirty_decay_ms plus 2 s, with no hmalloc-specific call in the program.  Two threads each
 * allocate about 1 GiB of small and medium objects, each frees the other's, and both go idle;
 * resident memory must fall to at most 5% of its peak.  The test runs itself again with
 * HMALLOC_CONF=dirty_decay_ms:1000 (HMALLOC_DECAY_TEST_GIB scales the total). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* The program calls only malloc and free; in a namespaced build the name mapping makes them
 * hm_malloc and hm_free, so that it is hmalloc's decay that is measured there too. */
#define HMALLOC_UNPREFIXED
#include <hmalloc.h>

#define DECAY_MS 1000

static size_t per_thread_bytes;
static void **blocks[2];
static size_t nblocks[2];
static pthread_barrier_t barrier;

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (size_t)sysconf(_SC_PAGESIZE);
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    unsigned seed = 1234u + (unsigned)me;
    size_t cap = per_thread_bytes / 512 + 1024, n = 0, total = 0;
    void **list = mmap(NULL, cap * sizeof(void *), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (list == MAP_FAILED)
        return (void *)1;
    while (total < per_thread_bytes && n < cap) {
        seed = seed * 1103515245u + 12345u;
        size_t size = (seed >> 8) % 10 == 0 ? 16384 + (seed >> 12) % (512 << 10)
                                            : 16 + (seed >> 12) % 4096;
        char *p = malloc(size);
        if (!p)
            return (void *)1;
        memset(p, me + 1, size);
        list[n++] = p;
        total += size;
    }
    blocks[me] = list;
    nblocks[me] = n;
    pthread_barrier_wait(&barrier); /* both have allocated */
    pthread_barrier_wait(&barrier); /* main has measured the peak */
    void **other = blocks[1 - me];
    for (size_t i = 0; i < nblocks[1 - me]; i++)
        free(other[i]);
    pthread_barrier_wait(&barrier); /* both have freed */
    pthread_barrier_wait(&barrier); /* idle until main is done measuring */
    return NULL;
}

static void test_idle_threads_memory_returns(void **state)
{
    (void)state;
    const char *gib = getenv("HMALLOC_DECAY_TEST_GIB");
    per_thread_bytes = (size_t)((gib ? atof(gib) : 2.0) * (1 << 30)) / 2;
    pthread_t t[2];
    pthread_barrier_init(&barrier, NULL, 3);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i), 0);
    pthread_barrier_wait(&barrier);
    size_t peak = rss_bytes();
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < 2; i++)
        munmap(blocks[i], (per_thread_bytes / 512 + 1024) * sizeof(void *));

    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t rss = rss_bytes();
    double waited = 0;
    while (rss > peak / 20 && waited < (DECAY_MS + 2000) / 1000.0) {
        usleep(100 * 1000);
        clock_gettime(CLOCK_MONOTONIC, &now);
        waited = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        rss = rss_bytes();
    }
    printf("peak RSS %zu MiB, after %.1f s idle %zu MiB (%.1f%%)\n", peak >> 20, waited,
           rss >> 20, 100.0 * (double)rss / (double)peak);
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_true(peak > per_thread_bytes); /* the blocks really were resident */
    assert_true(rss <= peak / 20);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (!getenv("HMALLOC_CONF")) {
        setenv("HMALLOC_CONF", "dirty_decay_ms:1000", 1);
        execv("/proc/self/exe", argv);
        perror("execv");
        return 1;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_idle_threads_memory_returns)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
