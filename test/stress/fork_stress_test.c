/* fork_stress_test: fork() while other threads are in the middle of malloc and free.
 *
 * A multi-threaded program may fork at any moment, and the child (a shell-out, a worker
 * process, Python's multiprocessing) goes on allocating.  The allocator's locks may be held by
 * threads that do not exist in the child, so unless fork is handled (atfork handlers that take
 * every lock before fork and release or reset them after), the child deadlocks or finds broken
 * state.  Worker threads allocate, free and pass blocks between themselves all the time; the
 * main thread (and sometimes a worker) forks repeatedly.  Each child must be able to use every
 * size category, free blocks that existed before the fork (its parent's and other threads'),
 * start a thread that allocates, and fork again; it has a few seconds (alarm) to finish, so a
 * deadlock fails the test instead of hanging it.  The parent must go on unharmed too. */
#include "stress_common.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/wait.h>
#include <cmocka.h>

#define NWORKERS 2 /* plus the forking main thread: busy, yet the children get CPU */
#define NSLOTS 512 /* blocks shared by the workers (and inherited by the children) */
#define NFORKS 100
#define WORKER_FORKS 10  /* forks done by worker 0 while the others allocate */
#define CHILD_SECONDS 30 /* a child needs well under a second; this only catches a deadlock */

struct shared_blk {
    atomic_uintptr_t p; /* 0 or a block whose first 8 bytes hold its size; filled after that */
};

static struct shared_blk slots[NSLOTS];
static atomic_int stop;
static atomic_int paused; /* workers idle while a child runs: it needs the CPU */
static atomic_int worker_failed;
static atomic_ulong worker_ops;

static uint64_t blk_key(uintptr_t p, size_t size) { return stress_key((uint64_t)p, size); }

/* A shared block is [size][pattern...]: whoever takes it (another thread, a child) can check it
 * with nothing but the pointer.  Past 256 KiB only the first and last 64 KiB carry the pattern:
 * after a fork every page written costs a copy-on-write fault, and the ends are what a wrong
 * size or an overlap would hit. */
#define SPAN (64 * 1024)

static void pattern_parts(size_t size, size_t *head, size_t *tail_off)
{
    *head = size - 8;
    *tail_off = size;
    if (size > 4 * SPAN) {
        *head = SPAN;
        *tail_off = size - SPAN;
    }
}

static void *make_block(size_t size)
{
    if (size < 16)
        size = 16;
    unsigned char *p = malloc(size);
    if (p == NULL)
        return NULL;
    memcpy(p, &size, sizeof size);
    uint64_t key = blk_key((uintptr_t)p, size);
    size_t head, tail_off;
    pattern_parts(size, &head, &tail_off);
    stress_fill(p + 8, head, key);
    stress_fill(p + tail_off, size - tail_off, ~key);
    return p;
}

/* 0 when the block is intact. */
static int check_block(const unsigned char *p)
{
    size_t size;
    memcpy(&size, p, sizeof size);
    if (size < 16 || size > 64 * MIB)
        return -1;
    uint64_t key = blk_key((uintptr_t)p, size);
    size_t head, tail_off;
    pattern_parts(size, &head, &tail_off);
    if (stress_check(p + 8, head, key) != head)
        return -1;
    return stress_check(p + tail_off, size - tail_off, ~key) == size - tail_off ? 0 : -1;
}

static size_t worker_size(uint64_t *rng)
{
    /* Mostly small: after each fork every page the parent writes is copied (a costly fault), so
     * a small working set buys many more operations, and so more locks held at fork time. */
    unsigned r = (unsigned)(stress_rand(rng) % 1000);
    if (r < 900)
        return stress_range(rng, 1, 512);
    if (r < 999)
        return stress_range(rng, 513, 40 * 1024);
    return stress_range(rng, 1 * MIB, 5 * MIB); /* keeps the large and huge paths busy too */
}

static int child_work(int fork_again);

/* Fork, let the child work (and fork a grandchild when fork_again), and return 0 when it
 * exited 0.  With pause_workers, the workers (busy up to the fork) idle until the child is done. */
