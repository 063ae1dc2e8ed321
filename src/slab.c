/* slab.c: region bitmaps of slabs (see slab.h). */
#include "slab.h"

void slab_init(run_t *slab, unsigned cls)
{
    unsigned nregs = sz_small[cls].nregs;
    slab->cls = (uint8_t)cls;
    slab->nfree = (uint16_t)nregs;
    slab->next = slab->prev = NULL;
    for (unsigned w = 0; w < SLAB_MAXREGS / 64; w++) {
        unsigned lo = w * 64;
        slab->bitmap[w] = nregs >= lo + 64 ? ~0ULL : nregs > lo ? (1ULL << (nregs - lo)) - 1 : 0;
    }
}

unsigned slab_alloc_regions(run_t *slab, void **out, unsigned n)
{
    char *base = slab_addr(slab);
    size_t size = sz_small[slab->cls].size;
    unsigned got = 0;
    if (n > slab->nfree)
        n = slab->nfree;
    for (unsigned w = 0; got < n; w++) {
        uint64_t bits = slab->bitmap[w];
        while (bits && got < n) {
            unsigned b = (unsigned)__builtin_ctzll(bits);
            bits &= bits - 1;
            out[got++] = base + (size_t)(w * 64 + b) * size;
        }
        slab->bitmap[w] = bits;
    }
    slab->nfree = (uint16_t)(slab->nfree - got);
    return got;
}
