/* arena.c: arenas: creation, thread binding, small allocation without a thread cache, large
 * blocks, and the dirty-page allowance (see arena.h). */
#include "arena.h"
#include "base.h"
#include "conf.h"
#include "quarantine.h"
#include "slab.h"
#include "valgrind.h"

#include <sched.h>
#include <string.h>
#include <time.h>

arena_t *arenas[MAX_ARENAS];
unsigned narenas_auto;
unsigned narenas_total;
static hm_mutex_t arenas_lock = HM_MUTEX_INITIALIZER;

uint64_t arena_clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

arena_t *arena_get(unsigned ind)
{
    if (ind >= MAX_ARENAS)
        return NULL;
    arena_t *a = __atomic_load_n(&arenas[ind], __ATOMIC_ACQUIRE);
    if (likely(a))
        return a;
    hm_mutex_lock(&arenas_lock);
    a = arenas[ind];
    if (!a) {
        a = base_alloc(sizeof(arena_t));
        if (a) {
            hm_mutex_init(&a->lock);
            a->ind = ind;
            for (unsigned i = 0; i < NSMALL; i++)
                bin_init(&a->bins[i]);
            __atomic_store_n(&arenas[ind], a, __ATOMIC_RELEASE);
            if (ind >= narenas_total)
                __atomic_store_n(&narenas_total, ind + 1, __ATOMIC_RELEASE);
        }
    }
    hm_mutex_unlock(&arenas_lock);
    return a;
}

arena_t *arena_choose_for_thread(void)
{
    /* The arena with the fewest threads bound to it, the lowest index among equals: threads
     * spread out as they start, and a program whose threads come and go (one generation
     * replacing the last) keeps using the same few arenas instead of touching every one of
     * them in turn, each with its own chunks and dirty pages (xmalloc_bench's peak RSS went
     * with round-robin binding was 58 MiB, 28 MiB this way; glibc 27, jemalloc 20). */
    unsigned ind = 0, best = UINT32_MAX;
    for (unsigned i = 0; i < narenas_auto; i++) {
        arena_t *c = __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE);
        unsigned n = c ? __atomic_load_n(&c->nthreads, __ATOMIC_RELAXED) : 0;
        if (n < best) {
            best = n;
            ind = i;
            if (n == 0)
                break;
        }
    }
    arena_t *a = arena_get(ind);
    if (!a)
        a = arena_get(0); /* arena 0 exists once initialisation succeeded */
    __atomic_add_fetch(&a->nthreads, 1, __ATOMIC_RELAXED);
    return a;
}

void *arena_alloc_small(arena_t *arena, unsigned cls, bool zero)
{
    void *p;
    if (!bin_fill(arena, cls, &p, 1))
        return NULL;
    if (zero) {
        vg_mem_undefined(p, sz_small[cls].size); /* free to memcheck until reported */
        memset(p, 0, sz_small[cls].size);
    }
    return p;
}

void arena_dalloc_small_now(void *p, const char *func)
{
    chunk_t *c = chunk_of(p);
    arena_t *arena = c->arena;
    unsigned cls = pm_cls(c->pagemap[chunk_page_index(c, p)]);
    bin_t *bin = &arena->bins[cls];
    hm_mutex_lock(&bin->lock);
    bin_dalloc_locked(arena, cls, p, func);
    hm_mutex_unlock(&bin->lock);
}

void arena_dalloc_small(chunk_t *c, void *p, unsigned cls, const char *func)
{
    arena_t *arena = c->arena;
    if (unlikely(opt_hardened)) {
        p = quarantine_push(arena, p, func);
        if (p)
            arena_dalloc_small_now(p, func);
        return;
    }
    bin_t *bin = &arena->bins[cls];
    hm_mutex_lock(&bin->lock);
    bin_dalloc_locked(arena, cls, p, func);
    hm_mutex_unlock(&bin->lock);
}

void *arena_alloc_large(arena_t *arena, size_t usize, size_t alignment, bool zero)
{
    bool zeroed;
    size_t align_pages = alignment > PAGE ? alignment >> LG_PAGE : 1;
    hm_mutex_lock(&arena->lock);
    void *p = extent_alloc(arena, usize >> LG_PAGE, align_pages, PM_LARGE, sz_size2index(usize),
                           &zeroed);
    if (p) {
        arena->nmalloc_large++;
        arena->allocated_large += usize;
    }
    hm_mutex_unlock(&arena->lock);
    if (p && zero && !zeroed) {
        vg_mem_undefined(p, usize);
        memset(p, 0, usize);
    }
    return p;
}

