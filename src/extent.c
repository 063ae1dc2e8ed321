/* extent.c: page runs inside chunks: best-fit allocation, coalescing, purging (see extent.h). */
#include "extent.h"
#include "arena.h"
#include "os.h"

static void avail_insert(pagealloc_t *pa, run_t *r)
{
    size_t n = r->npages;
    r->prev = NULL;
    r->next = pa->avail[n];
    if (r->next)
        r->next->prev = r;
    pa->avail[n] = r;
    pa->avail_map[n >> 6] |= 1ULL << (n & 63);
}

static void avail_remove(pagealloc_t *pa, run_t *r)
{
    size_t n = r->npages;
    if (r->prev)
        r->prev->next = r->next;
    else
        pa->avail[n] = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (!pa->avail[n])
        pa->avail_map[n >> 6] &= ~(1ULL << (n & 63));
}

static void dirty_append(pagealloc_t *pa, run_t *r)
{
    r->dnext = NULL;
    r->dprev = pa->dirty_tail;
    if (pa->dirty_tail)
        pa->dirty_tail->dnext = r;
    else
        pa->dirty_head = r;
    pa->dirty_tail = r;
    pa->ndirty += r->npages;
}

static void dirty_remove(pagealloc_t *pa, run_t *r)
{
    if (r->dprev)
        r->dprev->dnext = r->dnext;
    else
        pa->dirty_head = r->dnext;
    if (r->dnext)
        r->dnext->dprev = r->dprev;
    else
        pa->dirty_tail = r->dprev;
    pa->ndirty -= r->npages;
}

/* Describe [pi, pi+n) of c as one free run and file it. */
static run_t *freerun_insert(pagealloc_t *pa, chunk_t *c, size_t pi, size_t n, uint8_t flags,
                             uint64_t since)
{
    run_t *r = &c->runs[pi];
    r->npages = (uint32_t)n;
    r->flags = flags;
    r->dirty_since = since;
    c->pagemap[pi] = pm_make(PM_FREE, 0, 0);
    c->pagemap[pi + n - 1] = pm_make(PM_FREE, n - 1, 0);
    avail_insert(pa, r);
    if (flags & RUN_DIRTY)
        dirty_append(pa, r);
    return r;
}

static void freerun_remove(pagealloc_t *pa, run_t *r)
{
    avail_remove(pa, r);
    if (r->flags & RUN_DIRTY)
        dirty_remove(pa, r);
}

static run_t *avail_best_fit(pagealloc_t *pa, size_t n)
{
    size_t w = n >> 6;
    uint64_t bits = pa->avail_map[w] & (~0ULL << (n & 63));
    while (!bits) {
        if (++w == AVAIL_WORDS)
            return NULL;
        bits = pa->avail_map[w];
    }
    return pa->avail[(w << 6) + (size_t)__builtin_ctzll(bits)];
}

void *extent_alloc(struct arena *arena, size_t npages, size_t align_pages, unsigned state,
                   unsigned cls, bool *zeroed)
{
    pagealloc_t *pa = &arena->pa;
    size_t need = npages + align_pages - 1;
    if (need > CHUNK_USABLE_PAGES)
        return NULL;
    run_t *r = avail_best_fit(pa, need);
    if (!r) {
        chunk_t *c = chunk_create(arena);
        if (!c)
            return NULL;
        pa->nchunks++;
        r = freerun_insert(pa, c, CHUNK_HDR_PAGES, CHUNK_USABLE_PAGES, 0, 0);
    }
    chunk_t *c = chunk_of(r);
    size_t start = (size_t)(r - c->runs), len = r->npages;
    uint8_t flags = r->flags;
    uint64_t since = r->dirty_since;
    freerun_remove(pa, r);

    /* Carve the aligned run out; the lead and the tail stay free (their neighbours are not). */
    size_t pi = start;
    if (align_pages > 1) {
        uintptr_t base = (uintptr_t)chunk_page_addr(c, start);
        pi = start + ((ALIGN_UP(base, align_pages << LG_PAGE) - base) >> LG_PAGE);
    }
    if (pi > start)
        freerun_insert(pa, c, start, pi - start, flags, since);
    if (pi + npages < start + len)
        freerun_insert(pa, c, pi + npages, start + len - pi - npages, flags, since);

    for (size_t i = 0; i < npages; i++)
        c->pagemap[pi + i] = pm_make(state, i, cls);
    run_t *out = &c->runs[pi];
    out->npages = (uint32_t)npages;
    out->cls = (uint8_t)cls;
    out->flags = 0;
    pa->nactive += npages;
    *zeroed = !(flags & RUN_DIRTY);
    return chunk_page_addr(c, pi);
}

