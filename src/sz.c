/* sz.c: builds the size-class tables (see sz.h for the scheme). */
#include "sz.h"

uint8_t sz_lut[(LOOKUP_MAXCLASS >> 3) + 1];
size_t sz_index2size_tab[NCLASSES];
sz_small_info_t sz_small[NSMALL];
uint32_t sz_recip[NSMALL];
unsigned sz_nlarge_index;
unsigned sz_huge_index;

static size_t sz_class_size(unsigned idx)
{
    if (idx == 0)
        return 8;
    if (idx <= 8)
        return (size_t)idx << 4;
    unsigned g = (idx - 9) / 4, m = (idx - 9) % 4 + 5; /* group g covers (2^(g+7), 2^(g+8)] */
    return (size_t)m << (g + 5);
}

/* Slab size for a small class: the fewest pages (at most 16) that hold at least 4 regions with
 * at most 1/64 of the slab wasted, otherwise the least wasteful; at most SLAB_MAXREGS regions.
 * Four regions or more keep one slab from cycling through the page allocator per block. */
static void sz_choose_slab(sz_small_info_t *si)
{
    unsigned best = 1;
    size_t best_waste = SIZE_MAX;
    for (unsigned np = 1; np <= 16; np++) {
        size_t bytes = np * PAGE;
        if (bytes / si->size > SLAB_MAXREGS)
            break;
        size_t waste = bytes % si->size;
        if (waste * 64 <= bytes && bytes / si->size >= 4) {
            best = np;
            break;
        }
        if (waste * best * PAGE < best_waste * bytes) {
            best = np;
            best_waste = waste;
        }
    }
    si->npages = (uint16_t)best;
    si->nregs = (uint16_t)(best * PAGE / si->size);
}

void sz_boot(void)
{
    for (unsigned i = 0; i < NCLASSES; i++)
        sz_index2size_tab[i] = sz_class_size(i);
    for (size_t s = 0; s <= LOOKUP_MAXCLASS; s += 8)
        sz_lut[s >> 3] = (uint8_t)sz_size2index_compute(s ? s : 1);
    for (unsigned i = 0; i < NSMALL; i++) {
        sz_small_info_t *si = &sz_small[i];
        si->size = (uint32_t)sz_index2size_tab[i];
        sz_choose_slab(si);
        si->recip = (uint32_t)(((1ULL << 32) + si->size - 1) / si->size);
        sz_recip[i] = si->recip;
    }
    sz_nlarge_index = NSMALL;
    sz_huge_index = sz_size2index_compute(LARGE_MAXCLASS) + 1;
}

size_t sz_sa2u(size_t size, size_t alignment)
{
    if (alignment <= QUANTUM) {
        if (size > HUGE_MAXCLASS)
            return 0;
        size_t u = sz_s2u(size);
        return (u < QUANTUM && alignment == QUANTUM) ? QUANTUM : u;
    }
    if (size > HUGE_MAXCLASS || alignment > HUGE_MAXCLASS)
        return 0;
    /* Rounding up to a multiple of the alignment gives a class that is a multiple of it too. */
    size_t s = ALIGN_UP(size ? size : 1, alignment);
    if (s > HUGE_MAXCLASS)
        return 0;
    size_t u = sz_s2u(s);
    if (u <= SMALL_MAXCLASS && alignment <= PAGE)
        return u;
    /* Page runs and mappings: any class >= the size is placed at an aligned address. */
    return u < LARGE_MINCLASS ? LARGE_MINCLASS : u;
}
