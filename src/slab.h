/* slab.h: a slab is a page run cut into equal regions of one small class, with a bitmap of
 * free regions (bit set = free) and a free count.  A region is in exactly one of: a slab's free
 * bitmap, a thread cache, or a user's hands; the bitmap therefore also catches double frees.
 * Callers hold the owning bin's lock. */
#ifndef HM_SLAB_H
#define HM_SLAB_H

#include "chunk.h"

HM_INLINE void *slab_addr(run_t *slab)
{
    chunk_t *c = chunk_of(slab);
    return chunk_page_addr(c, (size_t)(slab - c->runs));
}

/* Region index of byte offset off within a slab of class cls, by multiplying with the
 * precomputed reciprocal r = ceil(2^32 / size) (no division).  off * r = idx * 2^32 +
 * idx * e + rem * r, where e = size * r - 2^32 < size; in a slab idx * e stays below r while
 * rem * r >= r for a nonzero remainder, so the low 32 bits are below r exactly when off is a
 * region's first byte.  test/unit/sz_test checks this for every offset of every class. */
HM_INLINE unsigned slab_region_index(uintptr_t off, unsigned cls, bool *exact)
{
    uint64_t r = sz_recip[cls], prod = off * r;
    *exact = (uint32_t)prod < r;
    return (unsigned)(prod >> 32);
}

void slab_init(run_t *slab, unsigned cls);
/* Take up to n free regions (lowest addresses first) into out; returns how many. */
unsigned slab_alloc_regions(run_t *slab, void **out, unsigned n);
/* Mark region idx free; false if it already was (a double free). */
HM_INLINE bool slab_free_region(run_t *slab, unsigned idx)
{
    uint64_t bit = 1ULL << (idx & 63);
    uint64_t *w = &slab->bitmap[idx >> 6];
    if (unlikely(*w & bit))
        return false;
    *w |= bit;
    slab->nfree++;
    return true;
}
HM_INLINE bool slab_region_is_free(run_t *slab, unsigned idx)
{
    return (__atomic_load_n(&slab->bitmap[idx >> 6], __ATOMIC_RELAXED) >> (idx & 63)) & 1;
}

#endif
