/* tcache.c: the slow paths of the thread caches: refill, flush, creation, thread exit
 * (see tcache.h). */
#include "tcache.h"
#include "background.h"
#include "base.h"
#include "conf.h"

#include <pthread.h>
#include <string.h>

#define TBIN_CAP_MIN 20
#define TBIN_CAP_MAX 200

enum { TS_NONE, TS_CREATING, TS_ACTIVE, TS_EXITED, TS_DISABLED };
#define MAX_EXPLICIT_TCACHES 4096

tcache_t tcache_none = {.arena_key = TCACHE_NO_ARENA_KEY};
__thread tsd_t hm_tsd = {&tcache_none, 0, 0};
static __thread arena_t *tls_arena;
static __thread unsigned char tls_state;

/* Bind tc to arena (NULL: none), with the key free's fast path compares (rtree.h). */
static void tcache_set_arena(tcache_t *tc, arena_t *arena)
{
    tc->arena = arena;
    tc->arena_key = arena ? (uint16_t)(arena->ind + 1) : TCACHE_NO_ARENA_KEY;
}

uintptr_t tcache_secret;

static pthread_key_t tcache_key;
static hm_mutex_t tcache_pool_lock = HM_MUTEX_INITIALIZER;
static tcache_t *tcache_pool; /* recycled caches */
static uint32_t tbin_caps[NSMALL];
static size_t tcache_nslots;

static void tcache_thread_exit(void *arg);

uint16_t tcache_bin_off[LOOKUP_MAXCLASS + 1];
_Static_assert(offsetof(tcache_t, bins) == 0 && sizeof(tbin_t) * NSMALL <= UINT16_MAX,
               "tcache_bin_off holds offsets of bins from the cache's start");

/* Capacity: twice a slab's regions, within [20, 200]: enough to absorb a burst without
 * touching the bin, small enough that an idle thread holds little.  Classes above
 * opt.tcache_max get none: their bins are empty and full at once, so the fast paths send
 * them to the arena without a test of their own. */
bool tcache_boot(void)
{
    for (size_t s = 0; s <= LOOKUP_MAXCLASS; s++)
        tcache_bin_off[s] = (uint16_t)(sz_size2index(s) * sizeof(tbin_t));
    tcache_nslots = 0;
    for (unsigned i = 0; i < NSMALL; i++) {
        uint32_t cap = 2u * sz_small[i].nregs;
        cap = cap < TBIN_CAP_MIN ? TBIN_CAP_MIN : cap > TBIN_CAP_MAX ? TBIN_CAP_MAX : cap;
        if (sz_small[i].size > opt_tcache_max)
            cap = 0;
        tbin_caps[i] = cap;
        tcache_nslots += cap;
    }
    return pthread_key_create(&tcache_key, tcache_thread_exit) == 0;
}

arena_t *tcache_thread_arena(void)
{
    arena_t *a = tls_arena;
    if (unlikely(!a)) {
        a = tls_arena = arena_choose_for_thread();
        /* The key's destructor unbinds the thread when it exits, with or without a cache
         * (threads under tcache:false, junk, zero or valgrind have none). */
        if (tls_state != TS_EXITED && !pthread_getspecific(tcache_key))
            pthread_setspecific(tcache_key, &tcache_none);
    }
    return a;
}

static tcache_t *tcache_create(arena_t *arena)
{
    hm_mutex_lock(&tcache_pool_lock);
    tcache_t *tc = tcache_pool;
    if (tc)
        tcache_pool = tc->next_free;
    hm_mutex_unlock(&tcache_pool_lock);
    if (!tc) {
        tc = base_alloc(sizeof(tcache_t) + 2 * tcache_nslots * sizeof(void *));
        if (!tc)
            return NULL;
        void **slots = (void **)(tc + 1);
        for (unsigned i = 0; i < NSMALL; i++) {
            tbin_t *b = &tc->bins[i];
            b->top = slots + tbin_caps[i];
            b->empty_lo = (uint16_t)(uintptr_t)b->top;
            b->full_lo = (uint16_t)(uintptr_t)slots;
            b->usize = (uint32_t)sz_index2size_tab[i];
            slots += tbin_caps[i];
            tc->rbins[i].slots = slots;
            tc->rbins[i].cap = (uint16_t)tbin_caps[i];
            slots += tbin_caps[i];
        }
    }
    tcache_set_arena(tc, arena);
    tc->secret = tcache_secret;
    return tc;
}

