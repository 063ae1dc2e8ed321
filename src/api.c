/* api.c: the public functions.  malloc and free are a few inline lines (size to class, pop or
 * push the thread cache) in front of one slow path each; everything else (argument checks,
 * errno, large and huge blocks, alignment, flags of the extended API) lives in the slow paths.
 *
 * errno: every failing standard call sets it; free never changes it (the OS layer saves it). */
#include "arena.h"
#include "background.h"
#include "conf.h"
#include "ctl.h"
#include "huge.h"
#include "init.h"
#include "quarantine.h"
#include "rtree.h"
#include "stats.h"
#include "tcache.h"
#include "valgrind.h"

#include <errno.h>
#include <string.h>

#define JUNK_ALLOC_BYTE 0xa5
#define JUNK_FREE_BYTE 0x5a

/* ---- finding a block ---------------------------------------------------------------------- */

/* What hmalloc knows about a pointer the program hands back. */
typedef struct block {
    chunk_t *chunk; /* arena chunk, or NULL for a huge block */
    huge_t *huge;
    unsigned cls;   /* size class (small or large) */
    bool small;
    size_t usize;
} block_t;

/* Look p up; abort with a message naming func if hmalloc did not hand it out or it is not
 * live (freed_msg names that case).  Reads only hmalloc's metadata, never the memory p points
 * to (except the cache tag of small blocks, whose memory is known to be hmalloc's). */
static void block_find(const void *p, block_t *b, const char *func, const char *freed_msg)
{
    uintptr_t e = rtree_get(p);
    if (unlikely(!e))
        hm_fatal(func, "invalid pointer (not allocated by hmalloc)", p);
    if (unlikely(e & RTREE_FREED)) {
        if ((uintptr_t)p == (e & ~RTREE_FREED))
            hm_fatal(func, freed_msg, p);
        hm_fatal(func, "invalid pointer (not allocated by hmalloc)", p);
    }
    if (e & RTREE_HUGE) {
        huge_t *h = (huge_t *)(e & ~RTREE_HUGE);
        void *start = huge_ptr(h);
        /* A cached (freed) range: p is its start, or that of a block that joined it. */
        if (unlikely(h->usize == 0) && !((uintptr_t)p & CHUNK_MASK) &&
            (uintptr_t)p - (uintptr_t)start < h->maplen)
            hm_fatal(func, freed_msg, p);
        if (unlikely(p != start)) {
            if ((uintptr_t)p - (uintptr_t)start < h->maplen)
                hm_fatal(func, "invalid pointer (not the start of a block)", p);
            hm_fatal(func, "invalid pointer (not allocated by hmalloc)", p);
        }
        *b = (block_t){NULL, h, 0, false, h->usize};
        return;
    }
    chunk_t *c = (chunk_t *)e;
    size_t pi = chunk_page_index(c, p);
    uint32_t pm = c->pagemap[pi];
    unsigned state = pm_state(pm), cls = pm_cls(pm);
    if (state == PM_SMALL) {
        run_t *slab = &c->runs[pi - pm_poff(pm)];
        bool exact;
        unsigned idx = slab_region_index(pm_run_offset(pm, p), cls, &exact);
        if (unlikely(!exact))
            hm_fatal(func, "invalid pointer (not the start of a block)", p);
        if (unlikely(slab_region_is_free(slab, idx)))
            hm_fatal(func, freed_msg, p);
        if (unlikely(opt_hardened) && quarantine_contains(c->arena, p))
            hm_fatal(func, freed_msg, p);
        tcache_t *tc = tsd_tcache();
        if (tc && *(const uintptr_t *)p == tcache_tag(p) && tcache_contains(tc, p, cls))
            hm_fatal(func, freed_msg, p);
        *b = (block_t){c, NULL, cls, true, sz_small[cls].size};
        return;
    }
    if (state == PM_LARGE) {
        if (unlikely(pm_poff(pm) != 0 || ((uintptr_t)p & PAGE_MASK)))
            hm_fatal(func, "invalid pointer (not the start of a block)", p);
        *b = (block_t){c, NULL, cls, false, (size_t)c->runs[pi].npages << LG_PAGE};
        return;
    }
    /* A chunk made of a freed huge block's memory: its start was that block's. */
    if (state == PM_FREE || (state == PM_HEADER && pi == 0 && !((uintptr_t)p & PAGE_MASK) &&
                             cls == PM_HDR_WAS_HUGE))
        hm_fatal(func, freed_msg, p);
    hm_fatal(func, "invalid pointer (not allocated by hmalloc)", p);
}