void arena_dalloc_large(chunk_t *c, void *p)
{
    arena_t *arena = c->arena;
    size_t usize = (size_t)c->runs[chunk_page_index(c, p)].npages << LG_PAGE;
    hm_mutex_lock(&arena->lock);
    arena->ndalloc_large++;
    arena->allocated_large -= usize;
    extent_free(arena, p);
    arena_purge(arena, false);
    hm_mutex_unlock(&arena->lock);
}

void arena_account_large(arena_t *arena, ptrdiff_t bytes, unsigned nmalloc, unsigned ndalloc)
{
    hm_mutex_lock(&arena->lock);
    arena->allocated_large += (size_t)bytes;
    arena->nmalloc_large += nmalloc;
    arena->ndalloc_large += ndalloc;
    hm_mutex_unlock(&arena->lock);
}

bool arena_resize_large(chunk_t *c, void *p, size_t old_usize, size_t new_usize, bool zero)
{
    arena_t *arena = c->arena;
    size_t new_npages = new_usize >> LG_PAGE;
    unsigned cls = sz_size2index(new_usize);
    bool ok = true, zeroed = true;
    hm_mutex_lock(&arena->lock);
    if (new_usize > old_usize)
        ok = extent_grow(arena, p, new_npages, cls, &zeroed);
    else
        extent_shrink(arena, p, new_npages, cls);
    if (ok)
        arena->allocated_large += new_usize - old_usize; /* wraps correctly when shrinking */
    hm_mutex_unlock(&arena->lock);
    if (ok && zero && new_usize > old_usize && !zeroed) {
        vg_mem_undefined((char *)p + old_usize, new_usize - old_usize);
        memset((char *)p + old_usize, 0, new_usize - old_usize);
    }
    return ok;
}

bool arena_has_free_chunk(arena_t *arena)
{
    return arena && __atomic_load_n(&arena->pa.avail[CHUNK_USABLE_PAGES], __ATOMIC_RELAXED);
}

void *arena_take_chunk(arena_t *arena)
{
    if (!arena_has_free_chunk(arena))
        return NULL;
    hm_mutex_lock(&arena->lock);
    chunk_t *c = extent_take_chunk(arena);
    hm_mutex_unlock(&arena->lock);
    return c;
}

chunk_t *arena_steal_chunk(arena_t *self)
{
    unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
        arena_t *a = __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE);
        if (a == self || !arena_has_free_chunk(a) || !hm_mutex_trylock(&a->lock))
            continue;
        chunk_t *c = extent_take_chunk(a);
        hm_mutex_unlock(&a->lock);
        if (c) {
            vg_root_again(c, CHUNK_HDR_PAGES << LG_PAGE); /* registered anew */
            return c;
        }
    }
    return NULL;
}

bool arena_adopt_chunk(arena_t *arena, void *addr)
{
    hm_mutex_lock(&arena->lock);
    chunk_t *c = chunk_adopt(addr, arena);
    if (c)
        extent_add_chunk(arena, c, true);
    hm_mutex_unlock(&arena->lock);
    return c != NULL;
}

/* Freed pages are purged by age (dirty_decay_ms), not by amount: pages a program frees and
 * soon reuses cost no page faults, and pages left idle go back to the kernel within the decay
 * time (from here, the background thread, or any thread's slow path). */
void arena_purge(arena_t *arena, bool all)
{
    if (all)
        extent_purge(arena, 0);
    else
        arena_decay(arena, arena_clock_now());
}

void arena_decay(arena_t *arena, uint64_t now_ms)
{
    if (opt_dirty_decay_ms < 0 || !arena->pa.dirty_head)
        return;
    uint64_t ms = (uint64_t)opt_dirty_decay_ms;
    if (now_ms >= ms)
        extent_purge_older(arena, now_ms - ms);
}

/* The highest footprint seen by arena_purge_excess, in pages (atomic; a racy maximum). */
static size_t footprint_mark;