static void tcache_recycle(tcache_t *tc)
{
    tcache_set_arena(tc, NULL);
    hm_mutex_lock(&tcache_pool_lock);
    tc->next_free = tcache_pool;
    tcache_pool = tc;
    hm_mutex_unlock(&tcache_pool_lock);
}

tcache_t *tcache_get(void)
{
    tcache_t *tc = tsd_tcache();
    if (likely(tc) || tls_state != TS_NONE || !opt_tcache || opt_junk || opt_zero)
        return tc;
    tls_state = TS_CREATING; /* allocations made by what follows bypass the cache */
    tc = tcache_create(tcache_thread_arena());
    if (!tc) {
        tls_state = TS_NONE;
        return NULL;
    }
    /* The destructor flushes the cache when the thread exits. pthread_setspecific may itself
     * allocate (keys past the first block); that allocation is served without a cache. */
    if (pthread_setspecific(tcache_key, tc) != 0) {
        tcache_recycle(tc);
        tls_state = TS_NONE;
        return NULL;
    }
    hm_tsd.tcache = tc;
    tls_state = TS_ACTIVE;
    return tc;
}

static void tcache_return(void **items, unsigned n, unsigned cls, const char *func);

/* Send class cls's remote regions back to their arenas' bins. */
static void rbin_return(tcache_t *tc, unsigned cls)
{
    rbin_t *r = &tc->rbins[cls];
    if (r->n)
        tcache_return(r->slots, r->n, cls, "free");
    r->n = 0;
}

/* Garbage collection of the cache, run on its owner's slow paths: every TCACHE_GC_EVENTS
 * refills and flushes, each class that saw neither since the last collection gives back the
 * older half of its regions, and its remote stack.  A thread that moved on from one size to
 * another thus returns what it cached of the first after a few collections (its bins are
 * otherwise only emptied at thread exit), and a busy class never loses its cache.  Only the
 * owner touches a cache, so a thread that stops calling the allocator altogether keeps its
 * cache until it exits (at most the sum of the bins' capacities: see README). */
#define TCACHE_GC_EVENTS 64
_Static_assert(NSMALL <= 64, "gc_touched has a bit per small class");

static void tcache_gc(tcache_t *tc)
{
    for (unsigned i = 0; i < NSMALL; i++) {
        if (tc->gc_touched & ((uint64_t)1 << i))
            continue;
        tbin_t *b = &tc->bins[i];
        void **end = tbin_end(b);
        unsigned n = (unsigned)(end - b->top), k = n - n / 2;
        if (k) {
            tcache_return(end - k, k, i, "free");
            memmove(b->top + k, b->top, (n - k) * sizeof(void *));
            b->top += k;
        }
        rbin_return(tc, i);
    }
    tc->gc_touched = 0;
    tc->gc_events = 0;
}

/* A refill or flush of class cls happened (the cache is consistent again). */
static void tcache_event(tcache_t *tc, unsigned cls)
{
    tc->gc_touched |= (uint64_t)1 << cls;
    if (++tc->gc_events >= TCACHE_GC_EVENTS)
        tcache_gc(tc);
    background_tick();
}

/* Fill half the (empty) stack; bin_fill gives the lowest addresses first, and they end on top
 * so they are handed out first. */
void *tcache_alloc_refill(tcache_t *tc, unsigned cls)
{
    tbin_t *b = &tc->bins[cls];
    void **end = tbin_end(b);
    unsigned cap = (unsigned)(end - tbin_slots(b)), want = cap / 2;
    rbin_t *r = &tc->rbins[cls];
    if (r->n >= want) {
        /* A whole refill's worth of other arenas' regions freed here: the thread has taken
         * over another's blocks (larson_bench, a server passing requests on), not a stray
         * one sharing a line with their owner's live blocks.  Reuse them, without a lock. */
        r->n = (uint16_t)(r->n - want);
        memcpy(end - want, r->slots + r->n, want * sizeof(void *));
        b->top = end - want;
        void *p = tcache_pop(b);
        tcache_event(tc, cls);
        return p;
    }
    /* A few remote regions go under the fresh ones: used only once this thread's own are
     * gone, so a thread that merely frees another's block next to that thread's live ones
     * does not start writing it (see rbin_t). */
    unsigned nr = r->n < cap - want ? r->n : cap - want;
    r->n = (uint16_t)(r->n - nr);
    memcpy(end - nr, r->slots + r->n, nr * sizeof(void *));
    end -= nr;
    unsigned got = bin_fill(tc->arena, cls, end - want, want);
    if (got < want)
        memmove(end - got, end - want, got * sizeof(void *));
    b->top = end - got;
    if (tbin_empty(b))
        return NULL;
    void *p = tcache_pop(b);
    /* Only now, with the cache consistent: the tick may start the background thread, and
     * pthread_create allocates through this very cache.  (Ticking between the fill and
     * setting n let that nested allocation hand out a region the outer fill then cached
     * again: a block allocated twice, seen as double frees in fork children.) */
    tcache_event(tc, cls);
    return p;
}