/* Free [pi, pi+n) of c: coalesce with free neighbours and file the result as dirty. */
static void extent_free_pages(struct arena *arena, chunk_t *c, size_t pi, size_t n)
{
    pagealloc_t *pa = &arena->pa;
    pa->nactive -= n;
    for (size_t i = 0; i < n; i++)
        c->pagemap[pi + i] = pm_make(PM_FREE, 0, 0);

    uint32_t before = c->pagemap[pi - 1]; /* the header's last page is never free */
    if (pm_state(before) == PM_FREE) {
        run_t *prev = &c->runs[pi - 1 - pm_poff(before)];
        freerun_remove(pa, prev);
        pi = (size_t)(prev - c->runs);
        n += prev->npages;
    }
    if (pi + n < CHUNK_NPAGES && pm_state(c->pagemap[pi + n]) == PM_FREE) {
        run_t *next = &c->runs[pi + n];
        freerun_remove(pa, next);
        n += next->npages;
    }
    freerun_insert(pa, c, pi, n, RUN_DIRTY, arena_clock_now());
}

void extent_free(struct arena *arena, void *addr)
{
    chunk_t *c = chunk_of(addr);
    size_t pi = chunk_page_index(c, addr);
    extent_free_pages(arena, c, pi, c->runs[pi].npages);
}

bool extent_grow(struct arena *arena, void *addr, size_t new_npages, unsigned cls, bool *zeroed)
{
    pagealloc_t *pa = &arena->pa;
    chunk_t *c = chunk_of(addr);
    size_t pi = chunk_page_index(c, addr), old = c->runs[pi].npages, end = pi + old;
    size_t extra = new_npages - old;
    if (end + extra > CHUNK_NPAGES || pm_state(c->pagemap[end]) != PM_FREE)
        return false;
    run_t *next = &c->runs[end];
    size_t len = next->npages;
    if (len < extra)
        return false;
    uint8_t flags = next->flags;
    uint64_t since = next->dirty_since;
    freerun_remove(pa, next);
    if (len > extra)
        freerun_insert(pa, c, end + extra, len - extra, flags, since);
    for (size_t i = 0; i < new_npages; i++)
        c->pagemap[pi + i] = pm_make(PM_LARGE, i, cls);
    c->runs[pi].npages = (uint32_t)new_npages;
    c->runs[pi].cls = (uint8_t)cls;
    pa->nactive += extra;
    *zeroed = !(flags & RUN_DIRTY);
    return true;
}

void extent_shrink(struct arena *arena, void *addr, size_t new_npages, unsigned cls)
{
    chunk_t *c = chunk_of(addr);
    size_t pi = chunk_page_index(c, addr), old = c->runs[pi].npages;
    for (size_t i = 0; i < new_npages; i++)
        c->pagemap[pi + i] = pm_make(PM_LARGE, i, cls);
    c->runs[pi].npages = (uint32_t)new_npages;
    c->runs[pi].cls = (uint8_t)cls;
    extent_free_pages(arena, c, pi + new_npages, old - new_npages);
}

/* Give the oldest dirty run back to the kernel: a run that is a whole chunk unmaps the chunk
 * (its header too), any other is purged with madvise.  False when the OS refused. */
static bool purge_oldest(struct arena *arena)
{
    pagealloc_t *pa = &arena->pa;
    run_t *r = pa->dirty_head;
    chunk_t *c = chunk_of(r);
    size_t n = r->npages;
    if (n == CHUNK_USABLE_PAGES) {
        freerun_remove(pa, r);
        pa->nchunks--;
        chunk_destroy(c);
    } else {
        if (!os_purge(chunk_page_addr(c, (size_t)(r - c->runs)), n << LG_PAGE))
            return false;
        dirty_remove(pa, r);
        r->flags &= (uint8_t)~RUN_DIRTY;
    }
    pa->npurge_calls++;
    pa->npurged_pages += n;
    return true;
}

void extent_purge(struct arena *arena, size_t keep_pages)
{
    while (arena->pa.ndirty > keep_pages && arena->pa.dirty_head && purge_oldest(arena))
        ;
}

void extent_purge_older(struct arena *arena, uint64_t cutoff_ms)
{
    while (arena->pa.dirty_head && arena->pa.dirty_head->dirty_since <= cutoff_ms &&
           purge_oldest(arena))
        ;
}

bool extent_validate(struct arena *arena)
{
    pagealloc_t *pa = &arena->pa;
    size_t dirty = 0;
    for (size_t n = 1; n <= CHUNK_USABLE_PAGES; n++) {
        bool nonempty = (pa->avail_map[n >> 6] >> (n & 63)) & 1;
        if (nonempty != (pa->avail[n] != NULL))
            return false;
        for (run_t *r = pa->avail[n]; r; r = r->next) {
            chunk_t *c = chunk_of(r);
            size_t pi = (size_t)(r - c->runs);
            if (r->npages != n || c->arena != arena)
                return false;
            if (pm_state(c->pagemap[pi - 1]) == PM_FREE)
                return false; /* uncoalesced neighbour */
            if (pi + n < CHUNK_NPAGES && pm_state(c->pagemap[pi + n]) == PM_FREE)
                return false;
            for (size_t i = 0; i < n; i++)
                if (pm_state(c->pagemap[pi + i]) != PM_FREE)
                    return false;
            if (pm_poff(c->pagemap[pi + n - 1]) != n - 1)
                return false;
            if (r->flags & RUN_DIRTY)
                dirty += n;
        }
    }
    return dirty == pa->ndirty;
}