/* ---- flags of the extended API ------------------------------------------------------------ */

HM_INLINE size_t flags_alignment(int flags)
{
    unsigned la = (unsigned)flags & 0x3f;
    return la ? (size_t)1 << la : 0;
}
#define FLAGS_TCACHE(flags) (((unsigned)(flags) >> 8) & 0xfff) /* 0 thread's, 1 none, k+2 id k */
#define FLAGS_ARENA(flags) ((unsigned)(flags) >> 20)           /* 0 thread's, a+1 arena a */

/* The cache and arena a call with these flags uses; false for an unknown cache or arena. */
static bool flags_context(int flags, tcache_t **tcp, arena_t **arenap)
{
    unsigned t = FLAGS_TCACHE(flags), a = FLAGS_ARENA(flags);
    tcache_t *tc = t == 0 ? tcache_get() : t == 1 ? NULL : tcache_explicit_get(t - 2);
    if (t >= 2 && !tc)
        return false;
    if (unlikely(opt_hardened))
        tc = NULL; /* explicit caches too: every free must reach the quarantine */
    arena_t *arena;
    if (a == 0) {
        arena = tc ? tc->arena : tcache_thread_arena();
    } else {
        if (a - 1 >= narenas_auto && a - 1 >= __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE))
            return false;
        arena = arena_get(a - 1);
        if (!arena)
            return false;
        if (t == 0 && tc && tc->arena != arena)
            tc = NULL; /* the thread's cache holds another arena's regions */
    }
    *tcp = vg_running() ? NULL : tc; /* explicit caches too (see valgrind.h) */
    *arenap = arena;
    return true;
}

/* Usable size for size bytes at alignment (0: none); 0 when no class can hold it. */
HM_INLINE size_t usize_for(size_t size, size_t alignment)
{
    if (unlikely(size > HUGE_MAXCLASS))
        return 0;
    size_t u = alignment ? sz_sa2u(size, alignment) : sz_s2u(size);
    return u > PTRDIFF_MAX ? 0 : u;
}

/* Whether a block of usize bytes at this alignment is a page run inside a chunk. */
HM_INLINE bool usize_is_large(size_t usize, size_t alignment)
{
    return usize > SMALL_MAXCLASS && usize <= LARGE_MAXCLASS &&
           (usize >> LG_PAGE) + (alignment > PAGE ? alignment >> LG_PAGE : 1) - 1 <=
               CHUNK_USABLE_PAGES;
}

/* ---- allocation --------------------------------------------------------------------------- */

/* Out of memory: give back everything held for reuse (this thread's cache, every arena's free
 * chunks and dirty pages, cached huge mappings, retained chunks), so that a retry can succeed where mmap
 * failed for want of address space or a resource limit. */
static HM_COLD void reclaim_all(tcache_t *tc)
{
    if (tc)
        tcache_flush_all(tc);
    unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
        arena_t *a = __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE);
        if (!a)
            continue;
        quarantine_drain(a);
        hm_mutex_lock(&a->lock);
        arena_purge(a, true);
        hm_mutex_unlock(&a->lock);
    }
    huge_decay(UINT64_MAX);
    chunk_unmap_retained();
}

