/* slab.c: region bitmaps of slabs (see slab.h). */
#include "slab.h"
#include "conf.h"
#include "tcache.h"

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

/* Hardened mode: a region chosen at random among the free ones, so that which block follows
 * which is not predictable (a heap overflow cannot count on its neighbour).  A counter mixed by
 * splitmix64 and the per-process secret; no lock needed. */
static uint64_t slab_rng_ctr;

static unsigned slab_take_random(run_t *slab)
{
    uint64_t x = __atomic_add_fetch(&slab_rng_ctr, 0x9e3779b97f4a7c15ULL, __ATOMIC_RELAXED) ^
                 tcache_secret;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    unsigned k = (unsigned)(x % slab->nfree); /* take the k-th free region */
    for (unsigned w = 0;; w++) {
        uint64_t bits = slab->bitmap[w];
        unsigned cnt = (unsigned)__builtin_popcountll(bits);
        if (k >= cnt) {
            k -= cnt;
            continue;
        }
        while (k--)
            bits &= bits - 1;
        unsigned b = (unsigned)__builtin_ctzll(bits);
        slab->bitmap[w] &= ~(1ULL << b);
        slab->nfree--;
        return w * 64 + b;
    }
}

unsigned slab_alloc_regions(run_t *slab, void **out, unsigned n)
{
    if (unlikely(opt_hardened)) {
        char *base = slab_addr(slab);
        size_t size = sz_small[slab->cls].size;
        unsigned got = 0;
        while (got < n && slab->nfree)
            out[got++] = base + (size_t)slab_take_random(slab) * size;
        return got;
    }
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
