/* init.h: lazy, reentrant initialisation.  The first allocation in the process, from whatever
 * thread or library (the dynamic linker, dlsym, pthread internals), runs hm_init().  A call
 * that arrives while the same thread is initialising is served by arena 0 without a thread
 * cache once the arenas exist.  After initialisation nothing here is on a hot path. */
#ifndef HM_INIT_H
#define HM_INIT_H

#include "hmalloc_internal.h"

extern int hm_initialized; /* 1 once hm_init() succeeded */

/* Initialise if needed; false when the process has no memory for hmalloc's metadata. */
bool hm_init_slow(void);
HM_INLINE bool hm_init(void) { return likely(hm_initialized) || hm_init_slow(); }

#endif