/* The pages arena_purge_excess would purge; *need is the footprint with the new mapping. */
static size_t excess_pages(size_t huge_bytes, size_t cached_bytes, size_t new_bytes,
                           size_t *need)
{
    unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
    size_t active = huge_bytes >> LG_PAGE, dirty = 0;
    for (unsigned i = 0; i < n; i++) {
        arena_t *a = __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE);
        if (a) { /* a racy sum is good enough for a threshold */
            active += __atomic_load_n(&a->pa.nactive, __ATOMIC_RELAXED);
            dirty += __atomic_load_n(&a->pa.ndirty, __ATOMIC_RELAXED);
        }
    }
    *need = active + dirty + ((cached_bytes + new_bytes) >> LG_PAGE);
    size_t mark = __atomic_load_n(&footprint_mark, __ATOMIC_RELAXED);
    size_t want = 0;
    if (*need > mark && dirty > active / DIRTY_EXCESS_DIV) {
        want = dirty - active / DIRTY_EXCESS_DIV;
        if (want > *need - mark)
            want = *need - mark;
    }
    return want;
}

size_t arena_excess_pages(size_t huge_bytes, size_t cached_bytes, size_t new_bytes)
{
    size_t need;
    return opt_dirty_decay_ms < 0 ? 0 : excess_pages(huge_bytes, cached_bytes, new_bytes, &need);
}

void arena_purge_excess(size_t huge_bytes, size_t cached_bytes, size_t new_bytes)
{
    if (opt_dirty_decay_ms < 0)
        return;
    unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
    size_t need, want = excess_pages(huge_bytes, cached_bytes, new_bytes, &need);
    size_t mark = __atomic_load_n(&footprint_mark, __ATOMIC_RELAXED);
    size_t purged = 0;
    for (unsigned i = 0; i < n && purged < want; i++) {
        arena_t *a = __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE);
        if (!a || !__atomic_load_n(&a->pa.ndirty, __ATOMIC_RELAXED))
            continue;
        hm_mutex_lock(&a->lock);
        size_t before = a->pa.ndirty, left = want - purged;
        extent_purge(a, before > left ? before - left : 0);
        purged += before - a->pa.ndirty < left ? before - a->pa.ndirty : left;
        hm_mutex_unlock(&a->lock);
    }
    need -= purged;
    while (need > mark && !__atomic_compare_exchange_n(&footprint_mark, &mark, need, true,
                                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

void arena_prefork(void)
{
    hm_mutex_lock(&arenas_lock);
    for (unsigned i = 0; i < narenas_total; i++) {
        arena_t *a = arenas[i];
        if (!a)
            continue;
        quarantine_prefork(a);
        for (unsigned c = 0; c < NSMALL; c++)
            hm_mutex_lock(&a->bins[c].lock);
        hm_mutex_lock(&a->lock);
        /* A thread purging with the lock dropped holds runs that are in no list; in the
         * child it would not exist to put them back.  Let it finish its batch (it needs only
         * this lock, and starts no new batch while fork_pending is set). */
        a->pa.fork_pending = true;
        while (a->pa.purgers) {
            hm_mutex_unlock(&a->lock);
            sched_yield();
            hm_mutex_lock(&a->lock);
        }
    }
}

void arena_postfork_parent(void)
{
    for (unsigned i = 0; i < narenas_total; i++) {
        arena_t *a = arenas[i];
        if (!a)
            continue;
        a->pa.fork_pending = false;
        hm_mutex_unlock(&a->lock);
        for (unsigned c = 0; c < NSMALL; c++)
            hm_mutex_unlock(&a->bins[c].lock);
        quarantine_postfork_parent(a);
    }
    hm_mutex_unlock(&arenas_lock);
}

void arena_postfork_child(void)
{
    for (unsigned i = 0; i < narenas_total; i++) {
        arena_t *a = arenas[i];
        if (!a)
            continue;
        hm_mutex_init(&a->lock);
        for (unsigned c = 0; c < NSMALL; c++)
            hm_mutex_init(&a->bins[c].lock);
        quarantine_postfork_child(a);
        a->nthreads = 0;
        a->pa.fork_pending = false;
    }
    hm_mutex_init(&arenas_lock);
}