static void *alloc_usize_once(size_t usize, size_t alignment, bool zero, tcache_t *tc,
                              arena_t *arena)
{
    void *p;
    if (usize <= SMALL_MAXCLASS) {
        unsigned cls = sz_size2index(usize);
        if (tc && usize <= opt_tcache_max) {
            p = tcache_alloc(tc, cls);
            if (p && zero)
                memset(p, 0, usize);
        } else {
            p = arena_alloc_small(arena, cls, zero);
        }
    } else if (usize_is_large(usize, alignment)) {
        p = arena_alloc_large(arena, usize, alignment, zero);
    } else {
        bool zeroed;
        p = huge_alloc(arena, usize, alignment, &zeroed);
        if (p && zero && !zeroed) {
            vg_mem_undefined(p, usize); /* a cached mapping: no-access to memcheck */
            memset(p, 0, usize);
        }
    }
    return p;
}

/* A block of usize bytes for a request of size bytes (what memcheck is told). */
static void *alloc_usize(size_t size, size_t usize, size_t alignment, bool zero, tcache_t *tc,
                         arena_t *arena)
{
    zero |= opt_zero;
    void *p = alloc_usize_once(usize, alignment, zero, tc, arena);
    if (unlikely(!p)) {
        reclaim_all(tc);
        p = alloc_usize_once(usize, alignment, zero, tc, arena);
    }
    if (likely(p != NULL)) {
        hm_tsd.allocated += usize;
        if (unlikely(opt_junk & JUNK_ALLOC) && !zero) {
            vg_mem_undefined(p, usize);
            memset(p, JUNK_ALLOC_BYTE, usize);
        }
        vg_alloc(p, size, usize, zero);
    }
    return p;
}

/* Any standard allocation: size bytes aligned to alignment (0 or a power of two). */
static HM_NOINLINE void *hm_alloc(size_t size, size_t alignment, bool zero)
{
    if (unlikely(!hm_init())) {
        errno = ENOMEM;
        return NULL;
    }
    size_t usize = usize_for(size, alignment);
    void *p = NULL;
    if (likely(usize != 0)) {
        tcache_t *tc = tcache_get();
        p = alloc_usize(size, usize, alignment, zero, tc,
                        tc ? tc->arena : tcache_thread_arena());
    }
    if (unlikely(!p))
        errno = ENOMEM;
    return p;
}

HM_INLINE void *hm_malloc_inline(size_t size)
{
    if (likely(size <= LOOKUP_MAXCLASS)) {
        tbin_t *b = tcache_bin_for_size(hm_tsd.tcache, size);
        if (likely(!tbin_empty(b))) {
            hm_tsd.allocated += b->usize;
            return tcache_pop(b);
        }
    }
    return hm_alloc(size, 0, false);
}

/* ---- deallocation ------------------------------------------------------------------------- */

static void dalloc_block(void *p, const block_t *b, tcache_t *tc, const char *func)
{
    hm_tsd.deallocated += b->usize;
    vg_free(p);
    if (unlikely(opt_junk & JUNK_FREE) && !b->huge) {
        vg_mem_undefined(p, b->usize);
        memset(p, JUNK_FREE_BYTE, b->usize);
        vg_mem_noaccess(p, b->usize);
    }
    if (b->huge) {
        huge_dalloc(b->huge);
        background_tick();
    } else if (!b->small) {
        arena_dalloc_large(b->chunk, p);
        background_tick();
    } else if (tc && b->usize <= opt_tcache_max)
        tcache_free(tc, p, b->cls, func);
    else
        arena_dalloc_small(b->chunk, p, b->cls, func);
}

static HM_NOINLINE void hm_free_slow(void *p, const char *func)
{
    if (!p)
        return;
    block_t b;
    block_find(p, &b, func, "double free");
    dalloc_block(p, &b, tcache_get(), func);
}

/* The class of the small region p of arena chunk c, if p is at a region boundary (what the
 * free fast path checks); -1 for anything else. */
HM_INLINE int small_region_class(const chunk_t *c, const void *p)
{
    uint32_t pm = c->pagemap[chunk_page_index(c, p)];
    if (likely(pm & PM_SMALL_BIT)) {
        unsigned cls = pm_cls(pm);
        bool exact;
        slab_region_index(pm_run_offset(pm, p), cls, &exact);
        if (likely(exact || !HM_CONFIG_FAST_CHECKS))
            return (int)cls;
    }
    return -1;
}

