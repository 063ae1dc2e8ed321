/* lock.h: the allocator's mutex.  A pthread mutex (adaptive where glibc has it): it never
 * allocates, and the fork handlers in init.c take and release every one of them. */
#ifndef HM_LOCK_H
#define HM_LOCK_H

#include <pthread.h>
#include <stdbool.h>

typedef struct hm_mutex {
    pthread_mutex_t m;
} hm_mutex_t;

#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
#define HM_MUTEX_INITIALIZER {PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP}
#else
#define HM_MUTEX_INITIALIZER {PTHREAD_MUTEX_INITIALIZER}
#endif

static inline void hm_mutex_init(hm_mutex_t *l)
{
    hm_mutex_t init = HM_MUTEX_INITIALIZER;
    *l = init;
}
static inline void hm_mutex_lock(hm_mutex_t *l) { pthread_mutex_lock(&l->m); }
static inline void hm_mutex_unlock(hm_mutex_t *l) { pthread_mutex_unlock(&l->m); }
/* Take l if no one holds it (for a lock outside the usual order): true if taken. */
static inline bool hm_mutex_trylock(hm_mutex_t *l) { return pthread_mutex_trylock(&l->m) == 0; }

#endif
