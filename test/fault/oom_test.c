/* oom_test: running out of memory is an error the program can handle, not a crash.
 *
 * Under a limit on address space (ulimit -v, RLIMIT_AS: batch schedulers and sandboxes set it)
 * the system refuses mappings, and every allocation function must then fail the standard way:
 * NULL with errno ENOMEM (posix_memalign: the return value ENOMEM), with the arguments of a failed
 * realloc left intact, without aborting, printing or leaving a lock held.  A program that frees
 * memory after such a failure must be able to allocate again, large blocks as well as small ones.
 * Each test runs in a forked child (so the limit stays there) with an alarm (so a lock left held
 * fails the test rather than hanging it); the child reports through its exit status. */
#include "../stress/stress_common.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <cmocka.h>

#define HEADROOM (256 * MIB) /* address space the child may add to what it has */
#define CHILD_SECONDS 60

/* In the child: report a failed check and make the child exit non-zero. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            stress_say("oom_test: line %d: check failed: %s (errno %d)\n", __LINE__, #cond,        \
                       errno);                                                                     \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/* Run fn in a forked child under an alarm; assert that it exited 0. */
static void run_in_child(int (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(CHILD_SECONDS);
        _exit(fn());
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        print_error("child killed by signal %d%s\n", WTERMSIG(status),
                    WTERMSIG(status) == SIGALRM ? " (stuck: a lock left held after a failure?)"
                                                : "");
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Let the process map at most HEADROOM more than it has now. */
static int limit_address_space(void)
{
    size_t vm = stress_vmsize();
    if (vm == 0)
        return -1;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0)
        return -1;
    rl.rlim_cur = vm + HEADROOM;
    return setrlimit(RLIMIT_AS, &rl);
}

/* The blocks a test holds, chained through their own first bytes (no memory needed to track
 * them when there is none).  Each carries its size and a pattern (only the first and last 4 KiB
 * of a big block, to keep the run fast) that is checked before it is freed. */
struct node {
    struct node *next;
    size_t size;
};

struct held {
    struct node *head;
    size_t count;
    size_t bytes;
};

#define MIN_BLOCK sizeof(struct node)
#define EDGE 4096

static uint64_t node_key(const struct node *n) { return stress_key((uintptr_t)n, n->size); }

static void hold(struct held *h, void *p, size_t size)
{
    struct node *n = p;
    n->next = h->head;
    n->size = size;
    h->head = n;
    h->count++;
    h->bytes += size;
    unsigned char *b = p;
    size_t body = size - MIN_BLOCK;
    if (body <= 2 * EDGE) {
        stress_fill(b + MIN_BLOCK, body, node_key(n));
    } else {
        stress_fill(b + MIN_BLOCK, EDGE, node_key(n));
        stress_fill(b + size - EDGE, EDGE, ~node_key(n));
    }
}

static int node_intact(const struct node *n)
{
    const unsigned char *b = (const unsigned char *)n;
    size_t body = n->size - MIN_BLOCK;
    if (body <= 2 * EDGE)
        return stress_check(b + MIN_BLOCK, body, node_key(n)) == body;
    return stress_check(b + MIN_BLOCK, EDGE, node_key(n)) == EDGE &&
           stress_check(b + n->size - EDGE, EDGE, ~node_key(n)) == EDGE;
}

/* Check and free everything held; 0 when all were intact. */
static int release(struct held *h)
{
    int bad = 0;
    while (h->head != NULL) {
        struct node *n = h->head;
        h->head = n->next;
        if (!node_intact(n))
            bad = 1;
        free(n);
    }
    h->count = h->bytes = 0;
    return bad ? -1 : 0;
}

/* The most blocks of `size` that could fit in the headroom, and then some: a loop that gets more
 * than this never fails, which is a failure of the test. */
static size_t cap_for(size_t size) { return 2 * HEADROOM / size + 1000; }

/* Allocate blocks of `size` with malloc until it fails; 0 when it failed properly. */
static int exhaust_malloc(struct held *h, size_t size, size_t *got)
{
    size_t n = 0;
    for (;; n++) {
        CHECK(n < cap_for(size));
        errno = 0;
        void *p = malloc(size);
        if (p == NULL) {
            CHECK(errno == ENOMEM);
            break;
        }
        hold(h, p, size);
    }
    if (got)
        *got = n;
    return 0;
}

/* Small blocks of varying sizes until malloc fails. */
static int exhaust_small(struct held *h, size_t *bytes)
{
    size_t before = h->bytes;
    for (size_t i = 0;; i++) {
        size_t size = MIN_BLOCK + (i * 67) % 1009;
        CHECK(i < cap_for(MIN_BLOCK));
        errno = 0;
        void *p = malloc(size);
        if (p == NULL) {
            CHECK(errno == ENOMEM);
            break;
        }
        hold(h, p, size);
    }
    *bytes = h->bytes - before;
    return 0;
}

/* At exhaustion: every allocation function, called until it fails, fails properly. */
static int every_function_fails_cleanly(struct held *h)
{
    static const size_t sizes[] = {1, 8, 100, 3000, 20000, 300000, 5 * MIB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t size = sizes[i] < MIN_BLOCK ? MIN_BLOCK : sizes[i];
        if (exhaust_malloc(h, size, NULL) != 0)
            return 1;
    }

    static const size_t calloc_sizes[] = {64, 5000, 1 * MIB};
    for (size_t i = 0; i < sizeof calloc_sizes / sizeof calloc_sizes[0]; i++) {
        size_t size = calloc_sizes[i];
        for (size_t n = 0;; n++) {
            CHECK(n < cap_for(size));
            errno = 0;
            unsigned char *p = n % 2 ? calloc(size / 16, 16) : calloc(1, size);
            if (p == NULL) {
                CHECK(errno == ENOMEM);
                break;
            }
            size_t edge = size < EDGE ? size : EDGE;
            CHECK(stress_check_zero(p, edge) == edge);
            CHECK(stress_check_zero(p + size - edge, edge) == edge);
            hold(h, p, size);
        }
    }

    static const size_t aligns[][2] = {
        {64, 100}, {4096, 8192}, {1 * MIB, 1 * MIB}, {2 * MIB, 3 * MIB}};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        size_t align = aligns[i][0], size = aligns[i][1];
        for (size_t n = 0;; n++) {
            CHECK(n < cap_for(size));
            void *p = NULL;
            int err = posix_memalign(&p, align, size);
            if (err != 0) {
                CHECK(err == ENOMEM);
                break;
            }
            CHECK((uintptr_t)p % align == 0);
            hold(h, p, size);
        }
        for (size_t n = 0;; n++) {
            CHECK(n < cap_for(size));
            errno = 0;
            void *p = aligned_alloc(align, size);
            if (p == NULL) {
                CHECK(errno == ENOMEM);
                break;
            }
            CHECK((uintptr_t)p % align == 0);
            hold(h, p, size);
        }
    }
    return 0;
}