/* p's chunk-map key is not the thread cache's (another arena's chunk, no arena chunk, or the
 * thread has no cache): a small region of another arena at a region boundary is a
 * cross-thread free. */
static HM_NOINLINE void hm_free_other_arena(void *p, tcache_t *tc, uint16_t key,
                                            const char *func)
{
    if (key != 0) {
        int cls = small_region_class(chunk_of(p), p);
        if (cls >= 0 && tcache_free_remote_try(tc, p, (unsigned)cls))
            return;
    }
    hm_free_slow(p, func);
}

/* The fast path: a small region of the thread cache's arena at a region boundary, freed into
 * the cache.  The chunk map's key (rtree.h) says at once that p is in an arena chunk and that
 * the arena is this cache's. */
HM_INLINE void hm_free_inline(void *p, const char *func)
{
    tcache_t *tc = hm_tsd.tcache;
    uint16_t key = rtree_chunk_key(p);
    if (likely(key == tc->arena_key)) {
        int cls = small_region_class(chunk_of(p), p);
        if (likely(cls >= 0)) {
            tbin_t *b = &tc->bins[cls];
            if (likely(tcache_free_try(tc, b, p))) {
                hm_tsd.deallocated += b->usize;
                return;
            }
        }
        hm_free_slow(p, func);
        return;
    }
    hm_free_other_arena(p, tc, key, func); /* a tail call: no frame here */
}

/* With check_sized, a size given to a sized free must be one the block could have been
 * allocated with: its class (under the alignment given, or any alignment p has) is the
 * block's. */
static void check_sized(const void *p, const block_t *b, size_t size, size_t alignment,
                        const char *func)
{
    if (usize_for(size, alignment) == b->usize || usize_for(size, 0) == b->usize)
        return;
    for (size_t a = QUANTUM; a && !((uintptr_t)p & (a - 1)); a <<= 1)
        if (usize_for(size, a) == b->usize)
            return;
    hm_fatal(func, "size does not match the block", p);
}

static HM_NOINLINE void hm_sized_free_slow(void *p, size_t size, int flags, const char *func)
{
    if (!p)
        return;
    block_t b;
    block_find(p, &b, func, "double free");
    if (opt_check_sized)
        check_sized(p, &b, size, flags_alignment(flags), func);
    tcache_t *tc;
    arena_t *arena;
    if (!flags_context(flags & ~(int)0xfff00000, &tc, &arena))
        hm_fatal(func, "unknown thread cache in flags", p);
    dalloc_block(p, &b, tc, func);
}

/* Sized free: the size gives the class, so the page map is not read.  Ownership is still
 * checked (the chunk map); where the region starts is checked when the cache flushes. */
HM_INLINE void hm_sized_free_inline(void *p, size_t size, int flags, const char *func)
{
    if (likely(flags == 0 && size <= LOOKUP_MAXCLASS && !opt_check_sized)) {
        tcache_t *tc = hm_tsd.tcache;
        if (likely(rtree_chunk_key(p) == tc->arena_key)) {
            tbin_t *b = tcache_bin_for_size(tc, size);
            if (likely(tcache_free_try(tc, b, p))) {
                hm_tsd.deallocated += b->usize;
                return;
            }
        }
    }
    hm_sized_free_slow(p, size, flags, func);
}

/* ---- resizing ----------------------------------------------------------------------------- */

/* Count a block's change of usable size in the calling thread's byte counters. */
static void count_resize(size_t old_usize, size_t new_usize)
{
    if (new_usize > old_usize)
        hm_tsd.allocated += new_usize - old_usize;
    else
        hm_tsd.deallocated += old_usize - new_usize;
}

/* Resize p to new_usize without moving it, if its kind of block allows; zero fills what a
 * growth adds.  size is the size memcheck is to know the block by afterwards. */
