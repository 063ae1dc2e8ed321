/* extent.c: page runs inside chunks: best-fit allocation, coalescing, purging (see extent.h). */
#include "extent.h"
#include "arena.h"
#include "conf.h"
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
    else if (flags & RUN_LAZY)
        pa->nlazy += n;
    return r;
}

static void freerun_remove(pagealloc_t *pa, run_t *r)
{
    avail_remove(pa, r);
    if (r->flags & RUN_DIRTY)
        dirty_remove(pa, r);
    else if (r->flags & RUN_LAZY)
        pa->nlazy -= r->npages;
}

/* The flags of two free runs becoming one: dirty if either is (with the later age, so the
 * part freed last still gets its whole decay time), else lazy if either is, else clean. */
static void flags_merge(uint8_t *flags, uint64_t *since, const run_t *other)
{
    if (other->flags & RUN_DIRTY) {
        if (!(*flags & RUN_DIRTY) || other->dirty_since > *since)
            *since = other->dirty_since;
        *flags = RUN_DIRTY;
    } else if ((other->flags & RUN_LAZY) && !(*flags & RUN_DIRTY)) {
        *flags = RUN_LAZY;
    }
}

/* A free neighbour being purged is left alone: it coalesces with this run when it is filed
 * back (purge_dirty), so the runs still end up maximal. */
static bool freerun_mergeable(const run_t *r) { return !(r->flags & RUN_PURGING); }

/* File [pi, pi+n) of c, whose pages are not in any run, as a free run with these flags,
 * coalescing with its free neighbours. */