static int fork_and_check(int fork_again, int pause_workers)
{
    pid_t pid = fork();
    if (pid < 0) {
        stress_say("fork_stress: fork failed: errno %d\n", errno);
        return -1;
    }
    if (pid == 0) {
        alarm(CHILD_SECONDS);
        _exit(child_work(fork_again));
    }
    if (pause_workers)
        atomic_store(&paused, 1);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFSIGNALED(status)) {
        stress_say("fork_stress: child %d killed by signal %d%s\n", (int)pid, WTERMSIG(status),
                   WTERMSIG(status) == SIGALRM ? " (deadlocked, or stuck for 30 s)" : "");
        return -1;
    }
    if (WEXITSTATUS(status) != 0) {
        stress_say("fork_stress: child %d failed check %d\n", (int)pid, WEXITSTATUS(status));
        return -1;
    }
    return 0;
}

static void *worker(void *arg)
{
    int self = (int)(intptr_t)arg;
    uint64_t rng = stress_seed() + (uint64_t)self * 7919;
    void *mine[64] = {0};
    unsigned long ops = 0;
    int forks_left = self == 0 ? (int)stress_scaled(WORKER_FORKS) : 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        if (atomic_load_explicit(&paused, memory_order_relaxed)) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
            continue;
        }
        ops++;
        unsigned r = (unsigned)(stress_rand(&rng) % 100);
        if (r < 45) { /* private malloc/realloc/free */
            void **m = &mine[stress_rand(&rng) % 64];
            if (*m == NULL) {
                *m = malloc(worker_size(&rng));
            } else if (r < 15) {
                void *q = realloc(*m, worker_size(&rng));
                if (q != NULL)
                    *m = q;
            } else {
                free(*m);
                *m = NULL;
            }
        } else if (r < 99) { /* swap a checked block with the shared slots: cross-thread frees */
            struct shared_blk *s = &slots[stress_rand(&rng) % NSLOTS];
            void *nb = make_block(worker_size(&rng));
            if (nb == NULL) {
                stress_say("fork_stress: worker %d: malloc failed\n", self);
                atomic_store(&worker_failed, 1);
                break;
            }
            unsigned char *old = (void *)atomic_exchange(&s->p, (uintptr_t)nb);
            if (old != NULL) {
                if (check_block(old) != 0) {
                    stress_say("fork_stress: worker %d: shared block %p corrupted\n", self,
                               (void *)old);
                    atomic_store(&worker_failed, 1);
                    break;
                }
                free(old);
            }
        } else if (forks_left > 0 && stress_rand(&rng) % 200 == 0) {
            forks_left--;
            if (fork_and_check(0, 0) != 0) {
                atomic_store(&worker_failed, 1);
                break;
            }
        }
    }
    for (int i = 0; i < 64; i++)
        free(mine[i]);
    atomic_fetch_add(&worker_ops, ops);
    return NULL;
}

static void *child_thread(void *arg)
{
    (void)arg;
    void *v[256];
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 256; i++) {
            v[i] = make_block((size_t)(i * 37 + round) % 3000 + 1);
            if (v[i] == NULL)
                return (void *)1;
        }
        for (int i = 0; i < 256; i++) {
            if (check_block(v[i]) != 0)
                return (void *)2;
            free(v[i]);
        }
    }
    return NULL;
}

