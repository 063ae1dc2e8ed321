/* sz.h: size classes.  jemalloc-style geometric classes: 8, then a 16-byte quantum up to 128,
 * then four classes per doubling (160, 192, 224, 256, 320 ...), which bounds internal waste at
 * 20%.  Classes below SMALL_MAXCLASS live in slabs, those up to LARGE_MAXCLASS are page runs
 * inside chunks, and larger ones ("huge") are mappings of their own.
 *
 * Invariants: sz_size2index(s) is the smallest class holding s; sz_index2size is increasing;
 * every class >= 16 is a multiple of 16, and a class is a multiple of any power of two it is
 * rounded up from (so aligned requests can be served from ordinary classes).  The tables are
 * filled by sz_boot() before the first allocation and never change afterwards. */
#ifndef HM_SZ_H
#define HM_SZ_H

#include "hmalloc_internal.h"

#define NSMALL 36                       /* classes 8 .. 14336 */
#define SMALL_MAXCLASS ((size_t)14336)
#define LARGE_MINCLASS ((size_t)16384)
#define LARGE_MAXCLASS ((size_t)2 << 20) /* 2 MiB: largest run kept inside a chunk */
#define LOOKUP_MAXCLASS ((size_t)4096)  /* sizes up to here go through one table load */
#define NCLASSES 232                    /* up to HUGE_MAXCLASS */
#define HUGE_MAXCLASS ((size_t)7 << 60) /* largest class; anything above fails with ENOMEM */
#define SLAB_MAXREGS 512

typedef struct sz_small_info {
    uint32_t size;      /* region size */
    uint16_t nregs;     /* regions in one slab */
    uint16_t npages;    /* pages in one slab */
    uint32_t recip;     /* ceil(2^32 / size): region index = (offset * recip) >> 32 */
} sz_small_info_t;

extern uint8_t sz_lut[(LOOKUP_MAXCLASS >> 3) + 1];
extern size_t sz_index2size_tab[NCLASSES];
extern sz_small_info_t sz_small[NSMALL];
extern uint32_t sz_recip[NSMALL]; /* sz_small[i].recip, packed for the free fast path */
extern unsigned sz_nlarge_index;        /* index of LARGE_MINCLASS == NSMALL */
extern unsigned sz_huge_index;          /* first class above LARGE_MAXCLASS */

void sz_boot(void);

/* Class of a size that is neither 0 nor above HUGE_MAXCLASS, computed (no table). */
HM_INLINE unsigned sz_size2index_compute(size_t size)
{
    if (size <= 128)
        return size <= 8 ? 0 : (unsigned)((size + 15) >> 4);
    unsigned n = 63 - (unsigned)__builtin_clzll(size - 1); /* size in (2^n, 2^(n+1)] */
    unsigned m = (unsigned)((size - 1) >> (n - 2)) + 1;    /* 5 .. 8 */
    return 9 + 4 * (n - 7) + (m - 5);
}

/* Smallest class index holding size (size 0 counts as 1). Caller checks size <= HUGE_MAXCLASS. */
HM_INLINE unsigned sz_size2index(size_t size)
{
    if (likely(size <= LOOKUP_MAXCLASS))
        return sz_lut[(size + 7) >> 3];
    return sz_size2index_compute(size);
}

HM_INLINE size_t sz_index2size(unsigned idx) { return sz_index2size_tab[idx]; }

HM_INLINE size_t sz_s2u(size_t size) { return sz_index2size(sz_size2index(size)); }

/* Usable size of a request of size bytes aligned to alignment (a power of two), or 0 when no
 * class can hold it.  Mirrors how the allocation itself is served. */
size_t sz_sa2u(size_t size, size_t alignment);

#endif
