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
 * Thread states: no cache yet (tls_tcache NULL) -> active -> exited (the pthread key's
 * destructor flushed and recycled the cache; later calls in that thread go to its arena
 * directly).  Caches are owned by their thread only; their memory is recycled through a global
 * free list. */
#ifndef HM_TCACHE_H
#define HM_TCACHE_H

#include "arena.h"
#include "slab.h"

typedef struct tbin {
    void **stack; /* stack[0 .. n) are cached regions, stack[n-1] the most recently freed */
    uint32_t n;
    uint32_t cap;
} tbin_t;

typedef struct tcache {
    tbin_t bins[NSMALL];
    arena_t *arena;
    struct tcache *next_free;
} tcache_t;

/* Per-thread data the fast paths touch: one TLS block, one address computation. */
typedef struct tsd {
    tcache_t *tcache;     /* NULL: no cache (not yet, disabled, or the thread is exiting) */
    uint64_t allocated;   /* bytes (usable sizes) this thread allocated, cumulative */
    uint64_t deallocated; /* bytes this thread freed, cumulative */
} tsd_t;

extern __thread tsd_t hm_tsd;
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
    void *p = b->stack[--b->n];
    *(uintptr_t *)p = 0;
    return p;
}

HM_INLINE void *tcache_alloc(tcache_t *tc, unsigned cls)
{
    tbin_t *b = &tc->bins[cls];
    if (likely(b->n))
        return tcache_pop(b);
    return tcache_alloc_refill(tc, cls);
}

/* Push p; false (nothing done) when the caller must take the slow path: p carries a cache tag
 * (maybe a double free) or the stack is full. */
HM_INLINE bool tcache_free_try(tcache_t *tc, void *p, unsigned cls)
{
    tbin_t *b = &tc->bins[cls];
    uintptr_t tag = tcache_tag(p);
    if (unlikely(*(uintptr_t *)p == tag) || unlikely(b->n == b->cap))
        return false;
    *(uintptr_t *)p = tag;
    b->stack[b->n++] = p;
    return true;
}

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