/* Everything a child does; returns its exit status: 0, or the number of the check that failed. */
static int child_work(int fork_again)
{
    /* Every size category, each block written and freed. */
    static const size_t sizes[] = {1,    8,     16,    24,    100,    512,     1000,    4096,
                                   8192, 14336, 16384, 65536, 100000, 1 << 20, 3 << 20, 8 << 20};
    void *held[sizeof sizes / sizeof sizes[0]];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        held[i] = make_block(sizes[i]);
        if (held[i] == NULL)
            return 10;
    }
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (check_block(held[i]) != 0)
            return 11;
        free(held[i]);
    }

    /* Many small blocks of every class, freed in another order than allocated. */
    enum { NSMALL = 2000 };
    static void *small[NSMALL];
    for (int i = 0; i < NSMALL; i++)
        if ((small[i] = make_block((size_t)(i * 13) % 2048 + 1)) == NULL)
            return 12;
    for (int i = 0; i < NSMALL; i += 2)
        free(small[i]);
    for (int i = 1; i < NSMALL; i += 2) {
        if (check_block(small[i]) != 0)
            return 13;
        free(small[i]);
    }

    /* calloc must give zeros even where the parent had memory that it freed. */
    for (size_t n = 1; n <= (size_t)8 << 20; n *= 4) {
        unsigned char *z = calloc(1, n);
        if (z == NULL)
            return 14;
        size_t head = n < 4 * SPAN ? n : SPAN;
        if (stress_check_zero(z, head) != head || stress_check_zero(z + n - head, head) != head)
            return 15;
        free(z);
    }

    /* realloc through all size categories keeps the contents. */
    unsigned char *r = malloc(1);
    if (r == NULL)
        return 16;
    r[0] = 8; /* what the loop writes at the end of a 1-byte block */
    for (size_t prev = 1, n = 3; n <= (size_t)8 << 20; prev = n, n *= 3) {
        unsigned char *q = realloc(r, n);
        if (q == NULL)
            return 17;
        if (q[0] != 8 || q[prev - 1] != (unsigned char)(prev * 7 + 1))
            return 18;
        r = q;
        r[n - 1] = (unsigned char)(n * 7 + 1);
    }
    free(r);

    void *a = NULL;
    if (posix_memalign(&a, 4096, 10000) != 0 || (uintptr_t)a % 4096 != 0)
        return 19;
    free(a);
    if ((a = aligned_alloc(1 << 16, 1 << 16)) == NULL || (uintptr_t)a % (1 << 16) != 0)
        return 20;
    free(a);

    /* Blocks that existed at the fork, allocated by the workers (which do not exist here) or by
     * the forking thread, are intact and can be freed. */
    for (int i = 0; i < NSLOTS; i++) {
        unsigned char *p = (void *)atomic_exchange(&slots[i].p, 0);
        if (p != NULL) {
            if (check_block(p) != 0)
                return 21;
            free(p);
        }
    }

    /* A new thread in the child allocates and frees, and so does this one after it. */
    pthread_t t;
    void *ret;
    if (pthread_create(&t, NULL, child_thread, NULL) != 0)
        return 22;
    if (pthread_join(t, &ret) != 0 || ret != NULL)
        return 23;
    if (child_thread(NULL) != NULL)
        return 24;

    /* And the child can fork in turn. */
    if (fork_again && fork_and_check(0, 0) != 0)
        return 25;
    return 0;
}

static void test_fork_while_threads_allocate(void **state)
{
    (void)state;
    pthread_t t[NWORKERS];
    for (int i = 0; i < NWORKERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i), 0);

    size_t nforks = stress_scaled(NFORKS);
    int child_failures = 0;
    uint64_t rng = stress_seed();
    for (size_t f = 0; f < nforks && !atomic_load(&worker_failed); f++) {
        /* Let the workers run into the middle of things, then fork with this thread's own
         * blocks in flight too. */
        struct timespec ts = {0, (long)stress_range(&rng, 1, 20) * 1000000L};
        void *mine[32];
        for (int i = 0; i < 32; i++)
            mine[i] = make_block(stress_range(&rng, 1, 70000));
        nanosleep(&ts, NULL);
        for (int i = 0; i < 32; i++) {
            if (mine[i] != NULL) {
                uintptr_t old =
                    atomic_exchange(&slots[stress_rand(&rng) % NSLOTS].p, (uintptr_t)mine[i]);
                if (old != 0)
                    free((void *)old);
            }
        }
        if (fork_and_check(f % 5 == 0, 1) != 0) {
            child_failures++;
            break; /* one is enough; the next may well hang as long */
        }
        atomic_store(&paused, 0);
    }

    atomic_store(&stop, 1);
    for (int i = 0; i < NWORKERS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    print_message("%zu forks from the main thread (+ up to %zu from a worker), %lu worker "
                  "operations\n",
                  nforks, stress_scaled(WORKER_FORKS), atomic_load(&worker_ops));
    assert_int_equal(child_failures, 0);
    assert_int_equal(atomic_load(&worker_failed), 0);

    /* The parent's blocks survived all the forks, and its allocator still works. */
    for (int i = 0; i < NSLOTS; i++) {
        unsigned char *p = (void *)atomic_exchange(&slots[i].p, 0);
        if (p != NULL) {
            assert_int_equal(check_block(p), 0);
            free(p);
        }
    }
    void *big = malloc(8 * MIB);
    assert_non_null(big);
    memset(big, 1, 8 * MIB);
    free(big);
}

int main(void)
{
    stress_watchdog(240);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_while_threads_allocate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