static void freerun_file(pagealloc_t *pa, chunk_t *c, size_t pi, size_t n, uint8_t flags,
                         uint64_t since)
{
    uint32_t before = c->pagemap[pi - 1]; /* the header's last page is never free */
    if (pm_state(before) == PM_FREE) {
        run_t *prev = &c->runs[pi - 1 - pm_poff(before)];
        if (freerun_mergeable(prev)) {
            flags_merge(&flags, &since, prev);
            freerun_remove(pa, prev);
            pi = (size_t)(prev - c->runs);
            n += prev->npages;
        }
    }
    if (pi + n < CHUNK_NPAGES && pm_state(c->pagemap[pi + n]) == PM_FREE) {
        run_t *next = &c->runs[pi + n];
        if (freerun_mergeable(next)) {
            flags_merge(&flags, &since, next);
            freerun_remove(pa, next);
            n += next->npages;
        }
    }
    freerun_insert(pa, c, pi, n, flags, since);
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

run_t *extent_add_chunk(struct arena *arena, chunk_t *c, bool dirty)
{
    pagealloc_t *pa = &arena->pa;
    pa->nchunks++;
    return freerun_insert(pa, c, CHUNK_HDR_PAGES, CHUNK_USABLE_PAGES, dirty ? RUN_DIRTY : 0,
                          dirty ? arena_clock_now() : 0);
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
        bool dirty;
        chunk_t *c = chunk_create(arena, &dirty);
        if (!c)
            return NULL;
        r = extent_add_chunk(arena, c, dirty);
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
    *zeroed = !(flags & (RUN_DIRTY | RUN_LAZY));
    return chunk_page_addr(c, pi);
}

chunk_t *extent_take_chunk(struct arena *arena)
{
    pagealloc_t *pa = &arena->pa;
    run_t *r = pa->avail[CHUNK_USABLE_PAGES];
    if (!r)
        return NULL;
    freerun_remove(pa, r);
    pa->nchunks--;
    return chunk_of(r);
}

/* Free [pi, pi+n) of c: coalesce with free neighbours and file the result as dirty. */
static void extent_free_pages(struct arena *arena, chunk_t *c, size_t pi, size_t n)
{
    pagealloc_t *pa = &arena->pa;
    pa->nactive -= n;
    for (size_t i = 0; i < n; i++)
        c->pagemap[pi + i] = pm_make(PM_FREE, 0, 0);
    freerun_file(pa, c, pi, n, RUN_DIRTY, arena_clock_now());
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
    if (len < extra || !freerun_mergeable(next))
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
    *zeroed = !(flags & (RUN_DIRTY | RUN_LAZY));
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

/* Purging works in batches so that allocation is not starved of the runs being purged, nor
 * waits long for the lock between batches. */
#define PURGE_BATCH_RUNS 64
#define PURGE_BATCH_PAGES 4096 /* 16 MiB */

typedef struct purge_item {
    run_t *run;
    uint32_t npages;
    uint8_t result; /* os_purge_t */
} purge_item_t;

/* Give dirty runs back to the kernel, oldest first, while more than keep_pages pages are dirty
 * and the oldest became dirty at or before cutoff_ms.  A batch of runs is taken out of the free
 * lists (flagged RUN_PURGING, so nothing allocates or coalesces them), purged with the arena
 * lock dropped -- madvise of many pages takes long, and every thread allocating from the arena
 * would wait for it -- and filed back clean or lazy, coalescing with whatever was freed next
 * to them meanwhile.  A run that is a whole chunk leaves the arena for good (chunk_release).
 * Stops at the first failure (that run stays dirty) or when fork is waiting. */
static void purge_dirty(struct arena *arena, size_t keep_pages, uint64_t cutoff_ms)
{
    pagealloc_t *pa = &arena->pa;
    bool lazy = opt_purge == PURGE_FREE;
    for (;;) {
        purge_item_t batch[PURGE_BATCH_RUNS];
        size_t nruns = 0, npages = 0;
        while (nruns < PURGE_BATCH_RUNS && npages < PURGE_BATCH_PAGES && !pa->fork_pending) {
            run_t *r = pa->dirty_head;
            if (!r || pa->ndirty <= keep_pages || r->dirty_since > cutoff_ms)
                break;
            freerun_remove(pa, r);
            r->flags |= RUN_PURGING;
            if (r->npages == CHUNK_USABLE_PAGES)
                pa->nchunks--;
            batch[nruns++] = (purge_item_t){r, r->npages, OS_PURGE_FAILED};
            npages += r->npages;
        }
        if (!nruns)
            return;
        pa->npurging += npages;
        pa->purgers++;
        hm_mutex_unlock(&arena->lock);
        for (size_t i = 0; i < nruns; i++) {
            run_t *r = batch[i].run;
            chunk_t *c = chunk_of(r);
            if (batch[i].npages == CHUNK_USABLE_PAGES) {
                chunk_release(c); /* r is gone with it */
                batch[i].result = OS_PURGED_ZERO;
            } else {
                batch[i].result = (uint8_t)os_purge(chunk_page_addr(c, (size_t)(r - c->runs)),
                                                    (size_t)batch[i].npages << LG_PAGE, lazy);
            }
        }
        hm_mutex_lock(&arena->lock);
        pa->purgers--;
        pa->npurging -= npages;
        bool failed = false;
        for (size_t i = 0; i < nruns; i++) {
            run_t *r = batch[i].run;
            size_t n = batch[i].npages;
            if (batch[i].result != OS_PURGE_FAILED) {
                pa->npurge_calls++;
                pa->npurged_pages += n;
            }
            if (n == CHUNK_USABLE_PAGES)
                continue;
            chunk_t *c = chunk_of(r);
            uint8_t flags = batch[i].result == OS_PURGE_FAILED ? RUN_DIRTY
                            : batch[i].result == OS_PURGED_LAZY ? RUN_LAZY
                                                                : 0;
            failed |= batch[i].result == OS_PURGE_FAILED;
            r->flags = 0;
            freerun_file(pa, c, (size_t)(r - c->runs), n, flags, r->dirty_since);
        }
        if (failed)
            return;
    }
}

void extent_purge(struct arena *arena, size_t keep_pages)
{
    purge_dirty(arena, keep_pages, UINT64_MAX);
}

void extent_purge_older(struct arena *arena, uint64_t cutoff_ms)
{
    purge_dirty(arena, 0, cutoff_ms);
}

bool extent_validate(struct arena *arena)
{
    pagealloc_t *pa = &arena->pa;
    size_t dirty = 0, lazy = 0;
    for (size_t n = 1; n <= CHUNK_USABLE_PAGES; n++) {
        bool nonempty = (pa->avail_map[n >> 6] >> (n & 63)) & 1;
        if (nonempty != (pa->avail[n] != NULL))
            return false;
        for (run_t *r = pa->avail[n]; r; r = r->next) {
            chunk_t *c = chunk_of(r);
            size_t pi = (size_t)(r - c->runs);
            if (r->npages != n || c->arena != arena || (r->flags & RUN_PURGING))
                return false;
            uint32_t before = c->pagemap[pi - 1];
            if (pm_state(before) == PM_FREE &&
                freerun_mergeable(&c->runs[pi - 1 - pm_poff(before)]))
                return false; /* uncoalesced neighbour */
            if (pi + n < CHUNK_NPAGES && pm_state(c->pagemap[pi + n]) == PM_FREE &&
                freerun_mergeable(&c->runs[pi + n]))
                return false;
            for (size_t i = 0; i < n; i++)
                if (pm_state(c->pagemap[pi + i]) != PM_FREE)
                    return false;
            if (pm_poff(c->pagemap[pi + n - 1]) != n - 1)
                return false;
            if (r->flags & RUN_DIRTY)
                dirty += n;
            else if (r->flags & RUN_LAZY)
                lazy += n;
        }
    }
    return dirty == pa->ndirty && lazy == pa->nlazy;
}