/* A block for realloc_fails_cleanly, allocated while there is memory. */
static unsigned char *realloc_victim(size_t size)
{
    unsigned char *p = malloc(size);
    if (p != NULL)
        stress_fill(p, size, stress_key(1, size));
    return p;
}

/* Grow the victim with realloc until that fails: the failure leaves the block as it was. */
static int realloc_fails_cleanly(unsigned char *p, size_t size)
{
    CHECK(stress_check(p, size, stress_key(1, size)) == size);
    for (size_t n = 0;; n++) {
        CHECK(n < 64);
        size_t bigger = size * 2;
        errno = 0;
        unsigned char *q = realloc(p, bigger);
        if (q == NULL) {
            CHECK(errno == ENOMEM);
            CHECK(stress_check(p, size, stress_key(1, size)) == size);
            CHECK(malloc_usable_size(p) >= size);
            break;
        }
        CHECK(stress_check(q, size, stress_key(1, size)) == size);
        p = q;
        size = bigger;
        stress_fill(p, size, stress_key(1, size));
    }
    free(p);
    return 0;
}

/* After everything was freed, large and small blocks can be had again. */
static int allocates_again(void)
{
    unsigned char *big = malloc(8 * MIB);
    CHECK(big != NULL);
    memset(big, 0x3c, 8 * MIB);
    unsigned char *z = calloc(1, 1 * MIB);
    CHECK(z != NULL);
    CHECK(stress_check_zero(z, 1 * MIB) == 1 * MIB);
    void *a = NULL;
    CHECK(posix_memalign(&a, 2 * MIB, 2 * MIB) == 0);
    struct held h = {0};
    for (int i = 0; i < 20000; i++) {
        size_t size = MIN_BLOCK + (size_t)(i * 131) % 2000;
        void *p = malloc(size);
        CHECK(p != NULL);
        hold(&h, p, size);
    }
    unsigned char *r = malloc(10);
    CHECK(r != NULL);
    memset(r, 0x11, 10);
    unsigned char *r2 = realloc(r, 6 * MIB);
    CHECK(r2 != NULL);
    CHECK(r2[0] == 0x11 && r2[9] == 0x11);
    CHECK(big[0] == 0x3c && big[8 * MIB - 1] == 0x3c);
    free(r2);
    free(a);
    free(z);
    free(big);
    CHECK(release(&h) == 0);
    return 0;
}