static bool resize_in_place(void *p, block_t *b, size_t size, size_t new_usize, bool zero)
{
    size_t vg_old = vg_running() ? vg_block_size(p, b->usize) : 0;
    if (new_usize == b->usize) {
        if (vg_running())
            vg_resize(p, vg_old, size, new_usize);
        return true;
    }
    if (b->chunk && !b->small && new_usize >= LARGE_MINCLASS && new_usize <= LARGE_MAXCLASS) {
        if (!arena_resize_large(b->chunk, p, b->usize, new_usize, zero))
            return false;
    } else if (b->huge && new_usize > LARGE_MAXCLASS) {
        if (!huge_resize_in_place(b->huge, new_usize, zero))
            return false; /* growth maps fresh zero pages */
    } else {
        return false;
    }
    if (vg_running()) {
        vg_resize(p, vg_old, size, new_usize);
        if (zero && size > b->usize)
            vg_mem_defined((char *)p + b->usize, size - b->usize); /* zeroed above */
    }
    count_resize(b->usize, new_usize);
    b->usize = new_usize;
    return true;
}

/* The realloc family's common path: resize in place, move huge pages, or allocate-copy-free. */
static void *hm_realloc_impl(void *p, size_t size, int flags, const char *func)
{
    block_t b;
    block_find(p, &b, func, "pointer to a freed block");
    size_t alignment = flags_alignment(flags);
    bool zero = (flags & MALLOCX_ZERO_FLAG) != 0;
    size_t usize = usize_for(size, alignment);
    if (unlikely(usize == 0))
        return NULL;
    bool aligned = !alignment || !((uintptr_t)p & (alignment - 1));
    if (aligned && resize_in_place(p, &b, size, usize, zero))
        return p;
    tcache_t *tc;
    arena_t *arena;
    if (!flags_context(flags, &tc, &arena))
        return NULL;
    /* Not under valgrind: memcheck cannot move a block's record without redefining its
     * contents, so the block is copied there. */
    if (b.huge && usize > LARGE_MAXCLASS && aligned && alignment <= CHUNK &&
        FLAGS_ARENA(flags) == 0 && !vg_running() && !huge_cache_fits(usize)) {
        size_t old = b.usize;
        void *q = huge_remap(b.huge, usize);
        if (q) {
            count_resize(old, usize);
            return q;
        }
    }
    void *q = alloc_usize(size, usize, alignment, zero, tc, arena);
    if (!q)
        return NULL;
    size_t old = vg_running() ? vg_block_size(p, b.usize) : b.usize; /* memcheck's view */
    memcpy(q, p, size < old ? size : old);
    dalloc_block(p, &b, tcache_get(), func);
    return q;
}

/* ---- the standard family ------------------------------------------------------------------ */

HM_EXPORT void *HM_NAME(malloc)(size_t size) { return hm_malloc_inline(size); }

/* free(NULL) needs no test here: NULL is in no chunk, so it takes the slow path. */
HM_EXPORT void HM_NAME(free)(void *p) { hm_free_inline(p, "free"); }

