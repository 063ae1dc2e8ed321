/* stats.h: statistics: totals gathered from the arenas (under their locks) and printing. */
#ifndef HM_STATS_H
#define HM_STATS_H

#include "hmalloc_internal.h"
#include "sz.h"

struct arena;

typedef struct stats_totals {
    size_t allocated; /* bytes in blocks lent out (users' and thread caches') */
    size_t active;    /* bytes in pages of slabs, large and huge blocks */
    size_t dirty;     /* bytes in free pages not yet purged */
    size_t lazy;      /* bytes in free pages purged lazily (MADV_FREE): resident or not, as
                       * the kernel decides; not counted in resident */
    size_t mapped;    /* bytes mapped from the OS (chunks, huge blocks, metadata), less retained */
    size_t retained;  /* bytes of address space kept (purged) for reuse (retain:true) */
    size_t metadata;  /* bytes of metadata */
    size_t resident;  /* upper bound of resident bytes: active + dirty + metadata */
} stats_totals_t;

typedef struct bin_stats {
    uint64_t nmalloc, ndalloc, nfills, nflushes, nslabs_created;
    size_t curregs, curslabs;
} bin_stats_t;

typedef struct arena_stats {
    unsigned nthreads;
    size_t pactive, pdirty, pmuzzy, nchunks; /* pmuzzy: pages purged lazily (jemalloc's name) */
    size_t small_allocated, large_allocated;
    uint64_t small_nmalloc, small_ndalloc, large_nmalloc, large_ndalloc;
    uint64_t npurge_calls, npurged_pages;
    bin_stats_t bins[NSMALL];
} arena_stats_t;

void stats_gather(stats_totals_t *t);
/* Add the counters of src to dst. */
void stats_arena_merge(arena_stats_t *dst, const arena_stats_t *src);
/* Add arena's counters to *s (call with a zeroed *s; several calls merge arenas). */
void stats_arena_add(struct arena *arena, arena_stats_t *s);
void stats_print(void (*write_cb)(void *, const char *), void *cbopaque, const char *opts);

#endif