/* Return items[0 .. n) (all of class cls) to their bins, one lock per owning arena. */
static void tcache_return(void **items, unsigned n, unsigned cls, const char *func)
{
    while (n) {
        arena_t *arena = chunk_of(items[0])->arena;
        bin_t *bin = &arena->bins[cls];
        unsigned ndefer = 0;
        hm_mutex_lock(&bin->lock);
        for (unsigned i = 0; i < n; i++) {
            void *p = items[i];
            if (chunk_of(p)->arena == arena)
                bin_dalloc_locked(arena, cls, p, func);
            else
                items[ndefer++] = p;
        }
        bin->nflushes++;
        hm_mutex_unlock(&bin->lock);
        n = ndefer;
    }
}

static void tcache_free_remote(tcache_t *tc, void *p, unsigned cls)
{
    rbin_t *r = &tc->rbins[cls];
    *(uintptr_t *)p = tcache_tag(p);
    r->slots[r->n++] = p;
    if (r->n == r->cap) {
        rbin_return(tc, cls);
        tcache_event(tc, cls);
    }
}

bool tcache_free_remote_try(tcache_t *tc, void *p, unsigned cls)
{
    if (unlikely(tc->rbins[cls].cap == 0) || unlikely(*(uintptr_t *)p == tcache_tag(p)))
        return false;
    hm_tsd.deallocated += tc->bins[cls].usize;
    tcache_free_remote(tc, p, cls);
    return true;
}

/* Flush the older half, then push p. */
void tcache_free_flush(tcache_t *tc, void *p, unsigned cls)
{
    tbin_t *b = &tc->bins[cls];
    void **end = tbin_end(b);
    unsigned n = (unsigned)(end - b->top), nflush = n - n / 2;
    tcache_return(end - nflush, nflush, cls, "free");
    memmove(b->top + nflush, b->top, (n - nflush) * sizeof(void *));
    b->top += nflush;
    *(uintptr_t *)p = tcache_tag(p);
    *--b->top = p;
    tcache_event(tc, cls);
}

/* p carries a cache tag: it is a double free if it sits in this cache or is free in its slab;
 * otherwise the program merely left the tag's value in its block and the free goes on. */
bool tcache_contains(tcache_t *tc, const void *p, unsigned cls)
{
    tbin_t *b = &tc->bins[cls];
    for (void **s = b->top, **end = tbin_end(b); s < end; s++)
        if (*s == p)
            return true;
    rbin_t *r = &tc->rbins[cls];
    for (unsigned i = 0; i < r->n; i++)
        if (r->slots[i] == p)
            return true;
    return false;
}

void tcache_free_suspect(tcache_t *tc, void *p, unsigned cls, const char *func)
{
    if (tcache_contains(tc, p, cls))
        hm_fatal(func, "double free", p);
    chunk_t *c = chunk_of(p);
    size_t pi = chunk_page_index(c, p);
    run_t *slab = &c->runs[pi - pm_poff(c->pagemap[pi])];
    bool exact;
    unsigned idx = slab_region_index((uintptr_t)p - (uintptr_t)slab_addr(slab), cls, &exact);
    if (slab_region_is_free(slab, idx))
        hm_fatal(func, "double free", p);
}

void tcache_free(tcache_t *tc, void *p, unsigned cls, const char *func)
{
    tbin_t *b = &tc->bins[cls];
    if (*(uintptr_t *)p == tcache_tag(p))
        tcache_free_suspect(tc, p, cls, func);
    if (chunk_of(p)->arena != tc->arena) {
        tcache_free_remote(tc, p, cls);
        return;
    }
    if (tbin_full(b)) {
        tcache_free_flush(tc, p, cls);
        return;
    }
    *(uintptr_t *)p = tcache_tag(p);
    *--b->top = p;
}

