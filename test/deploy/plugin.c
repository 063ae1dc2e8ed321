/* plugin.c: a shared library with a private hmalloc.  plugin_test.sh links it with the static
 * library of a --with-symbol-prefix=hm_ build, whose names it keeps to itself
 * (-Wl,--exclude-libs), so a host that dlopen()s it (RTLD_LOCAL, RTLD_DEEPBIND) sees only the
 * plugin_* functions below and keeps its own malloc.  plugin_host.c drives it. */
#include "hmalloc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define PLUGIN_API __attribute__((visibility("default")))

static uint64_t thread_counter(const char *name)
{
    uint64_t v = 0;
    size_t len = sizeof v;
    return hm_mallctl(name, &v, &len, NULL, 0) == 0 ? v : UINT64_MAX;
}

#define EXPECT(cond)                                                                       \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            snprintf(err, errlen, "plugin.c:%d: %s", __LINE__, #cond);                     \
            return -1;                                                                     \
        }                                                                                  \
    } while (0)

/* Allocate and free with the private hmalloc and with the C library's malloc (whichever the
 * host has): the first moves hmalloc's counters, the second does not.  0, or -1 with a
 * message in err. */
static int run(char *err, size_t errlen)
{
    enum { N = 300 };
    static const size_t sizes[] = {1, 24, 100, 1000, 5000, 20000, 300000};
    void *p[N];
    uint64_t a0 = thread_counter("thread.allocated");
    EXPECT(a0 != UINT64_MAX);
    size_t total = 0;
    for (int i = 0; i < N; i++) {
        size_t n = i == 7 ? (size_t)3 << 20 : sizes[i % 7] + (size_t)i;
        p[i] = i % 5 ? hm_malloc(n) : hm_calloc(1, n);
        EXPECT(p[i] != NULL);
        memset(p[i], i & 0xff, n);
        total += n;
    }
    void *q = NULL;
    EXPECT(hm_posix_memalign(&q, 65536, 1000) == 0 && ((uintptr_t)q & 65535) == 0);
    p[0] = hm_realloc(p[0], 70000);
    EXPECT(p[0] != NULL);
    uint64_t a1 = thread_counter("thread.allocated");
    EXPECT(a1 - a0 >= total);

    /* The C library's malloc does not touch the private hmalloc. */
    char *s = strdup("allocated by the C library for the plugin");
    void *m = malloc(100000);
    EXPECT(s && m);
    EXPECT(thread_counter("thread.allocated") == a1);
    free(m);
    free(s);

    uint64_t d0 = thread_counter("thread.deallocated");
    for (int i = 0; i < N; i++)
        hm_free(p[i]);
    hm_free(q);
    EXPECT(thread_counter("thread.deallocated") - d0 >= total);
    return 0;
}

static void *run_thread(void *arg)
{
    char *err = arg;
    return (void *)(intptr_t)run(err, 200);
}

/* run() here and in three threads of the plugin's own (whose caches go back at their exit). */
PLUGIN_API int plugin_run(char *err, size_t errlen)
{
    char terr[3][200] = {{0}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        if (pthread_create(&t[i], NULL, run_thread, terr[i]) != 0) {
            snprintf(err, errlen, "pthread_create failed");
            return -1;
        }
    int rc = run(err, errlen);
    for (int i = 0; i < 3; i++) {
        void *trc;
        pthread_join(t[i], &trc);
        if (trc && rc == 0) {
            snprintf(err, errlen, "in a plugin thread: %s", terr[i]);
            rc = -1;
        }
    }
    return rc;
}

/* Blocks of the private hmalloc for the host to hold (and give back through plugin_free). */
PLUGIN_API void *plugin_alloc(size_t n) { return hm_malloc(n); }
PLUGIN_API void plugin_free(void *p) { hm_free(p); }
PLUGIN_API size_t plugin_usable_size(void *p) { return hm_malloc_usable_size(p); }

/* What the private hmalloc has allocated in all (stats.allocated). */
PLUGIN_API size_t plugin_allocated(void)
{
    uint64_t epoch = 1;
    size_t v = 0, len = sizeof epoch;
    hm_mallctl("epoch", &epoch, &len, &epoch, len);
    len = sizeof v;
    return hm_mallctl("stats.allocated", &v, &len, NULL, 0) == 0 ? v : (size_t)-1;
}

/* The C library's strdup, called from the plugin: the host frees the copy with free(). */
PLUGIN_API char *plugin_system_strdup(const char *s) { return strdup(s); }
