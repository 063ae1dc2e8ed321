/* huge.c: blocks that are mappings of their own (see huge.h). */
#include "huge.h"
#include "chunk.h"
#include "arena.h"
#include "base.h"
#include "conf.h"
#include "lock.h"
#include "os.h"
#include "rtree.h"
#include "valgrind.h"

#include <string.h>

static hm_mutex_t huge_lock = HM_MUTEX_INITIALIZER; /* guards the descriptor free list */
static huge_t *huge_free_descs;
static size_t huge_allocated;            /* atomic: bytes */
static uint64_t huge_nmalloc, huge_ndalloc; /* atomic */
static huge_t *cache_head, *cache_tail;      /* freed mappings, oldest first */
static size_t cache_bytes;                   /* atomic for readers; written under huge_lock */

static huge_t *huge_desc_get(void)
{
    hm_mutex_lock(&huge_lock);
    huge_t *h = huge_free_descs;
    if (h)
        huge_free_descs = h->next_free;
    hm_mutex_unlock(&huge_lock);
    return h ? h : base_alloc(sizeof(huge_t));
}

static void huge_desc_put(huge_t *h)
{
    hm_mutex_lock(&huge_lock);
    h->next_free = huge_free_descs;
    huge_free_descs = h;
    hm_mutex_unlock(&huge_lock);
}

static void cache_remove(huge_t *h)
{
    if (h->cprev)
        h->cprev->cnext = h->cnext;
    else
        cache_head = h->cnext;
    if (h->cnext)
        h->cnext->cprev = h->cprev;
    else
        cache_tail = h->cprev;
    h->cached = false;
    __atomic_store_n(&cache_bytes, cache_bytes - h->maplen, __ATOMIC_RELAXED);
}

static void cache_append(huge_t *h)
{
    h->cnext = NULL;
    h->cprev = cache_tail;
    if (cache_tail)
        cache_tail->cnext = h;
    else
        cache_head = h;
    cache_tail = h;
    h->cached = true;
    __atomic_store_n(&cache_bytes, cache_bytes + h->maplen, __ATOMIC_RELAXED);
}

/* The cached range whose chunk-map entry is e, if e names one. */
static huge_t *cache_range_of(uintptr_t e)
{
    if ((e & (RTREE_HUGE | RTREE_FREED)) != RTREE_HUGE)
        return NULL;
    huge_t *n = (huge_t *)(e & ~RTREE_HUGE);
    return n->cached ? n : NULL;
}

/* File h (free, not cached) in the cache, joined with the cached ranges right before and
 * after it (huge_lock held).  Returns the descriptors left over, linked by
 * next_free, for the caller to recycle once the lock is dropped. */
static huge_t *cache_insert(huge_t *h, uint64_t now)
{
    huge_t *spare = NULL;
    uintptr_t start = (uintptr_t)huge_ptr(h);
    huge_t *prev = cache_range_of(rtree_get((void *)(start - 1)));
    if (prev && (uintptr_t)huge_ptr(prev) + prev->maplen == start) {
        cache_remove(prev);
        rtree_set_range((void *)start, h->maplen, (uintptr_t)prev | RTREE_HUGE);
        prev->maplen += h->maplen;
        h->next_free = spare;
        spare = h;
        h = prev;
        start = (uintptr_t)huge_ptr(h);
    }
    uintptr_t end = start + h->maplen;
    huge_t *next = (end & CHUNK_MASK) ? NULL : cache_range_of(rtree_get((void *)end));
    if (next && (uintptr_t)huge_ptr(next) == end) {
        cache_remove(next);
        rtree_set_range((void *)end, next->maplen, (uintptr_t)h | RTREE_HUGE);
        h->maplen += next->maplen;
        next->next_free = spare;
        spare = next;
    }
    h->cached_since = now; /* the joined range waits as long as its newest part */
    cache_append(h);
    return spare;
}

/* Unmap a free mapping for good (huge_lock not needed: h is in no list). */
static void huge_unmap(huge_t *h)
{
    rtree_set_range(huge_ptr(h), h->maplen, (uintptr_t)huge_ptr(h) | RTREE_FREED);
    os_unmap(huge_ptr(h), h->maplen);
    huge_desc_put(h);
}

