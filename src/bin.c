/* bin.c: lending slab regions to thread caches and taking them back (see bin.h). */
#include "bin.h"
#include "arena.h"
#include "slab.h"

void bin_init(bin_t *bin)
{
    hm_mutex_init(&bin->lock);
}

static void nonfull_push(bin_t *bin, run_t *slab)
{
    slab->prev = NULL;
    slab->next = bin->nonfull;
    if (slab->next)
        slab->next->prev = slab;
    bin->nonfull = slab;
}

static void nonfull_remove(bin_t *bin, run_t *slab)
{
    if (slab->prev)
        slab->prev->next = slab->next;
    else
        bin->nonfull = slab->next;
    if (slab->next)
        slab->next->prev = slab->prev;
}

/* A new slab from the arena's pages; bin lock held. */
static run_t *bin_new_slab(arena_t *arena, unsigned cls)
{
    bool zeroed;
    hm_mutex_lock(&arena->lock);
    void *addr = extent_alloc(arena, sz_small[cls].npages, 1, PM_SMALL, cls, &zeroed);
    hm_mutex_unlock(&arena->lock);
    if (!addr)
        return NULL;
    chunk_t *c = chunk_of(addr);
    run_t *slab = &c->runs[chunk_page_index(c, addr)];
    slab_init(slab, cls);
    arena->bins[cls].nslabs++;
    arena->bins[cls].nslabs_created++;
    return slab;
}

unsigned bin_fill(arena_t *arena, unsigned cls, void **out, unsigned n)
{
    bin_t *bin = &arena->bins[cls];
    unsigned got = 0;
    hm_mutex_lock(&bin->lock);
    while (got < n) {
        run_t *slab = bin->cur;
        if (!slab || slab->nfree == 0) {
            slab = bin->nonfull;
            if (slab) {
                nonfull_remove(bin, slab);
            } else if (!(slab = bin_new_slab(arena, cls))) {
                break;
            }
            bin->cur = slab; /* the old cur was full: it goes in no list */
        }
        got += slab_alloc_regions(slab, out + got, n - got);
    }
    bin->curregs += got;
    bin->nmalloc += got;
    bin->nfills++;
    hm_mutex_unlock(&bin->lock);
    return got;
}

void bin_dalloc_locked(arena_t *arena, unsigned cls, void *p, const char *func)
{
    bin_t *bin = &arena->bins[cls];
    chunk_t *c = chunk_of(p);
    size_t pi = chunk_page_index(c, p);
    uint32_t pm = c->pagemap[pi];
    /* Sized frees put a region in the cache of the class the program named: check it here. */
    if (unlikely(pm != pm_make(PM_SMALL, pm_poff(pm), cls))) {
        hm_mutex_unlock(&bin->lock);
        hm_fatal(func, pm_state(pm) == PM_FREE ? "double free" : "size does not match the block",
                 p);
    }
    run_t *slab = &c->runs[pi - pm_poff(pm)];
    bool exact;
    unsigned idx = slab_region_index(pm_run_offset(pm, p), cls, &exact);
    if (unlikely(!exact)) {
        hm_mutex_unlock(&bin->lock);
        hm_fatal(func, "invalid pointer (not the start of a block)", p);
    }
    if (unlikely(!slab_free_region(slab, idx))) {
        hm_mutex_unlock(&bin->lock);
        hm_fatal(func, "double free", p);
    }
    bin->curregs--;
    bin->ndalloc++;
    if (slab == bin->cur)
        return;
    unsigned nregs = sz_small[cls].nregs;
    if (slab->nfree == 1 && nregs > 1) {
        nonfull_push(bin, slab);
    } else if (slab->nfree == nregs) {
        if (nregs > 1)
            nonfull_remove(bin, slab);
        bin->nslabs--;
        hm_mutex_lock(&arena->lock);
        extent_free(arena, slab_addr(slab));
        arena_purge(arena, false);
        hm_mutex_unlock(&arena->lock);
    }
}

bool bin_validate(arena_t *arena, unsigned cls)
{
    bin_t *bin = &arena->bins[cls];
    bool ok = true;
    hm_mutex_lock(&bin->lock);
    for (run_t *s = bin->nonfull; s && ok; s = s->next) {
        unsigned cnt = 0;
        for (unsigned w = 0; w < SLAB_MAXREGS / 64; w++)
            cnt += (unsigned)__builtin_popcountll(s->bitmap[w]);
        ok = s->cls == cls && cnt == s->nfree && s->nfree > 0 && s->nfree < sz_small[cls].nregs;
    }
    hm_mutex_unlock(&bin->lock);
    return ok;
}