void tcache_flush_all(tcache_t *tc)
{
    for (unsigned i = 0; i < NSMALL; i++) {
        tbin_t *b = &tc->bins[i];
        void **end = tbin_end(b);
        if (b->top != end)
            tcache_return(b->top, (unsigned)(end - b->top), i, "free");
        b->top = end;
        rbin_return(tc, i);
    }
}

static void tcache_thread_exit(void *arg)
{
    tcache_t *tc = arg;
    hm_tsd.tcache = &tcache_none;
    tls_state = TS_EXITED;
    if (tc != &tcache_none) {
        tcache_flush_all(tc);
        tcache_recycle(tc);
    }
    if (tls_arena)
        __atomic_sub_fetch(&tls_arena->nthreads, 1, __ATOMIC_RELAXED);
}

void tcache_thread_set_enabled(bool enabled)
{
    tcache_t *tc = tsd_tcache();
    if (!enabled && tc) {
        hm_tsd.tcache = &tcache_none;
        tcache_flush_all(tc);
        pthread_setspecific(tcache_key, &tcache_none); /* still unbinds at exit */
        tcache_recycle(tc);
        tls_state = TS_DISABLED;
    } else if (enabled && tls_state == TS_DISABLED) {
        tls_state = TS_NONE; /* created again on the next allocation */
    }
}

bool tcache_thread_enabled(void)
{
    return tsd_tcache() != NULL || (tls_state == TS_NONE && opt_tcache && !opt_junk && !opt_zero);
}

void tcache_thread_set_arena(arena_t *a)
{
    arena_t *old = tcache_thread_arena();
    if (old == a)
        return;
    __atomic_sub_fetch(&old->nthreads, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&a->nthreads, 1, __ATOMIC_RELAXED);
    tls_arena = a;
    tcache_t *tc = tsd_tcache();
    if (tc) {
        tcache_flush_all(tc); /* cached regions came from the old arena */
        tcache_set_arena(tc, a);
    }
}

/* Explicit caches: owned by whoever created them; the program serialises their use. */
static tcache_t *tcache_explicit[MAX_EXPLICIT_TCACHES];
static hm_mutex_t tcache_explicit_lock = HM_MUTEX_INITIALIZER;

bool tcache_explicit_create(unsigned *id)
{
    tcache_t *tc = tcache_create(tcache_thread_arena());
    if (!tc)
        return false;
    hm_mutex_lock(&tcache_explicit_lock);
    for (unsigned i = 0; i < MAX_EXPLICIT_TCACHES; i++) {
        if (!tcache_explicit[i]) {
            tcache_explicit[i] = tc;
            hm_mutex_unlock(&tcache_explicit_lock);
            *id = i;
            return true;
        }
    }
    hm_mutex_unlock(&tcache_explicit_lock);
    tcache_recycle(tc);
    return false;
}

tcache_t *tcache_explicit_get(unsigned id)
{
    return id < MAX_EXPLICIT_TCACHES ? __atomic_load_n(&tcache_explicit[id], __ATOMIC_ACQUIRE)
                                     : NULL;
}

bool tcache_explicit_destroy(unsigned id)
{
    if (id >= MAX_EXPLICIT_TCACHES)
        return false;
    hm_mutex_lock(&tcache_explicit_lock);
    tcache_t *tc = tcache_explicit[id];
    tcache_explicit[id] = NULL;
    hm_mutex_unlock(&tcache_explicit_lock);
    if (!tc)
        return false;
    tcache_flush_all(tc);
    tcache_recycle(tc);
    return true;
}

/* The library is going away (exit, or dlclose of a plugin that linked hmalloc in): threads
 * that end later must not call a destructor in unmapped code. */
void tcache_unload(void) { pthread_key_delete(tcache_key); }

void tcache_prefork(void)
{
    hm_mutex_lock(&tcache_explicit_lock);
    hm_mutex_lock(&tcache_pool_lock);
}
void tcache_postfork_parent(void)
{
    hm_mutex_unlock(&tcache_pool_lock);
    hm_mutex_unlock(&tcache_explicit_lock);
}
void tcache_postfork_child(void)
{
    hm_mutex_init(&tcache_pool_lock);
    hm_mutex_init(&tcache_explicit_lock);
}
