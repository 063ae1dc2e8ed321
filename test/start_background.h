/* test/start_background.h: start hmalloc's background purge thread before a test looks closely
 * (shared by test/fault/misuse_test.c and test/fuzz/fuzz_api.c).  Include it after hmalloc.h
 * (with HMALLOC_UNPREFIXED, so that a namespaced build starts its own thread). */
#ifndef HM_TEST_START_BACKGROUND_H
#define HM_TEST_START_BACKGROUND_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* hmalloc's own (hidden, reached by linking it statically). */
bool background_thread_running(void);

/* hmalloc starts its background purge thread lazily, the first time a slow path finds dirty
 * memory (again in every fork child), and pthread_create allocates (glibc's TLS vector).
 * Starting it up front, from the free of a large block, keeps that allocation out of the
 * middle of what is being checked. */
static inline void start_background_thread(void)
{
    bool enabled = false;
    size_t len = sizeof(enabled);
    if (mallctl("opt.background_thread", &enabled, &len, NULL, 0) != 0 || !enabled)
        return;
    for (int i = 0; i < 100 && !background_thread_running(); i++) {
        static void *volatile keep;
        keep = malloc((size_t)256 << 10);
        free(keep);
        struct timespec ts = {0, 2 * 1000 * 1000}; /* ticks come at most every 10 ms */
        if (!background_thread_running())
            nanosleep(&ts, NULL);
    }
}

#endif /* HM_TEST_START_BACKGROUND_H */