HM_EXPORT void *HM_NAME(calloc)(size_t nmemb, size_t size)
{
    size_t total;
    if (unlikely(__builtin_mul_overflow(nmemb, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    return hm_alloc(total, 0, true);
}

HM_EXPORT void *HM_NAME(realloc)(void *p, size_t size)
{
    if (!p)
        return hm_alloc(size, 0, false);
    if (size == 0) { /* glibc's behaviour: free and return NULL */
        hm_free_inline(p, "realloc");
        return NULL;
    }
    void *q = hm_realloc_impl(p, size, 0, "realloc");
    if (!q)
        errno = ENOMEM;
    return q;
}

HM_EXPORT void *HM_NAME(reallocarray)(void *p, size_t nmemb, size_t size)
{
    size_t total;
    if (unlikely(__builtin_mul_overflow(nmemb, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    return HM_NAME(realloc)(p, total);
}

static bool is_pow2(size_t a) { return a && !(a & (a - 1)); }

HM_EXPORT int HM_NAME(posix_memalign)(void **memptr, size_t alignment, size_t size)
{
    if (!is_pow2(alignment) || alignment < sizeof(void *)) {
        errno = EINVAL;
        return EINVAL;
    }
    void *p = hm_alloc(size, alignment, false);
    if (!p)
        return ENOMEM;
    *memptr = p;
    return 0;
}

HM_EXPORT void *HM_NAME(aligned_alloc)(size_t alignment, size_t size)
{
    if (!is_pow2(alignment)) { /* C17 DR 460: an unsupported alignment fails */
        errno = EINVAL;
        return NULL;
    }
    return hm_alloc(size, alignment, false);
}

/* glibc's memalign rounds an alignment that is not a power of two up to the next one. */
HM_EXPORT void *HM_NAME(memalign)(size_t alignment, size_t size)
{
    if (alignment > ((size_t)1 << 63)) {
        errno = EINVAL;
        return NULL;
    }
    if (!is_pow2(alignment))
        alignment = alignment <= 1 ? 1 : (size_t)1 << (64 - __builtin_clzll(alignment - 1));
    return hm_alloc(size, alignment, false);
}

HM_EXPORT void *HM_NAME(valloc)(size_t size) { return hm_alloc(size, PAGE, false); }

HM_EXPORT void *HM_NAME(pvalloc)(size_t size)
{
    size_t rounded = ALIGN_UP(size ? size : 1, PAGE);
    if (rounded < size) {
        errno = ENOMEM;
        return NULL;
    }
    return hm_alloc(rounded, PAGE, false);
}

HM_EXPORT size_t HM_NAME(malloc_usable_size)(void *p)
{
    if (!p)
        return 0;
    block_t b;
    block_find(p, &b, "malloc_usable_size", "pointer to a freed block");
    vg_expose_usable(p, b.usize);
    return b.usize;
}

HM_EXPORT void HM_NAME(free_sized)(void *p, size_t size)
{
    hm_sized_free_inline(p, size, 0, "free_sized");
}

HM_EXPORT void HM_NAME(free_aligned_sized)(void *p, size_t alignment, size_t size)
{
    int flags = alignment > 1 ? __builtin_ctzll(alignment) : 0;
    hm_sized_free_inline(p, size, flags, "free_aligned_sized");
}

/* ---- the extended API (jemalloc's) -------------------------------------------------------- */

HM_EXPORT void *HM_NAME(mallocx)(size_t size, int flags)
{
    if (likely(flags == 0))
        return hm_malloc_inline(size);
    if (unlikely(!hm_init()))
        return NULL;
    size_t alignment = flags_alignment(flags);
    size_t usize = usize_for(size, alignment);
    tcache_t *tc;
    arena_t *arena;
    if (unlikely(usize == 0) || !flags_context(flags, &tc, &arena))
        return NULL;
    return alloc_usize(size, usize, alignment, (flags & MALLOCX_ZERO_FLAG) != 0, tc, arena);
}

HM_EXPORT void *HM_NAME(rallocx)(void *p, size_t size, int flags)
{
    return hm_realloc_impl(p, size ? size : 1, flags, "rallocx");
}

/* The result is the block's usable size, which the program may use (so it is memcheck's size
 * of the block too: resizes here are asked for whole classes, see HM_NAME(xallocx)). */
static size_t xalloc_impl(void *p, size_t size, size_t extra, int flags)
{
    block_t b;
    block_find(p, &b, "xallocx", "pointer to a freed block");
    size_t alignment = flags_alignment(flags);
    bool zero = (flags & MALLOCX_ZERO_FLAG) != 0;
    if (size > PTRDIFF_MAX)
        return b.usize;
    size_t max = size + extra < size || size + extra > PTRDIFF_MAX ? PTRDIFF_MAX : size + extra;
    size_t umin = usize_for(size ? size : 1, alignment), umax = usize_for(max, alignment);
    if (umin == 0)
        return b.usize;
    if (umax == 0)
        umax = umin;
    if (b.usize >= umin && b.usize <= umax)
        return b.usize; /* already fits */
    /* Growing: try the most, then the least; shrinking: to the most asked for. */
    if (b.usize < umin) {
        if (umax != umin && resize_in_place(p, &b, umax, umax, zero))
            return b.usize;
        resize_in_place(p, &b, umin, umin, zero);
        return b.usize;
    }
    size_t target = umax;
    if (b.chunk && !b.small && target < LARGE_MINCLASS)
        target = LARGE_MINCLASS; /* a large block stays large */
    if (b.huge && target <= LARGE_MAXCLASS) {
        /* A mapping stays one: down to the smallest huge class at most, and never up (an
         * over-aligned block of a run's size can be a mapping below that class). */
        target = sz_index2size(sz_huge_index);
        if (target >= b.usize)
            return b.usize;
    }
    resize_in_place(p, &b, target, target, false);
    return b.usize;
}

HM_EXPORT size_t HM_NAME(xallocx)(void *p, size_t size, size_t extra, int flags)
{
    size_t usize = xalloc_impl(p, size, extra, flags);
    vg_expose_usable(p, usize);
    return usize;
}

HM_EXPORT size_t HM_NAME(sallocx)(const void *p, int flags)
{
    (void)flags;
    block_t b;
    block_find(p, &b, "sallocx", "pointer to a freed block");
    vg_expose_usable(p, b.usize);
    return b.usize;
}

HM_EXPORT void HM_NAME(dallocx)(void *p, int flags)
{
    if (likely(flags == 0)) {
        hm_free_inline(p, "dallocx");
        return;
    }
    block_t b;
    block_find(p, &b, "dallocx", "double free");
    tcache_t *tc;
    arena_t *arena;
    if (!flags_context(flags & ~(int)0xfff00000, &tc, &arena))
        hm_fatal("dallocx", "unknown thread cache in flags", p);
    dalloc_block(p, &b, tc, "dallocx");
}

HM_EXPORT void HM_NAME(sdallocx)(void *p, size_t size, int flags)
{
    hm_sized_free_inline(p, size, flags, "sdallocx");
}

HM_EXPORT size_t HM_NAME(nallocx)(size_t size, int flags)
{
    if (unlikely(!hm_init()))
        return 0;
    return usize_for(size ? size : 1, flags_alignment(flags));
}

HM_EXPORT int HM_NAME(mallctl)(const char *name, void *oldp, size_t *oldlenp, void *newp,
                               size_t newlen)
{
    if (unlikely(!hm_init()))
        return EAGAIN;
    return ctl_byname(name, oldp, oldlenp, newp, newlen);
}

HM_EXPORT int HM_NAME(mallctlnametomib)(const char *name, size_t *mibp, size_t *miblenp)
{
    if (unlikely(!hm_init()))
        return EAGAIN;
    return ctl_nametomib(name, mibp, miblenp);
}

HM_EXPORT int HM_NAME(mallctlbymib)(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp,
                                    void *newp, size_t newlen)
{
    if (unlikely(!hm_init()))
        return EAGAIN;
    return ctl_bymib(mib, miblen, oldp, oldlenp, newp, newlen);
}

HM_EXPORT void HM_NAME(malloc_stats_print)(void (*write_cb)(void *, const char *), void *cbopaque,
                                          const char *opts)
{
    if (hm_init())
        stats_print(write_cb, cbopaque, opts);
}

#ifdef HM_DROPIN
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wmissing-attributes"
/* glibc's internal names, which some programs and libraries call directly. */
HM_EXPORT void *__libc_malloc(size_t size) __attribute__((alias("malloc")));
HM_EXPORT void *__libc_calloc(size_t n, size_t size) __attribute__((alias("calloc")));
HM_EXPORT void *__libc_realloc(void *p, size_t size) __attribute__((alias("realloc")));
HM_EXPORT void __libc_free(void *p) __attribute__((alias("free")));
HM_EXPORT void *__libc_memalign(size_t alignment, size_t size) __attribute__((alias("memalign")));
HM_EXPORT void *__libc_valloc(size_t size) __attribute__((alias("valloc")));
HM_EXPORT void *__libc_pvalloc(size_t size) __attribute__((alias("pvalloc")));
HM_EXPORT int __posix_memalign(void **memptr, size_t alignment, size_t size)
    __attribute__((alias("posix_memalign")));
#endif
