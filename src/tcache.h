/* tcache.h: per-thread caches.  Each thread has, per small class, a bounded stack of free
 * regions: malloc pops, free pushes, with no lock, atomic or division.  An empty stack is
 * refilled with half its capacity from the thread's arena in one locked batch; a full one
 * flushes its older half back to the owning bins, taking each bin's lock once per batch.
 * Regions of other arenas freed here (cross-thread frees) go back on the same flush.
 *
 * A region sitting in a cache carries a tag in its first word (its address xor a per-process
 * secret).  A free of a region that still carries its tag is checked against this cache and
 * the slab's bitmap, which catches most double frees at the faulty call, at the cost of one
 * load and compare per free.
 *
 * Thread states: no cache yet (hm_tsd.tcache is &tcache_none) -> active -> exited (the
 * pthread key's destructor flushed and recycled the cache; later calls in that thread go to its
 * arena directly).  Caches are owned by their thread only; their memory is recycled through a
 * global free list. */
#ifndef HM_TCACHE_H
#define HM_TCACHE_H

#include "arena.h"
#include "slab.h"

/* A bin's regions live in its slot array slots[0 .. cap): the cached ones are top[0 .. n),
 * top[0] the most recently freed, so the stack grows down: pop is *top++, push is *--top.
 * Empty is top == slots + cap, full is top == slots; the ends are kept as the low 16 bits of
 * their addresses only (an array spans < 64 KiB), which keeps the bin at 16 bytes and each
 * test at one compare. */
typedef struct tbin {
    void **top;
    uint16_t empty_lo; /* (uint16_t)(slots + cap) */
    uint16_t full_lo;  /* (uint16_t)slots */
    uint32_t usize;    /* the class's size, kept here for the byte counters of the fast paths */
} tbin_t;

HM_INLINE bool tbin_empty(const tbin_t *b) { return (uint16_t)(uintptr_t)b->top == b->empty_lo; }
HM_INLINE bool tbin_full(const tbin_t *b) { return (uint16_t)(uintptr_t)b->top == b->full_lo; }
/* The slot array's ends, rebuilt from top and the low bits (slow paths only). */
HM_INLINE void **tbin_slots(const tbin_t *b)
{
    return b->top - (uint16_t)((uint16_t)(uintptr_t)b->top - b->full_lo) / sizeof(void *);
}
HM_INLINE void **tbin_end(const tbin_t *b)
{
    return b->top + (uint16_t)(b->empty_lo - (uint16_t)(uintptr_t)b->top) / sizeof(void *);
}
HM_INLINE unsigned tbin_ncached(const tbin_t *b) { return (unsigned)(tbin_end(b) - b->top); }

/* Regions of other arenas freed by this thread wait in a per-class remote stack (tagged like
 * cached ones) and go back to their own bins in one batch when it is full; they are never
 * handed out by this thread.  Reusing them here would be fast, but a block another thread
 * allocated next to its own live blocks would then be written by this thread: false sharing
 * of a cache line between threads (cache_scratch_bench: 6x slower) while the other thread
 * still uses the neighbours.  A refill that finds a whole refill's worth of remote regions
 * takes them instead of going to the arena (the thread has taken over another's blocks, as in
 * larson_bench); fewer go under the fresh ones, reused only after the thread's own.  The stack has the bin's capacity, so a consumer thread
 * that frees what producers allocated takes one lock per batch of one class. */
typedef struct rbin {
    void **slots;
    uint16_t n;
    uint16_t cap;
} rbin_t;

typedef struct tcache {
    tbin_t bins[NSMALL];
    arena_t *arena;
    uintptr_t secret;    /* tcache_secret (0 in tcache_none), beside arena_key for free */
    uint16_t arena_key;  /* arena's key in the chunk map (rtree.h), TCACHE_NO_ARENA_KEY if none */
    rbin_t rbins[NSMALL];
    uint64_t gc_touched; /* bit c: class c refilled or flushed since the last collection */
    unsigned gc_events;  /* refills and flushes since the last collection */
    struct tcache *next_free;
} tcache_t;

/* The malloc fast path's size lookup: for each size up to LOOKUP_MAXCLASS, the byte offset of
 * its class's bin in tcache_t (class * sizeof(tbin_t)).  Indexed by the size itself and
 * pre-scaled, it takes one load where sz_lut takes a round-up, a shift, a load and a scaling
 * shift (3 instructions fewer per malloc; 8 KiB, of which a program's few sizes touch a few
 * lines).  Filled by tcache_boot; before that every entry is 0, bin 0 of tcache_none (empty,
 * so malloc takes its slow path, which initialises). */
extern uint16_t tcache_bin_off[LOOKUP_MAXCLASS + 1];

