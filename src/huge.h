/* huge.h: blocks above LARGE_MAXCLASS (or too aligned for a chunk) are mappings of their own,
 * aligned to a chunk so that the chunk map can name them: every granule a huge block covers
 * maps to its descriptor (tagged RTREE_HUGE).  Descriptors come from base memory and are
 * recycled.  huge_lock guards the descriptor free list and the cache of freed mappings. */
#ifndef HM_HUGE_H
#define HM_HUGE_H

#include "hmalloc_internal.h"

/* Bytes of freed mappings kept for reuse: twice the huge bytes in use, at least
 * HUGE_CACHE_MIN.  A program whose working set is big blocks reuses them without faulting them
 * in again (malloc_large_bench), while one with few live huge blocks does not keep tens of MiB
 * of dead ones resident (realloc_bench: peak RSS 68 MiB with a fixed 64 MiB cache).  What waits
 * in the cache is still unmapped after dirty_decay_ms.  The floor is 16 MiB rather than 8: a
 * program growing a few buffers of 2..4 MiB at a time (realloc_bench's vectors) frees them
 * faster than 8 MiB holds, and each one unmapped came back as a fresh mapping whose every page
 * faults in (realloc_bench, with the peak rule of arena_purge_excess: 25.4k -> 10.7k page
 * faults; peak RSS 26.5 -> 30.6 MiB; jemalloc 6.1k faults and 26.5 MiB, tcmalloc 38 MiB).
 *
 * The cache is a set of address ranges rather than of whole blocks: a request smaller than a
 * cached range takes its first granules and leaves the rest cached (a split, no system call),
 * and a range freed next to a cached one joins it.  Trimming the excess with munmap instead,
 * and mapping afresh whenever no cached block was big enough, cost an munmap and an mmap for
 * most huge blocks, and the kernel's page tables with each (large_bench: 640 munmaps for 1000
 * huge blocks; touching address space whose page tables were freed is very slow on a VM with
 * shadow page tables).  Twice rather than once the bytes in use: with once, the ranges left
 * did not fit the next request often enough (malloc_large_bench: 170 fresh mappings and 3.5
 * GiB unmapped in 2000 rounds, 44 and 0.9 GiB with twice; peak RSS of realloc_bench, frag_bench
 * and cycle_bench unchanged).  Joined ranges may lie in two of the kernel's mappings, where
 * mremap fails: realloc then copies instead. */
#define HUGE_CACHE_MIN ((size_t)16 << 20)

struct arena;

typedef struct huge {
    struct arena *arena; /* whose large-block statistics count it */
    uintptr_t ptr_inv;  /* ~ the user's pointer (start of the mapping): see huge_ptr() */
    size_t usize;       /* usable size: a size class; 0 while the mapping is cached (free) */
    size_t maplen;      /* bytes mapped */
    struct huge *next_free;
    struct huge *cnext, *cprev; /* the cache of free mappings, oldest first */
    uint64_t cached_since;      /* when it was freed (arena_clock_now() time) */
    bool cached;                /* in the cache (huge_lock) */
} huge_t;

/* The block's address is kept inverted, so that no word of hmalloc's metadata points into a
 * block: valgrind's leak check takes any such word for a reference to the block, and would
 * call a huge block the program leaked "still reachable". */
HM_INLINE void *huge_ptr(const huge_t *h) { return (void *)~h->ptr_inv; }
HM_INLINE void huge_set_ptr(huge_t *h, void *p) { h->ptr_inv = ~(uintptr_t)p; }

/* A block of usize bytes aligned to alignment, or NULL.  *zeroed says whether it is known to
 * be zero (a fresh mapping) rather than a reused one.  Where it comes from, in order: a cached
 * range; chunks arena left entirely free (resident pages, and the footprint does not grow):
 * one in place for a block of at most a chunk, else moved into a new reservation with mremap
 * (see huge_map_free_chunks); a new mapping (after arena_purge_excess).  A freed block's
 * memory can go back the other way: see huge_dalloc. */
void *huge_alloc(struct arena *arena, size_t usize, size_t alignment, bool *zeroed);
/* Free h: its mapping is kept in a bounded cache for reuse (so a program that frees and
 * allocates big blocks in a loop does not fault every page in again) and unmapped once it
 * is older than dirty_decay_ms; a block bigger than the cache's limit is unmapped at once.
 * What the full cache evicts gives its whole chunks to the block's arena as free dirty chunks
 * (ranges up to HUGE_CACHE_MIN, chunks at least half resident), the rest is unmapped.  A
 * cached range stays in the chunk map, so freeing it again (also a block that joined the
 * range before it) is a double free. */
void huge_dalloc(huge_t *h);
/* Unmap cached mappings freed at or before cutoff_ms (all with UINT64_MAX). */
void huge_decay(uint64_t cutoff_ms);
size_t huge_cached_bytes(void);
/* Could a block of usize bytes (above LARGE_MAXCLASS) be served from the cache now?  realloc
 * then copies into the cached range, whose pages are resident, rather than moving the block's
 * pages to a fresh mapping whose added pages all fault in: on this VM a page fault (~8 us)
 * costs about what copying 100 KiB does. */
bool huge_cache_fits(size_t usize);
/* Resize h in place to new_usize (a class above LARGE_MAXCLASS); false when the address
 * space after it is taken (nothing changes then).  With zero, the bytes added read as zero.
 * A shrink to at least half the mapping purges the pages cut off but keeps them mapped (the
 * block's slack, maplen > usize); a deeper one unmaps them. */
bool huge_resize_in_place(huge_t *h, size_t new_usize, bool zero);
/* Move h to a new chunk-aligned mapping of new_usize bytes by remapping its pages (no copy);
 * returns the new address, or NULL (h unchanged). */
void *huge_remap(huge_t *h, size_t new_usize);
size_t huge_allocated_bytes(void);
void huge_counts(uint64_t *nmalloc, uint64_t *ndalloc);
void huge_prefork(void);
void huge_postfork_parent(void);
void huge_postfork_child(void);

#endif
