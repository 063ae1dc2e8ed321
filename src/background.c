/* background.c: the background purge thread and the decay ticks (see background.h). */
#include "background.h"
#include "arena.h"
#include "conf.h"
#include "huge.h"
#include "lock.h"

#define BG_STACK_SIZE ((size_t)256 << 10)

#include <pthread.h>
#include <signal.h>
#include <time.h>

#define TICK_INTERVAL_MS 100 /* how often dirty pages are looked at */

enum { BG_NONE, BG_STARTING, BG_RUNNING, BG_STOPPING, BG_FAILED };

static pthread_mutex_t bg_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bg_cond;
static bool bg_cond_ready;
static int bg_state;       /* guarded by bg_mutex (read racily by background_tick) */
static pthread_t bg_thread;
static uint64_t next_tick_ms; /* atomic: when the next slow-path decay is due */

void background_decay_all(void)
{
    uint64_t now = arena_clock_now();
    unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
        arena_t *a = __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE);
        if (!a || !__atomic_load_n(&a->pa.dirty_head, __ATOMIC_RELAXED))
            continue;
        hm_mutex_lock(&a->lock);
        arena_decay(a, now);
        hm_mutex_unlock(&a->lock);
    }
    if (opt_dirty_decay_ms >= 0 && huge_cached_bytes() && now >= (uint64_t)opt_dirty_decay_ms)
        huge_decay(now - (uint64_t)opt_dirty_decay_ms);
}

static bool anything_dirty(void)
{
    if (huge_cached_bytes())
        return true;
    unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
        arena_t *a = __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE);
        if (a && __atomic_load_n(&a->pa.ndirty, __ATOMIC_RELAXED))
            return true;
    }
    return false;
}

static void *bg_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&bg_mutex);
    while (bg_state == BG_RUNNING) {
        pthread_mutex_unlock(&bg_mutex);
        background_decay_all();
        pthread_mutex_lock(&bg_mutex);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += TICK_INTERVAL_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (bg_state == BG_RUNNING)
            pthread_cond_timedwait(&bg_cond, &bg_mutex, &ts);
    }
    pthread_mutex_unlock(&bg_mutex);
    return NULL;
}

static void bg_start(void)
{
    pthread_mutex_lock(&bg_mutex);
    if (bg_state != BG_NONE) {
        pthread_mutex_unlock(&bg_mutex);
        return;
    }
    bg_state = BG_STARTING;
    if (!bg_cond_ready) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&bg_cond, &ca);
        pthread_condattr_destroy(&ca);
        bg_cond_ready = true;
    }
    pthread_mutex_unlock(&bg_mutex);

    /* The new thread inherits a mask blocking every signal, so signals go to the program's
     * own threads.  pthread_create may allocate (its TLS), which re-enters hmalloc: no hmalloc
     * lock is held here, and bg_state keeps this from starting twice. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_mutex_lock(&bg_mutex);
    bg_state = BG_RUNNING;
    pthread_mutex_unlock(&bg_mutex);
    /* A small stack: the thread only walks arenas and calls madvise, and the default (8 MiB
     * of address space) appearing in the middle of a program that runs close to RLIMIT_AS
     * cost oom_test's largest block 32 MiB about once in eight runs.  glibc may refuse a
     * stack too small for the program's static TLS: then the default. */
    pthread_attr_t attr;
    int err = pthread_attr_init(&attr);
    if (!err) {
        pthread_attr_setstacksize(&attr, BG_STACK_SIZE);
        err = pthread_create(&bg_thread, &attr, bg_main, NULL);
        pthread_attr_destroy(&attr);
    }
    if (err)
        err = pthread_create(&bg_thread, NULL, bg_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        pthread_mutex_lock(&bg_mutex);
        bg_state = BG_FAILED; /* fall back to purging on slow paths */
        pthread_mutex_unlock(&bg_mutex);
    }
}

void background_tick(void)
{
    int state = __atomic_load_n(&bg_state, __ATOMIC_RELAXED);
    if (state == BG_RUNNING || state == BG_STARTING)
        return;
    /* Not rate-limited: a program may free everything within one tick interval and go idle,
     * and then no later tick would come to start the thread.  Until the first dirty page
     * this costs a look at each arena's counter per slow path. */
    if (opt_background_thread && state == BG_NONE) {
        if (anything_dirty())
            bg_start();
        return;
    }
    uint64_t now = arena_clock_now(), due = __atomic_load_n(&next_tick_ms, __ATOMIC_RELAXED);
    if (now < due ||
        !__atomic_compare_exchange_n(&next_tick_ms, &due, now + TICK_INTERVAL_MS / 10, false,
                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return;
    background_decay_all();
}

bool background_thread_running(void)
{
    return __atomic_load_n(&bg_state, __ATOMIC_RELAXED) == BG_RUNNING;
}

void background_stop(void)
{
    pthread_mutex_lock(&bg_mutex);
    if (bg_state != BG_RUNNING) {
        pthread_mutex_unlock(&bg_mutex);
        return;
    }
    bg_state = BG_STOPPING;
    pthread_cond_signal(&bg_cond);
    pthread_mutex_unlock(&bg_mutex);
    pthread_join(bg_thread, NULL);
    pthread_mutex_lock(&bg_mutex);
    bg_state = BG_NONE;
    pthread_mutex_unlock(&bg_mutex);
}

void background_prefork(void) { pthread_mutex_lock(&bg_mutex); }
void background_postfork_parent(void) { pthread_mutex_unlock(&bg_mutex); }

/* The child has no background thread: it is started again when needed. */
void background_postfork_child(void)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    bg_mutex = m;
    if (bg_cond_ready) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&bg_cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    if (bg_state != BG_FAILED)
        bg_state = BG_NONE;
}
