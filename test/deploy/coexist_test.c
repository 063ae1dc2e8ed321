/* coexist_test.c: one process, two allocators.  Linked with a namespaced hmalloc
 * (--with-symbol-prefix=hm_, built by coexist_test.sh), the program calls hm_malloc and the C
 * library's malloc side by side: each keeps its own blocks, hmalloc's statistics move only with
 * hm_ calls and glibc's (mallinfo2) only with malloc's, hm_free refuses a block of malloc's,
 * and threads that use both exit cleanly. */
#include "hmalloc.h"
#include "deploy_test.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NBLOCKS 2000

static uint64_t hm_thread(const char *name)
{
    uint64_t v = 0;
    size_t len = sizeof v;
    CHECK(hm_mallctl(name, &v, &len, NULL, 0) == 0, "hm_mallctl(%s)", name);
    return v;
}

static size_t hm_stat(const char *name)
{
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    CHECK(hm_mallctl("epoch", &epoch, &len, &epoch, len) == 0, "hm_mallctl(epoch)");
    size_t v = 0;
    len = sizeof v;
    CHECK(hm_mallctl(name, &v, &len, NULL, 0) == 0, "hm_mallctl(%s)", name);
    return v;
}

typedef struct {
    uint64_t t_alloc, t_dalloc; /* this thread's hm_ bytes allocated and freed */
    size_t allocated, active;   /* hmalloc's totals */
    size_t libc_in_use;         /* glibc: bytes in use in its arenas and mappings */
} snap_t;

static snap_t snap(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (snap_t){hm_thread("thread.allocated"), hm_thread("thread.deallocated"),
                    hm_stat("stats.allocated"), hm_stat("stats.active"), mi.uordblks + mi.hblkhd};
}

/* Mostly small blocks, some of page runs, and with huge set a few mappings of their own. */
static size_t block_size(uint64_t *rs, int huge)
{
    uint64_t r = rnd_next(rs);
    switch (r % 16) {
    case 0:
        return 16384 + r % 200000;
    case 1:
        return huge && r % 7 == 0 ? (3 << 20) + r % 100000 : 4096 + r % 8192;
    default:
        return 1 + r % 512;
    }
}

/* malloc's phase: hmalloc's numbers stand still. */
static void system_only(void)
{
    static void *p[NBLOCKS];
    size_t total = 0;
    uint64_t rs = 42;
    snap_t a = snap();
    for (int i = 0; i < NBLOCKS; i++) {
        size_t n = block_size(&rs, 1);
        p[i] = i % 3 ? malloc(n) : calloc(1, n);
        CHECK(p[i] != NULL, "malloc(%zu)", n);
        pattern_fill(p[i], n, (unsigned)i);
        total += n;
    }
    char *s = strdup("glibc's strdup calls glibc's malloc");
    p[0] = realloc(p[0], 100000);
    snap_t b = snap();
    CHECK(b.libc_in_use >= a.libc_in_use + total, "glibc's in-use bytes grew by %zu, not %zu",
          b.libc_in_use - a.libc_in_use, total);
    CHECK(b.t_alloc == a.t_alloc && b.t_dalloc == a.t_dalloc,
          "hmalloc's thread counters moved with malloc (%llu -> %llu)",
          (unsigned long long)a.t_alloc, (unsigned long long)b.t_alloc);
    CHECK(b.allocated == a.allocated && b.active == a.active,
          "hmalloc's stats.allocated moved with malloc (%zu -> %zu)", a.allocated, b.allocated);
    free(s);
    for (int i = 0; i < NBLOCKS; i++)
        free(p[i]);
    snap_t c = snap();
    CHECK(c.libc_in_use < b.libc_in_use, "free gave nothing back to glibc");
    CHECK(c.t_alloc == a.t_alloc && c.t_dalloc == a.t_dalloc && c.allocated == a.allocated,
          "hmalloc's numbers moved with free");
}

/* hmalloc's phase: glibc's numbers stand still, but for hmalloc's purging thread: started
 * the first time there are dirty pages, it gets its thread-local storage from glibc's malloc
 * (pthread_create does that), which is at most a few KiB. */
