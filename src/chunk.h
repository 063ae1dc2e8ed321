/* chunk.h: arena chunks.  A chunk is a 4 MiB, 4 MiB-aligned mapping owned by one arena.  Its
 * first CHUNK_HDR_PAGES pages are this header; the rest are cut into page runs: slabs of small
 * regions, large blocks, or free runs.  A pointer finds its chunk by masking, and its page's
 * descriptor by index, so free() needs no search.
 *
 * pagemap[i] describes page i: its state (header, free, slab, large), its offset in pages from
 * the start of its run, and for slabs and large blocks the size class.  Every page of an
 * allocated run is marked, so a pointer into the middle of a block is recognised.  For a free
 * run only the state of every page and the offsets of its first and last pages are kept (the
 * last one lets the next run find it to coalesce).
 *
 * runs[i] is the descriptor of the run starting at page i (only first pages' are meaningful).
 * Who guards what: the pagemap entries and descriptors of free and large runs are guarded by the
 * owning arena's lock; a slab's descriptor (nfree, bitmap, list links) by its bin's lock.  The
 * pagemap entries of a live slab or large block do not change until it is freed, so readers on
 * the free path need no lock. */
#ifndef HM_CHUNK_H
#define HM_CHUNK_H

#include "hmalloc_internal.h"
#include "sz.h"

struct arena;

#define PM_STATE_SHIFT 8
/* States are single bits, so the free fast path tests "small" with one instruction. */
#define PM_FREE 0u
#define PM_SMALL 1u
#define PM_LARGE 2u
#define PM_HEADER 4u
#define PM_STATE_MASK (7u << PM_STATE_SHIFT)
#define PM_SMALL_BIT (PM_SMALL << PM_STATE_SHIFT)
#define PM_POFF_SHIFT LG_PAGE /* (pm & ~PAGE_MASK) is the page's byte offset in its run */
#define PM_CLS_MASK 0xffu
/* The class field of a chunk's first page when the chunk was a huge block's memory before. */
#define PM_HDR_WAS_HUGE 1u

/* Free-run flags.  Neither DIRTY nor LAZY: every page reads as zero (fresh, or purged with
 * MADV_DONTNEED).  DIRTY wins over LAZY when runs coalesce. */
#define RUN_DIRTY 1u   /* some pages may be resident (not purged since last use) */
#define RUN_LAZY 2u    /* purged with MADV_FREE: not counted resident, but not known zero */
#define RUN_PURGING 4u /* out of the free lists while its pages are purged without the arena
                        * lock: it cannot be allocated, and neighbours do not coalesce with it */

typedef struct run {
    struct run *next, *prev;   /* slab: bin's nonfull list; free run: avail list of its size */
    struct run *dnext, *dprev; /* free run: the arena's dirty list, oldest first */
    uint32_t npages;
    uint16_t nfree;            /* slab: free regions */
    uint8_t cls;               /* slab, large: size class */
    uint8_t flags;             /* free run: RUN_* */
    uint64_t dirty_since;      /* free run: when it became dirty (decay clock) */
    uint64_t bitmap[SLAB_MAXREGS / 64]; /* slab: bit set = region free */
} run_t;

typedef struct chunk {
    struct arena *arena;
    uint32_t pagemap[CHUNK_NPAGES];
    run_t runs[CHUNK_NPAGES];
} chunk_t;

#define CHUNK_HDR_PAGES ((sizeof(chunk_t) + PAGE - 1) >> LG_PAGE)
#define CHUNK_USABLE_PAGES (CHUNK_NPAGES - CHUNK_HDR_PAGES)

HM_INLINE chunk_t *chunk_of(const void *p) { return (chunk_t *)((uintptr_t)p & ~CHUNK_MASK); }
HM_INLINE size_t chunk_page_index(const chunk_t *c, const void *p)
{
    return ((uintptr_t)p - (uintptr_t)c) >> LG_PAGE;
}
HM_INLINE void *chunk_page_addr(chunk_t *c, size_t pi) { return (char *)c + (pi << LG_PAGE); }
HM_INLINE uint32_t pm_make(unsigned state, size_t poff, unsigned cls)
{
    return (uint32_t)((poff << PM_POFF_SHIFT) | (state << PM_STATE_SHIFT) | cls);
}
HM_INLINE unsigned pm_state(uint32_t pm) { return (pm & PM_STATE_MASK) >> PM_STATE_SHIFT; }
HM_INLINE size_t pm_poff(uint32_t pm) { return pm >> PM_POFF_SHIFT; }
/* Byte offset of p from the start of its run, given its page's entry. */
HM_INLINE uintptr_t pm_run_offset(uint32_t pm, const void *p)
{
    return ((uintptr_t)p & PAGE_MASK) + (pm & ~(uint32_t)PAGE_MASK);
}
HM_INLINE unsigned pm_cls(uint32_t pm) { return pm & PM_CLS_MASK; }

/* A chunk for arena, registered in the chunk map, from (in order) a chunk another arena left
 * entirely free (pages resident: *dirty is true), a retained chunk, or a new mapping; NULL
 * when out of memory.  Not from the cache of huge ranges: realloc_bench ran 7% slower with
 * that, at the same page faults (cause not found), and python_workload gained 2-3k faults.
 * Its usable pages are one free run starting at page CHUNK_HDR_PAGES, zero unless *dirty. */
chunk_t *chunk_create(struct arena *arena, bool *dirty);
/* Make the chunk-aligned CHUNK bytes at addr (hmalloc's mapping, no longer anything else,
 * pages possibly resident and dirty) a chunk of arena's, as chunk_create does; NULL (nothing
 * changed) when the chunk map could not take it. */
chunk_t *chunk_adopt(void *addr, struct arena *arena);
/* A chunk no arena uses any more (no lock needed: nothing points into it): with retain:true its
 * pages are purged (MADV_DONTNEED, whatever opt.purge says, so that RSS drops and the header
 * reads as zero when it is reused) and its address range kept for the next chunk_create;
 * otherwise, or if the purge fails, it is unmapped.  Either way it leaves the chunk map. */
void chunk_release(chunk_t *c);
/* Unmap every retained chunk (out of memory: address space may be what is missing). */
void chunk_unmap_retained(void);
/* Bytes of address space retained for reuse (statistics: not in stats.mapped). */
size_t chunk_retained_bytes(void);
void chunk_prefork(void);
void chunk_postfork_parent(void);
void chunk_postfork_child(void);

#endif