/* Cut a mapping down to new_maplen bytes; granules wholly past the new end leave the map. */
static void huge_trim(huge_t *h, size_t new_maplen)
{
    uintptr_t keep_end = ALIGN_UP((uintptr_t)huge_ptr(h) + new_maplen, CHUNK);
    uintptr_t old_end = (uintptr_t)huge_ptr(h) + h->maplen;
    /* The map entries go before the pages: once unmapped, the range may be mapped and
     * registered by another thread at once, and clearing after would erase its entries. */
    if (keep_end < old_end)
        rtree_set_range((void *)keep_end, old_end - keep_end, 0);
    os_remap_in_place(huge_ptr(h), h->maplen, new_maplen);
    h->maplen = new_maplen;
}

static huge_t *cache_best(size_t maplen, size_t alignment)
{
    huge_t *best = NULL;
    for (huge_t *h = cache_head; h; h = h->cnext)
        if (h->maplen >= maplen && !((uintptr_t)huge_ptr(h) & (alignment - 1)) &&
            (!best || h->maplen < best->maplen))
            best = h;
    return best;
}

/* Take the best-fitting cached range for maplen bytes at alignment, if any.  What lies past
 * the granules the block needs stays cached as a range of its own (it takes best's place in
 * the list: it has best's age), so a big range serves a small block without a system call. */
static huge_t *cache_take(size_t maplen, size_t alignment)
{
    size_t keep = ALIGN_UP(maplen, CHUNK);
    huge_t *rest = NULL;
    hm_mutex_lock(&huge_lock);
    huge_t *best = cache_best(maplen, alignment);
    if (best && best->maplen > keep && !huge_free_descs) {
        /* A descriptor for the rest: base_alloc may map, so not under the lock.  Without one
         * the block takes the whole range. */
        hm_mutex_unlock(&huge_lock);
        huge_t *d = base_alloc(sizeof(huge_t));
        hm_mutex_lock(&huge_lock);
        if (d) {
            d->next_free = huge_free_descs;
            huge_free_descs = d;
        }
        best = cache_best(maplen, alignment); /* the cache may have changed meanwhile */
    }
    if (best && best->maplen > keep && (rest = huge_free_descs) != NULL)
        huge_free_descs = rest->next_free;
    if (rest) {
        huge_set_ptr(rest, (char *)huge_ptr(best) + keep);
        rest->maplen = best->maplen - keep;
        rest->usize = 0;
        rest->arena = best->arena;
        rest->cached_since = best->cached_since;
        rest->cached = true;
        rest->cprev = best->cprev;
        rest->cnext = best->cnext;
        if (rest->cprev)
            rest->cprev->cnext = rest;
        else
            cache_head = rest;
        if (rest->cnext)
            rest->cnext->cprev = rest;
        else
            cache_tail = rest;
        /* The rest's granules are registered already: this cannot fail. */
        rtree_set_range(huge_ptr(rest), rest->maplen, (uintptr_t)rest | RTREE_HUGE);
        best->cached = false;
        best->maplen = keep;
        __atomic_store_n(&cache_bytes, cache_bytes - keep, __ATOMIC_RELAXED);
    } else if (best) {
        cache_remove(best);
    }
    hm_mutex_unlock(&huge_lock);
    return best;
}

/* A free mapping leaves the cache for good (h is in no list).  Its whole chunks go to its arena
 * as free, dirty chunks, where they serve slabs, large blocks and later huge blocks with their
 * pages still resident, and are purged by age like any dirty run; the rest is unmapped.
 * Unmapping it all makes a program that frees its big objects and goes on with small ones
 * fault the same amount of memory in again (python_workload's threads, after it freed 59 MiB
 * of big objects: 4.6k page faults, 0.6k this way).  Only ranges of at most HUGE_CACHE_MIN (a
 * block of hundreds of MiB goes back at once: huge_free_test), and only the range's leading
 * chunks that are at least half resident (mincore; the rest is unmapped in one piece): a
 * chunk the program barely touched saves no page faults, and as an arena chunk it would only
 * keep its header pages resident (large_bench, which writes 16 words of each block: 2.4k more
 * page faults and 18% more peak RSS without this test).  An earlier bound, only while the
 * arena had fewer dirty pages than pages in use, kept python_workload's big objects from going
 * this way; what is kept now goes back after dirty_decay_ms like any freed page. */