static int oom_every_size_and_function(void)
{
    /* Blocks held from before the limit: they must come through intact. */
    struct held before = {0};
    for (size_t size = MIN_BLOCK; size <= 256 * 1024; size *= 2) {
        void *p = malloc(size);
        CHECK(p != NULL);
        hold(&before, p, size);
    }
    unsigned char *victim = realloc_victim(1000);
    CHECK(victim != NULL);

    CHECK(limit_address_space() == 0);
    struct held h = {0};
    size_t n64, n1, small_bytes;
    if (exhaust_malloc(&h, 64 * MIB, &n64) != 0 || exhaust_malloc(&h, 1 * MIB, &n1) != 0 ||
        exhaust_small(&h, &small_bytes) != 0)
        return 1;
    stress_say("oom_test: %zu MiB headroom: %zu x 64 MiB, %zu x 1 MiB, then %zu KiB in small "
               "blocks\n",
               HEADROOM / MIB, n64, n1, small_bytes >> 10);
    /* The limit, not the allocator, stopped us: most of the headroom was handed out. */
    CHECK(n64 >= 2);
    CHECK(h.bytes >= HEADROOM / 2);

    if (every_function_fails_cleanly(&h) != 0 || realloc_fails_cleanly(victim, 1000) != 0)
        return 1;

    CHECK(release(&h) == 0);
    if (allocates_again() != 0)
        return 1;

    /* A second time round: memory freed after the first failure serves as much again. */
    victim = realloc_victim(100000);
    CHECK(victim != NULL);
    if (exhaust_malloc(&h, 1 * MIB, &n1) != 0 || exhaust_small(&h, &small_bytes) != 0)
        return 1;
    stress_say("oom_test: second round: %zu x 1 MiB, then %zu KiB in small blocks\n", n1,
               small_bytes >> 10);
    CHECK(h.bytes >= HEADROOM / 2);
    if (realloc_fails_cleanly(victim, 100000) != 0)
        return 1;
    CHECK(release(&h) == 0);
    if (allocates_again() != 0)
        return 1;

    CHECK(release(&before) == 0);
    return 0;
}

/* Memory filled up with small blocks only, then freed: it can serve large blocks again (it is
 * not kept reserved for small ones while the limit refuses new mappings). */
static int oom_small_then_large(void)
{
    CHECK(limit_address_space() == 0);
    struct held h = {0};
    size_t small_bytes;
    if (exhaust_small(&h, &small_bytes) != 0)
        return 1;
    stress_say("oom_test: %zu KiB in small blocks alone\n", small_bytes >> 10);
    CHECK(small_bytes >= HEADROOM / 2);
    CHECK(release(&h) == 0);
    if (allocates_again() != 0)
        return 1;
    size_t n64;
    if (exhaust_malloc(&h, 64 * MIB, &n64) != 0)
        return 1;
    stress_say("oom_test: then %zu x 64 MiB\n", n64);
    CHECK(n64 >= 2);
    CHECK(release(&h) == 0);
    return 0;
}

/* The largest single block malloc gives now, to 16 MiB (0 if not even that); freed at once. */
static size_t largest_block(void)
{
    for (size_t size = HEADROOM; size >= 16 * MIB; size -= 16 * MIB) {
        void *p = malloc(size);
        if (p != NULL) {
            free(p);
            return size;
        }
    }
    return 0;
}

/* Address space that the program gave back with free() is the allocator's to hand out again
 * when the limit is reached: after blocks of every size filled the limit and were all freed, a
 * single block as large as before can be had (caches of freed mappings or chunks are dropped
 * rather than fail the request). */
