/* background.h: purging that does not depend on the program calling malloc again.  Dirty pages
 * older than dirty_decay_ms are purged by a background thread (background_thread:true, the
 * default), started the first time there is something to purge, so short-lived programs never
 * get one; without it, by any thread's slow path (decay ticks).  The thread blocks every signal,
 * is restarted lazily in a fork child, and is stopped and joined at exit or dlclose. */
#ifndef HM_BACKGROUND_H
#define HM_BACKGROUND_H

#include "hmalloc_internal.h"

/* Called from slow paths (refill, flush, large and huge frees), with no lock held: starts the
 * background thread when there is dirty memory, or without one purges what is due, at most
 * every few milliseconds. */
void background_tick(void);
/* Purge every arena's (and the huge cache's) pages that are older than dirty_decay_ms. */
void background_decay_all(void);
bool background_thread_running(void);
void background_prefork(void);
void background_postfork_parent(void);
void background_postfork_child(void);
void background_stop(void);

#endif
