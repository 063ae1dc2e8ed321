/* huge.h: blocks above LARGE_MAXCLASS (or too aligned for a chunk) are mappings of their own,
 * aligned to a chunk so that the chunk map can name them: every granule a huge block covers
 * maps to its descriptor (tagged RTREE_HUGE).  Freeing one unmaps it at once, so its memory
 * leaves the process immediately.  Descriptors come from base memory and are recycled. */
#ifndef HM_HUGE_H
#define HM_HUGE_H

#include "hmalloc_internal.h"

typedef struct huge {
    void *ptr;          /* the user's pointer (start of the mapping) */
    size_t usize;       /* usable size: a size class */
    size_t maplen;      /* bytes mapped */
    struct huge *next_free;
} huge_t;

void *huge_alloc(size_t usize, size_t alignment);   /* zeroed memory, or NULL */
void huge_dalloc(huge_t *h);
/* Resize h in place to new_usize (a class above LARGE_MAXCLASS); false when the address
 * space after it is taken (nothing changes then). */
bool huge_resize_in_place(huge_t *h, size_t new_usize);
/* Move h to a new chunk-aligned mapping of new_usize bytes by remapping its pages (no copy);
 * returns the new address, or NULL (h unchanged). */
void *huge_remap(huge_t *h, size_t new_usize);
size_t huge_allocated_bytes(void);
void huge_counts(uint64_t *nmalloc, uint64_t *ndalloc);
void huge_prefork(void);
void huge_postfork_parent(void);
void huge_postfork_child(void);

#endif
