/* extent.h: the page allocator of one arena.  It hands out page runs inside the arena's chunks
 * (for slabs and large blocks) and takes them back, coalescing free neighbours at once so that
 * free space is always maximal runs.  Free runs are kept in lists by exact length with a bitmap
 * of non-empty lists, so a best fit is a short bit scan; dirty free runs (possibly resident) are
 * also kept oldest-first so they can be purged in the order they went idle.
 *
 * Everything here is guarded by the owning arena's lock (arena_t.lock), except that purging
 * drops it around the madvise calls: the runs being purged are then out of every list,
 * flagged RUN_PURGING, and counted in npurging.  Invariants between calls: a free run is in
 * the avail lists unless it is being purged; no two free runs that are not being purged are
 * adjacent; ndirty and nlazy are the page counts of listed free runs flagged dirty and lazy.
 * A chunk that becomes entirely free stays in the arena (a program that frees and allocates
 * again pays no page faults) until its run is purged, which releases it (chunk_release:
 * unmapped, or retained with retain:true). */
#ifndef HM_EXTENT_H
#define HM_EXTENT_H

#include "chunk.h"

#define AVAIL_WORDS ((CHUNK_USABLE_PAGES + 64) / 64)

typedef struct pagealloc {
    run_t *avail[CHUNK_USABLE_PAGES + 1];
    uint64_t avail_map[AVAIL_WORDS];
    run_t *dirty_head, *dirty_tail;
    size_t ndirty;   /* pages */
    size_t nlazy;    /* pages of free runs purged lazily (MADV_FREE) */
    size_t npurging; /* pages being purged (taken out of the lists) */
    size_t nactive;  /* pages in slabs and large blocks */
    size_t nchunks;
    unsigned purgers;  /* threads purging this arena's pages with the lock dropped */
    bool fork_pending; /* fork is waiting for the purgers: start no new batch */
    uint64_t npurge_calls, npurged_pages;
} pagealloc_t;

/* Allocate npages pages aligned to align_pages pages (a power of two), mark them state/cls in
 * the page map, and return their address; *zeroed says whether they are known to be zero.
 * NULL when the OS is out of memory. */
void *extent_alloc(struct arena *arena, size_t npages, size_t align_pages, unsigned state,
                   unsigned cls, bool *zeroed);
/* Take a chunk that is entirely free out of the arena, for a huge block (its pages may be
 * resident and dirty, its header is no longer one); NULL when there is none. */
chunk_t *extent_take_chunk(struct arena *arena);
/* File the usable pages of c (new to the arena, registered) as one free run, dirty or zero. */
run_t *extent_add_chunk(struct arena *arena, chunk_t *c, bool dirty);
/* Return the run starting at addr (a slab or large block) to the free runs. */
void extent_free(struct arena *arena, void *addr);
/* Grow the large run at addr in place to new_npages pages of class cls, taking the free pages
 * right after it; false (nothing changed) when they are not free.  *zeroed as above. */
bool extent_grow(struct arena *arena, void *addr, size_t new_npages, unsigned cls, bool *zeroed);
/* Shrink the large run at addr to new_npages pages of class cls; the tail becomes free. */
void extent_shrink(struct arena *arena, void *addr, size_t new_npages, unsigned cls);
/* Purge dirty runs, oldest first, until at most keep_pages dirty pages remain; whole-chunk
 * runs release their chunk.  Called with the arena lock held, and returns with it held, but
 * drops it while the kernel purges (see above): nothing read before the call stays true. */
void extent_purge(struct arena *arena, size_t keep_pages);
/* Purge dirty runs that became dirty at or before cutoff_ms (arena_clock_now() time); the
 * lock is dropped meanwhile as for extent_purge. */
void extent_purge_older(struct arena *arena, uint64_t cutoff_ms);
/* Check the invariants above (tests and debug builds); returns false on the first violation. */
bool extent_validate(struct arena *arena);

#endif