static int oom_freed_space_usable_again(void)
{
    CHECK(limit_address_space() == 0);
    size_t largest0 = largest_block();
    struct held h = {0};
    size_t n60, n1, small_bytes;
    if (exhaust_malloc(&h, 60 * MIB, &n60) != 0 || exhaust_malloc(&h, 1 * MIB, &n1) != 0 ||
        exhaust_small(&h, &small_bytes) != 0)
        return 1;
    CHECK(release(&h) == 0);
    size_t largest1 = largest_block();
    stress_say("oom_test: largest block %zu MiB; after %zu x 60 MiB, %zu x 1 MiB and %zu KiB in "
               "small blocks, all freed: %zu MiB\n",
               largest0 / MIB, n60, n1, small_bytes >> 10, largest1 / MIB);
    CHECK(largest0 >= HEADROOM / 2);
    CHECK(largest1 + 16 * MIB >= largest0);
    return 0;
}

/* Several threads run out at once: each failure leaves the allocator usable by the others
 * (a lock left held would stop them: the alarm fails the test). */
#define OOM_THREADS 3

struct oom_worker {
    pthread_t thread;
    pthread_barrier_t *start;
    struct held h;
    uint64_t seed;
    int failed;
    size_t failures;
};

static void *oom_worker(void *arg)
{
    struct oom_worker *w = arg;
    uint64_t rng = w->seed;
    pthread_barrier_wait(w->start);
    for (size_t i = 0; w->failures < 200; i++) {
        if (i > cap_for(MIN_BLOCK)) {
            w->failed = 1;
            break;
        }
        unsigned r = (unsigned)(stress_rand(&rng) % 100);
        size_t size = r < 80   ? stress_range(&rng, MIN_BLOCK, 2048)
                      : r < 98 ? stress_range(&rng, 2049, 256 * 1024)
                               : stress_range(&rng, 256 * 1024, 8 * MIB);
        errno = 0;
        void *p = r % 5 == 0 ? calloc(1, size) : malloc(size);
        if (p == NULL) {
            if (errno != ENOMEM) {
                w->failed = 1;
                break;
            }
            w->failures++;
            /* Free a few, as a program would, so others' requests can succeed in between. */
            if (w->failures % 20 == 0) {
                for (int k = 0; k < 10 && w->h.head != NULL; k++) {
                    struct node *n = w->h.head;
                    w->h.head = n->next;
                    if (!node_intact(n))
                        w->failed = 1;
                    w->h.bytes -= n->size;
                    w->h.count--;
                    free(n);
                }
            }
            continue;
        }
        hold(&w->h, p, size);
    }
    return NULL;
}

static int oom_threads(void)
{
    struct oom_worker w[OOM_THREADS];
    pthread_barrier_t start;
    CHECK(pthread_barrier_init(&start, NULL, OOM_THREADS + 1) == 0);
    for (int i = 0; i < OOM_THREADS; i++) {
        w[i] = (struct oom_worker){.start = &start, .seed = stress_seed() + (uint64_t)i};
        CHECK(pthread_create(&w[i].thread, NULL, oom_worker, &w[i]) == 0);
    }
    /* The threads exist (their stacks are mapped) before the limit applies. */
    CHECK(limit_address_space() == 0);
    pthread_barrier_wait(&start);
    size_t total = 0;
    for (int i = 0; i < OOM_THREADS; i++) {
        CHECK(pthread_join(w[i].thread, NULL) == 0);
        CHECK(w[i].failed == 0);
        total += w[i].h.bytes;
    }
    stress_say("oom_test: %d threads held %zu KiB when they gave up\n", OOM_THREADS, total >> 10);
    CHECK(total >= HEADROOM / 4);
    /* This thread frees what the others allocated, and then can allocate itself. */
    for (int i = 0; i < OOM_THREADS; i++)
        CHECK(release(&w[i].h) == 0);
    return allocates_again();
}

/* test_<fn>: the cmocka test that runs fn in a child (each case ends in a process of its own
 * whose address space is limited and full). */
#define CHILD_TEST(fn)                                                                             \
    static void test_##fn(void **state)                                                            \
    {                                                                                              \
        (void)state;                                                                               \
        run_in_child(fn);                                                                          \
    }

CHILD_TEST(oom_every_size_and_function)
CHILD_TEST(oom_small_then_large)
CHILD_TEST(oom_freed_space_usable_again)
CHILD_TEST(oom_threads)

int main(void)
{
    stress_watchdog(240);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_every_size_and_function),
        cmocka_unit_test(test_oom_small_then_large),
        cmocka_unit_test(test_oom_freed_space_usable_again),
        cmocka_unit_test(test_oom_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
