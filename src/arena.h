/* arena.h: an arena owns chunks, their page allocator (extent.c) and one bin per small class
 * (bin.c).  Threads are bound on first use to the arena with the fewest threads; any thread
 * may free into any arena (a block's arena is found from its chunk).
 *
 * arena->lock guards the page allocator and the large-block counters; each bin has its own
 * lock.  Lock order: bin lock, then arena lock. Arenas are created on demand and never freed. */
#ifndef HM_ARENA_H
#define HM_ARENA_H

#include "bin.h"
#include "extent.h"
#include "lock.h"

#define MAX_ARENAS 4096

typedef struct arena {
    hm_mutex_t lock;
    unsigned ind;
    unsigned nthreads; /* atomic: threads bound here */
    pagealloc_t pa;
    uint64_t nmalloc_large, ndalloc_large;
    size_t allocated_large; /* bytes */
    bin_t bins[NSMALL];
    struct quarantine *quarantine; /* hardened mode's delayed reuse; created on first use */
} arena_t;

extern arena_t *arenas[MAX_ARENAS];
extern unsigned narenas_auto; /* arenas threads are bound to automatically */
extern unsigned narenas_total; /* atomic: arenas created so far (slots used) */

arena_t *arena_get(unsigned ind);   /* creates arena ind if needed; NULL when out of memory */
arena_t *arena_choose_for_thread(void); /* the least-loaded arena */
/* Milliseconds on a monotonic clock (for dirty-page ages). */
uint64_t arena_clock_now(void);

void *arena_alloc_small(arena_t *arena, unsigned cls, bool zero);
void *arena_alloc_large(arena_t *arena, size_t usize, size_t alignment, bool zero);
/* Free p, which lies in chunk c at page pi whose page-map entry is pm (already validated). */
void arena_dalloc_small(chunk_t *c, void *p, unsigned cls, const char *func);
/* Free the small region p now, bypassing the quarantine (its class is read from the page map). */
void arena_dalloc_small_now(void *p, const char *func);
void arena_dalloc_large(chunk_t *c, void *p);
/* Count a huge block (a mapping of its own) in arena's large-block statistics. */
void arena_account_large(arena_t *arena, ptrdiff_t bytes, unsigned nmalloc, unsigned ndalloc);
/* Resize the large block p (in chunk c) in place between large classes; false when it cannot
 * grow there.  With zero, the added bytes read as zero. */
bool arena_resize_large(chunk_t *c, void *p, size_t old_usize, size_t new_usize, bool zero);
/* A chunk of arena's that is entirely free, taken out of the arena for a huge block; NULL when
 * it has none.  Takes the arena lock. */
void *arena_take_chunk(arena_t *arena);
/* Whether arena has such a chunk now (a racy hint, without the lock). */
bool arena_has_free_chunk(arena_t *arena);
/* A chunk another arena than self left entirely free, taken out of it for self's page
 * allocator (its pages may be resident; the caller registers it again); NULL when none is
 * free.  Called with self's lock held: the other arenas' locks are only tried, never waited
 * for (they are not ordered among themselves). */
chunk_t *arena_steal_chunk(arena_t *self);
/* Give arena the chunk-aligned CHUNK bytes at addr (from a freed huge block: resident pages,
 * old bytes) as a chunk that is entirely free and dirty, purged by age like any dirty run.
 * False (nothing changed) when the chunk cannot be registered.  Takes the arena lock. */
bool arena_adopt_chunk(arena_t *arena, void *addr);
/* Purge dirty pages above the arena's allowance; with all, purge every dirty page. */
void arena_purge(arena_t *arena, bool all);
/* About to map a new huge block of new_bytes, with huge_bytes in huge blocks and cached_bytes
 * in their cache already: keep the new mapping from raising the process's footprint (arena
 * pages in use and dirty, plus huge mappings) above the highest it has been at such a point.  Arena pages
 * cannot serve a huge block, so a program moving from small and large blocks to huge ones
 * would otherwise keep what it freed resident beside the new mappings until it decays
 * (python_workload's big objects: peak RSS 146 -> 97 MiB).  As much as the mapping would go
 * over that mark is purged, the oldest dirty runs of each arena first, but never below
 * 1/DIRTY_EXCESS_DIV of everything in use: a program whose footprint is not growing keeps its
 * recently freed runs for reuse (realloc_bench's buffers moving between large runs and huge
 * mappings: purging all the excess on every new mapping cost it 15k page faults, 0.5 s).
 * Called with no arena lock held.  Nothing under dirty_decay_ms:-1. */
#define DIRTY_EXCESS_DIV 8
void arena_purge_excess(size_t huge_bytes, size_t cached_bytes, size_t new_bytes);
/* How many dirty pages arena_purge_excess would purge for these figures (0 if none). */
size_t arena_excess_pages(size_t huge_bytes, size_t cached_bytes, size_t new_bytes);
/* Purge the dirty pages older than dirty_decay_ms at time now_ms (arena lock held). */
void arena_decay(arena_t *arena, uint64_t now_ms);

void arena_prefork(void);
void arena_postfork_parent(void);
void arena_postfork_child(void);

#endif
