/* bin.h: one arena's slabs of one small class.  The bin lends regions to thread caches in
 * batches (bin_fill) and takes them back (bin_dalloc_locked, called by the cache flush with the
 * bin's lock held once per batch).
 *
 * Guarded by bin->lock: cur (the slab being cut from, in no list), the nonfull list (slabs with
 * at least one free region, other than cur), the descriptors of this bin's slabs, the counters.
 * Full slabs are in no list; a slab that becomes empty is given back to the arena's page
 * allocator at once, except cur.  Lock order: bin lock, then arena lock. */
#ifndef HM_BIN_H
#define HM_BIN_H

#include "chunk.h"
#include "lock.h"

struct arena;

typedef struct bin {
    hm_mutex_t lock;
    run_t *cur;
    run_t *nonfull;
    size_t nslabs;     /* slabs owned */
    size_t curregs;    /* regions lent out (users' and thread caches') */
    uint64_t nmalloc;  /* regions lent, cumulative */
    uint64_t ndalloc;  /* regions returned, cumulative */
    uint64_t nfills, nflushes, nslabs_created;
} __attribute__((aligned(64))) bin_t;

void bin_init(bin_t *bin);
/* Lend up to n regions of class cls into out; returns how many (0 only when out of memory). */
unsigned bin_fill(struct arena *arena, unsigned cls, void **out, unsigned n);
/* Return region p (of a slab owned by this bin) with the lock held; func names the caller for
 * the double-free message. */
void bin_dalloc_locked(struct arena *arena, unsigned cls, void *p, const char *func);
bool bin_validate(struct arena *arena, unsigned cls);

#endif