HM_INLINE tbin_t *tcache_bin_for_size(tcache_t *tc, size_t size)
{
    return (tbin_t *)((char *)tc + tcache_bin_off[size]);
}

/* A key no chunk has (not even 0, which means "no arena chunk"): the key of tcache_none and of
 * caches without an arena, so their threads never take the free fast path. */
#define TCACHE_NO_ARENA_KEY UINT16_MAX

/* Per-thread data the fast paths touch: one TLS block, one address computation. */
typedef struct tsd {
    tcache_t *tcache;     /* NULL: no cache (not yet, disabled, or the thread is exiting) */
    uint64_t allocated;   /* bytes (usable sizes) this thread allocated, cumulative */
    uint64_t deallocated; /* bytes this thread freed, cumulative */
} tsd_t;

extern __thread tsd_t hm_tsd;
/* The cache of a thread that has none: every bin empty with capacity 0, so the fast paths'
 * own tests (pop from an empty bin, push onto a full one) send such a thread to the slow path
 * without a separate test for "no cache".  hm_tsd.tcache is never NULL. */
extern tcache_t tcache_none;

/* The calling thread's cache as the slow paths see it: NULL when it has none. */
HM_INLINE tcache_t *tsd_tcache(void)
{
    tcache_t *tc = hm_tsd.tcache;
    return tc == &tcache_none ? NULL : tc;
}
extern uintptr_t tcache_secret;

HM_INLINE uintptr_t tcache_tag(const void *p) { return (uintptr_t)p ^ tcache_secret; }

void *tcache_alloc_refill(tcache_t *tc, unsigned cls);
void tcache_free_flush(tcache_t *tc, void *p, unsigned cls);
bool tcache_contains(tcache_t *tc, const void *p, unsigned cls);
void tcache_free_suspect(tcache_t *tc, void *p, unsigned cls, const char *func);

/* Pop a region and wipe its tag: a block the program frees without writing it first must not
 * look like a cached one (every such free would take the double-free check's slow path). */
HM_INLINE void *tcache_pop(tbin_t *b)
{
    void *p = *b->top++;
    if (HM_CONFIG_FAST_CHECKS)
        *(uintptr_t *)p = 0;
    return p;
}

HM_INLINE void *tcache_alloc(tcache_t *tc, unsigned cls)
{
    tbin_t *b = &tc->bins[cls];
    if (likely(!tbin_empty(b)))
        return tcache_pop(b);
    return tcache_alloc_refill(tc, cls);
}

/* Push p; false (nothing done) when the caller must take the slow path: p carries a cache tag
 * (maybe a double free) or the stack is full. */
HM_INLINE bool tcache_free_try(const tcache_t *tc, tbin_t *b, void *p)
{
    if (!HM_CONFIG_FAST_CHECKS) { /* a build that measures what the checks cost */
        if (unlikely(tbin_full(b)))
            return false;
        *--b->top = p;
        return true;
    }
    uintptr_t tag = (uintptr_t)p ^ tc->secret; /* tcache_tag(p), without a global's address */
    if (unlikely(*(uintptr_t *)p == tag) || unlikely(tbin_full(b)))
        return false;
    *(uintptr_t *)p = tag;
    *--b->top = p;
    return true;
}

/* The free fast path's way for a small region at a region boundary that belongs to another
 * arena: push it on the remote stack (no block_find: its bitmap word is in a line the owner
 * writes).  false, with nothing done, when the slow path must take it: the thread has no
 * cache or none for the class, or p carries a cache tag (maybe a double free). */
bool tcache_free_remote_try(tcache_t *tc, void *p, unsigned cls);

/* Push p, checking a tagged block for a double free and flushing a full stack. */
void tcache_free(tcache_t *tc, void *p, unsigned cls, const char *func);

/* The calling thread's cache, created on first use; NULL when the thread has none (caches
 * disabled, the thread is exiting, or the call came from inside cache creation). */
tcache_t *tcache_get(void);
/* The calling thread's arena (bound on first use). */
arena_t *tcache_thread_arena(void);
/* Return every cached region of the calling thread's cache to the arenas. */
void tcache_flush_all(tcache_t *tc);
bool tcache_boot(void);
void tcache_unload(void);
/* Explicit caches (mallctl tcache.create / MALLOCX_TCACHE(id)): NULL for an unknown id. */
bool tcache_explicit_create(unsigned *id);
tcache_t *tcache_explicit_get(unsigned id);
bool tcache_explicit_destroy(unsigned id);
/* Turn the calling thread's cache off (flushing it) or back on. */
void tcache_thread_set_enabled(bool enabled);
bool tcache_thread_enabled(void);
/* Bind the calling thread to arena a (its cache's later fills come from there). */
void tcache_thread_set_arena(arena_t *a);
void tcache_prefork(void);
void tcache_postfork_parent(void);
void tcache_postfork_child(void);

#endif
