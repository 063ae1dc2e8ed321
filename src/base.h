/* base.h: memory for hmalloc's own metadata (arenas, thread caches, chunk-map leaves, huge
 * block descriptors), carved from mmap'd blocks and never returned; never libc's malloc.
 * Callers that free metadata keep their own free lists for reuse.  Guarded by base_lock. */
#ifndef HM_BASE_H
#define HM_BASE_H

#include "hmalloc_internal.h"

/* size bytes of zeroed memory aligned to 64, or NULL when the OS has none. */
void *base_alloc(size_t size);
size_t base_allocated_bytes(void);
void base_prefork(void);
void base_postfork_parent(void);
void base_postfork_child(void);

#endif