#define LIBC_SLACK ((size_t)16 << 10)
static void hmalloc_only(void)
{
    static void *p[NBLOCKS];
    size_t total = 0, big = 0;
    uint64_t rs = 4242;
    snap_t a = snap();
    for (int i = 0; i < NBLOCKS; i++) {
        size_t n = block_size(&rs, 1);
        p[i] = i % 3 ? hm_malloc(n) : hm_calloc(1, n);
        CHECK(p[i] != NULL, "hm_malloc(%zu)", n);
        CHECK(hm_malloc_usable_size(p[i]) >= n, "usable size of a %zu-byte block", n);
        pattern_fill(p[i], n, (unsigned)i);
        total += n;
        big += n > 14336 ? n : 0;
    }
    p[1] = hm_realloc(p[1], 100000);
    CHECK(p[1] != NULL, "hm_realloc");
    snap_t b = snap();
    CHECK(b.t_alloc - a.t_alloc >= total, "thread.allocated grew by %llu, not %zu",
          (unsigned long long)(b.t_alloc - a.t_alloc), total);
    CHECK(b.allocated >= a.allocated + big, "stats.allocated grew by %zu, less than the %zu bytes "
          "of large blocks", b.allocated - a.allocated, big);
    CHECK(b.libc_in_use - a.libc_in_use <= LIBC_SLACK,
          "glibc's in-use bytes moved with hm_malloc (%zu -> %zu)", a.libc_in_use, b.libc_in_use);
    for (int i = 0; i < NBLOCKS; i++)
        hm_free(p[i]);
    snap_t c = snap();
    CHECK(c.t_dalloc - b.t_dalloc >= total, "thread.deallocated grew by too little");
    CHECK(c.allocated < b.allocated, "stats.allocated did not fall after hm_free");
    CHECK(c.libc_in_use - a.libc_in_use <= LIBC_SLACK,
          "glibc's in-use bytes moved with hm_free (%zu -> %zu)", a.libc_in_use, c.libc_in_use);
}

/* Both at once, each block freed by its own allocator, contents checked. */
static void *interleaved(void *arg)
{
    enum { N = 512 };
    void *p[N] = {0};
    size_t n[N] = {0};
    char hm[N] = {0};
    uint64_t rs = 7 + (uintptr_t)arg;
    for (int round = 0; round < 10000; round++) {
        int i = (int)(rnd_next(&rs) % N);
        if (p[i]) {
            CHECK(pattern_ok(p[i], n[i], (unsigned)i), "block %d was overwritten", i);
            if (hm[i])
                hm_free(p[i]);
            else
                free(p[i]);
            p[i] = NULL;
        } else {
            n[i] = block_size(&rs, 0);
            hm[i] = rnd_next(&rs) & 1;
            p[i] = hm[i] ? hm_malloc(n[i]) : malloc(n[i]);
            CHECK(p[i] != NULL, "allocation of %zu bytes", n[i]);
            pattern_fill(p[i], n[i], (unsigned)i);
        }
    }
    for (int i = 0; i < N; i++) {
        if (p[i] && hm[i])
            hm_free(p[i]);
        else
            free(p[i]);
    }
    return NULL;
}

/* hm_free on malloc's block: hmalloc reads only its own metadata, finds the block is not
 * its own and stops the program with a message, rather than taking it. */
static void foreign_free_refused(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        dup2(fds[1], 2);
        void *p = malloc(100);
        hm_free(p);
        _exit(0);
    }
    close(fds[1]);
    char msg[256] = {0};
    size_t got = 0;
    ssize_t r;
    while (got < sizeof msg - 1 && (r = read(fds[0], msg + got, sizeof msg - 1 - got)) > 0)
        got += (size_t)r;
    close(fds[0]);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
          "hm_free of malloc's block did not abort (status %#x)", status);
    CHECK(strstr(msg, "hmalloc: free(): invalid pointer") != NULL, "message: %s", msg);
}

int main(void)
{
    /* Both allocators set up before anything is measured. */
    hm_free(hm_malloc(1));
    free(malloc(1));

    system_only();
    hmalloc_only();

    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, interleaved, (void *)i) == 0, "pthread_create");
    interleaved((void *)99);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);

    foreign_free_refused();
    printf("coexist: hm_malloc and malloc side by side, each with its own blocks and numbers\n");
    return 0;
}
