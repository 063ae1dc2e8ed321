/* rtree.h: the chunk map.  For every 4 MiB granule of the address space it says whether hmalloc
 * owns it, and how: an arena chunk (the entry is the chunk's address, whose header describes its
 * pages) or a huge block (the entry is its descriptor, tagged with RTREE_HUGE).  It answers "is
 * this pointer ours?" without touching the pointed-to memory, for every free().
 *
 * Two levels: a static root of 2^12 slots, leaves of 2^13 entries (64 KiB, from base memory)
 * created on first use and never freed.  Readers take no lock (entries are single words written
 * atomically); writers of a granule own it (they just mapped or are about to unmap it), and
 * leaf creation is serialised by rtree_lock. */
#ifndef HM_RTREE_H
#define HM_RTREE_H

#include "hmalloc_internal.h"

#define RTREE_LG_VA 47
#define RTREE_LG_LEAF 13
#define RTREE_LG_ROOT (RTREE_LG_VA - LG_CHUNK - RTREE_LG_LEAF)
#define RTREE_HUGE ((uintptr_t)1)
/* A huge mapping hmalloc has unmapped: the entry keeps its start address, tagged, so that a
 * second free of that start is named a double free rather than a foreign pointer.  A later
 * mapping of hmalloc's overwrites the mark; one by someone else leaves it (a free of exactly
 * that start is then misnamed a double free, and still aborts). */
#define RTREE_FREED ((uintptr_t)2)

extern uintptr_t *rtree_root[(size_t)1 << RTREE_LG_ROOT];

/* One 16-bit key per granule: while the granule is an arena chunk, its arena's index + 1
 * (MAX_ARENAS fits), else 0.  The free fast path needs only this: one load says both that p is
 * in an arena chunk and whose, so a thread compares it with its cache's arena_key instead of
 * walking the tree and then reading the chunk header's arena (5 instructions fewer than a
 * bitmap of arena chunks and that read).  64 MiB of bss, of which only the pages covering
 * mapped chunks are ever written (one page per 2048 chunks, 8 GiB of address space); reading
 * the rest maps the kernel's zero page.  Set after the chunk's entry, cleared before it, so a
 * nonzero key always means a live chunk header. */
extern uint16_t rtree_chunk_keys[(size_t)1 << (RTREE_LG_VA - LG_CHUNK)];

/* The arena key of the chunk p points into: 0 when that is no arena chunk (a huge block,
 * foreign memory, or nowhere).  Never touches the memory p points to. */
HM_INLINE uint16_t rtree_chunk_key(const void *p)
{
    uintptr_t g = (uintptr_t)p >> LG_CHUNK;
    if (unlikely(g >= (uintptr_t)1 << (RTREE_LG_VA - LG_CHUNK)))
        return 0;
    return __atomic_load_n(&rtree_chunk_keys[g], __ATOMIC_ACQUIRE);
}

HM_INLINE uintptr_t rtree_get(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    if (unlikely(a >> RTREE_LG_VA))
        return 0;
    uintptr_t *leaf = __atomic_load_n(&rtree_root[a >> (LG_CHUNK + RTREE_LG_LEAF)], __ATOMIC_ACQUIRE);
    if (unlikely(!leaf))
        return 0;
    return __atomic_load_n(&leaf[(a >> LG_CHUNK) & (((uintptr_t)1 << RTREE_LG_LEAF) - 1)],
                           __ATOMIC_ACQUIRE);
}

/* Set the entries of every granule in [addr, addr+size) to value (no arena chunk: 0, a huge
 * descriptor or a freed mark); false if a leaf could not be allocated (nothing is changed
 * then). */
bool rtree_set_range(const void *addr, size_t size, uintptr_t value);
/* Map the granule at c (chunk-aligned) as a chunk of the arena with index arena_ind. */
bool rtree_set_chunk(const void *c, unsigned arena_ind);
void rtree_prefork(void);
void rtree_postfork_parent(void);
void rtree_postfork_child(void);

#endif