static void huge_release(huge_t *h)
{
    char *p = huge_ptr(h);
    size_t whole = h->maplen & ~CHUNK_MASK, given = 0;
    if (h->arena && h->maplen <= HUGE_CACHE_MIN && opt_dirty_decay_ms != 0 && !opt_hardened &&
        !vg_running())
        while (given < whole && os_resident_pages(p + given, CHUNK) >= (CHUNK >> LG_PAGE) / 2 &&
               arena_adopt_chunk(h->arena, p + given))
            given += CHUNK;
    if (given == h->maplen) {
        huge_desc_put(h);
        return;
    }
    huge_set_ptr(h, p + given);
    h->maplen -= given;
    huge_unmap(h);
}

void huge_decay(uint64_t cutoff_ms)
{
    for (;;) {
        hm_mutex_lock(&huge_lock);
        huge_t *h = cache_head;
        if (h && h->cached_since <= cutoff_ms)
            cache_remove(h);
        else
            h = NULL;
        hm_mutex_unlock(&huge_lock);
        if (!h)
            return;
        huge_unmap(h);
    }
}

bool huge_cache_fits(size_t usize)
{
    size_t maplen = ALIGN_UP(usize, PAGE);
    if (maplen < usize || __atomic_load_n(&cache_bytes, __ATOMIC_RELAXED) < maplen)
        return false;
    hm_mutex_lock(&huge_lock);
    bool fits = cache_best(maplen, CHUNK) != NULL;
    hm_mutex_unlock(&huge_lock);
    return fits;
}

size_t huge_cached_bytes(void) { return __atomic_load_n(&cache_bytes, __ATOMIC_RELAXED); }

/* A mapping for a huge block of maplen bytes made of chunks the arena left entirely free, or
 * NULL when it has none: their pages are resident already, and the footprint does not grow.
 * A block of at most a chunk is such a chunk, used where it lies.  A bigger one gets a fresh
 * chunk-aligned reservation, and free chunks are moved into it one by one with mremap (the
 * kernel moves their page tables; nothing is copied or faulted); the granules no free chunk
 * covers stay fresh.  Without this, a program that turns freed small objects into big ones
 * faulted every page of the big ones in while the arena purged the pages it freed
 * (python_workload's big objects after its dicts: 15.0k -> 8.3k page faults, 0.29 -> 0.19 s).
 * Not under valgrind (memcheck would have to follow the moves).  *maplen becomes the
 * mapping's length; what lies past the block's last page in a moved chunk is purged, so the
 * block's slack does not keep old pages resident. */
static void *huge_map_free_chunks(arena_t *arena, size_t *maplen)
{
    if (*maplen <= CHUNK) {
        void *p = arena_take_chunk(arena);
        if (p) {
            *maplen = CHUNK;
            vg_root_again(p, CHUNK_HDR_PAGES << LG_PAGE);
        }
        return p;
    }
    size_t len = ALIGN_UP(*maplen, CHUNK);
    if (len < *maplen || vg_running() || !arena_has_free_chunk(arena))
        return NULL;
    /* Only chunks the new mapping would make arena_purge_excess purge anyway: a free chunk
     * that stays serves the arena's next slabs and large blocks with its pages resident, and
     * a block that is not written all over gains little from resident pages (large_bench,
     * moving every free chunk: 20.1k -> 22.4k page faults, 10% slower). */
    size_t most = arena_excess_pages(__atomic_load_n(&huge_allocated, __ATOMIC_RELAXED),
                                     __atomic_load_n(&cache_bytes, __ATOMIC_RELAXED), *maplen) /
                  CHUNK_USABLE_PAGES * CHUNK;
    if (most > len)
        most = len;
    if (!most)
        return NULL;
    char *q = os_map(len, CHUNK);
    if (!q)
        return NULL;
    size_t moved = 0;
    while (moved < most) {
        chunk_t *c = arena_take_chunk(arena);
        if (!c)
            break;
        /* Out of the chunk map before the range goes: another thread may map it at once. */
        rtree_set_range(c, CHUNK, 0);
        if (!os_remap_to(c, CHUNK, q + moved, CHUNK)) {
            chunk_release(c);
            break;
        }
        moved += CHUNK;
    }
    if (!moved) { /* another thread took the free chunk first */
        os_unmap(q, len);
        return NULL;
    }
    if (moved > *maplen)
        os_purge(q + *maplen, moved - *maplen, false);
    else if (moved < *maplen)
        arena_purge_excess(__atomic_load_n(&huge_allocated, __ATOMIC_RELAXED),
                           __atomic_load_n(&cache_bytes, __ATOMIC_RELAXED), *maplen - moved);
    *maplen = len;
    return q;
}

void *huge_alloc(struct arena *arena, size_t usize, size_t alignment, bool *zeroed)
{
    size_t maplen = ALIGN_UP(usize, PAGE);
    /* Hardened: one more page, made inaccessible, ends the mapping (a guard against running
     * off the end).  Such mappings are never cached or resized in place. */
    size_t guard = opt_hardened ? PAGE : 0;
    if (maplen < usize || maplen + guard < maplen)
        return NULL;
    maplen += guard;
    if (alignment < CHUNK)
        alignment = CHUNK;
    uint64_t now = arena_clock_now();
    if (opt_dirty_decay_ms >= 0 && cache_head && now >= (uint64_t)opt_dirty_decay_ms)
        huge_decay(now - (uint64_t)opt_dirty_decay_ms);
    huge_t *h = NULL;
    if (!guard && __atomic_load_n(&cache_bytes, __ATOMIC_RELAXED) >= maplen)
        h = cache_take(maplen, alignment);
    if (h) {
        h->usize = usize;
        h->arena = arena;
        arena_account_large(arena, (ptrdiff_t)usize, 1, 0);
        *zeroed = false;
        __atomic_add_fetch(&huge_allocated, usize, __ATOMIC_RELAXED);
        __atomic_add_fetch(&huge_nmalloc, 1, __ATOMIC_RELAXED);
        return huge_ptr(h);
    }
    *zeroed = true;
    h = huge_desc_get();
    if (!h)
        return NULL;
    void *p = !guard && alignment == CHUNK ? huge_map_free_chunks(arena, &maplen) : NULL;
    if (p) {
        *zeroed = false;
    } else {
        arena_purge_excess(__atomic_load_n(&huge_allocated, __ATOMIC_RELAXED),
                           __atomic_load_n(&cache_bytes, __ATOMIC_RELAXED), maplen);
        p = os_map(maplen, alignment);
        if (!p || (guard && !os_guard((char *)p + maplen - guard, guard))) {
            if (p)
                os_unmap(p, maplen);
            huge_desc_put(h);
            return NULL;
        }
    }
    huge_set_ptr(h, p);
    h->usize = usize;
    h->maplen = maplen;
    h->cached = false;
    /* A taken chunk's granule has its leaf already: this cannot fail for it. */
    if (!rtree_set_range(p, maplen, (uintptr_t)h | RTREE_HUGE)) {
        os_unmap(p, maplen);
        huge_desc_put(h);
        return NULL;
    }
    h->arena = arena;
    arena_account_large(arena, (ptrdiff_t)usize, 1, 0);
    __atomic_add_fetch(&huge_allocated, usize, __ATOMIC_RELAXED);
    __atomic_add_fetch(&huge_nmalloc, 1, __ATOMIC_RELAXED);
    return p;
}

void huge_dalloc(huge_t *h)
{
    arena_account_large(h->arena, -(ptrdiff_t)h->usize, 0, 1);
    __atomic_sub_fetch(&huge_allocated, h->usize, __ATOMIC_RELAXED);
    __atomic_add_fetch(&huge_ndalloc, 1, __ATOMIC_RELAXED);
    h->usize = 0;
    size_t cache_max = 2 * __atomic_load_n(&huge_allocated, __ATOMIC_RELAXED); /* huge.h */
    if (cache_max < HUGE_CACHE_MIN)
        cache_max = HUGE_CACHE_MIN;
    if (h->maplen > cache_max || opt_dirty_decay_ms == 0 || opt_hardened) {
        huge_release(h);
        return;
    }
    uint64_t now = arena_clock_now();
    huge_t *evict = NULL;
    hm_mutex_lock(&huge_lock);
    huge_t *spare = cache_insert(h, now);
    /* Over the cap: the oldest go, one at a time (unmapped outside the lock). */
    while (cache_bytes > cache_max) {
        huge_t *old = cache_head;
        cache_remove(old);
        old->next_free = evict;
        evict = old;
    }
    hm_mutex_unlock(&huge_lock);
    while (spare) {
        huge_t *next = spare->next_free;
        huge_desc_put(spare);
        spare = next;
    }
    while (evict) {
        huge_t *next = evict->next_free;
        huge_release(evict);
        evict = next;
    }
}

bool huge_resize_in_place(huge_t *h, size_t new_usize, bool zero)
{
    if (opt_hardened)
        return false; /* the guard page stays where it is: realloc moves the block */
    size_t new_maplen = ALIGN_UP(new_usize, PAGE);
    char *p = huge_ptr(h);
    /* Growth first uses the mapping's own slack (a reused cached mapping can be longer than
     * the block, and dirty); only pages added by mremap are known to be zero. */
    size_t old_usize = h->usize, old_maplen = h->maplen;
    if (zero && new_usize > old_usize && old_maplen > old_usize) {
        size_t n = (new_usize < old_maplen ? new_usize : old_maplen) - old_usize;
        vg_mem_undefined(p + old_usize, n); /* the slack is no-access to memcheck ... */
        memset(p + old_usize, 0, n);
        vg_mem_noaccess(p + old_usize, n); /* ... until the caller reports the growth */
    }
    if (new_maplen > h->maplen) {
        if (!os_remap_in_place(p, h->maplen, new_maplen))
            return false;
        if (!rtree_set_range(p, new_maplen, (uintptr_t)h | RTREE_HUGE)) {
            os_remap_in_place(p, new_maplen, h->maplen);
            return false;
        }
    } else if (new_maplen < h->maplen) {
        /* A shrink by up to half (a grown buffer cut to fit) keeps the address range: its
         * pages go back to the kernel now (RSS), but the block can grow again without a
         * syscall, and once freed the mapping fits the next block of the old size, so the
         * cache serves it instead of a fresh mapping whose every page faults in
         * (realloc_bench: 19.5k page faults, 15.8k this way; peak RSS 32 -> 27 MiB). */
        if (new_maplen >= h->maplen / 2) {
            os_purge(p + new_maplen, h->maplen - new_maplen, false);
            new_maplen = h->maplen;
        } else {
            huge_trim(h, new_maplen);
        }
    }
    h->maplen = new_maplen;
    arena_account_large(h->arena, (ptrdiff_t)(new_usize - h->usize), 0, 0);
    __atomic_add_fetch(&huge_allocated, new_usize - h->usize, __ATOMIC_RELAXED);
    h->usize = new_usize;
    return true;
}

void *huge_remap(huge_t *h, size_t new_usize)
{
    if (opt_hardened)
        return NULL;
    size_t new_maplen = ALIGN_UP(new_usize, PAGE);
    void *q = os_map(new_maplen, CHUNK);
    if (!q)
        return NULL;
    if (!rtree_set_range(q, new_maplen, (uintptr_t)h | RTREE_HUGE)) {
        os_unmap(q, new_maplen);
        return NULL;
    }
    /* The old range leaves the map before its pages go (see huge_trim); only this thread uses
     * the block meanwhile.  Both ranges start on a granule, so they share no entry. */
    rtree_set_range(huge_ptr(h), h->maplen, (uintptr_t)huge_ptr(h) | RTREE_FREED);
    if (!os_remap_to(huge_ptr(h), h->maplen, q, new_maplen)) {
        rtree_set_range(huge_ptr(h), h->maplen, (uintptr_t)h | RTREE_HUGE);
        rtree_set_range(q, new_maplen, 0);
        os_unmap(q, new_maplen);
        return NULL;
    }
    huge_set_ptr(h, q);
    h->maplen = new_maplen;
    arena_account_large(h->arena, (ptrdiff_t)(new_usize - h->usize), 0, 0);
    __atomic_add_fetch(&huge_allocated, new_usize - h->usize, __ATOMIC_RELAXED);
    h->usize = new_usize;
    return q;
}

size_t huge_allocated_bytes(void) { return __atomic_load_n(&huge_allocated, __ATOMIC_RELAXED); }
void huge_counts(uint64_t *nmalloc, uint64_t *ndalloc)
{
    *nmalloc = __atomic_load_n(&huge_nmalloc, __ATOMIC_RELAXED);
    *ndalloc = __atomic_load_n(&huge_ndalloc, __ATOMIC_RELAXED);
}

void huge_prefork(void) { hm_mutex_lock(&huge_lock); }
void huge_postfork_parent(void) { hm_mutex_unlock(&huge_lock); }
void huge_postfork_child(void) { hm_mutex_init(&huge_lock); }
