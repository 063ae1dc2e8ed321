/* api.c: the public functions.  malloc and free are a few inline lines (size to class, pop or
 * push the thread cache) in front of one slow path each; everything else (argument checks,
 * errno, large and huge blocks, alignment) lives in the slow paths.
 *
 * errno: every failing call sets it; free never changes it (the OS layer saves it). */
#include "arena.h"
#include "conf.h"
#include "huge.h"
#include "init.h"
#include "rtree.h"
#include "stats.h"
#include "tcache.h"

#include <errno.h>
#include <string.h>

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
 * live (freed_msg names that case).  Reads only hmalloc's metadata, never the memory p points to (except through the
 * cache tag check of small blocks, whose memory is known to be hmalloc's). */
static void block_find(void *p, block_t *b, const char *func, const char *freed_msg)
{
    uintptr_t e = rtree_get(p);
    if (unlikely(!e))
        hm_fatal(func, "invalid pointer (not allocated by hmalloc)", p);
    if (e & RTREE_HUGE) {
        huge_t *h = (huge_t *)(e & ~RTREE_HUGE);
        if (unlikely(p != h->ptr)) {
            if ((uintptr_t)p - (uintptr_t)h->ptr < h->maplen)
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
        unsigned idx = slab_region_index((uintptr_t)p - (uintptr_t)slab_addr(slab), cls, &exact);
        if (unlikely(!exact))
            hm_fatal(func, "invalid pointer (not the start of a block)", p);
        if (unlikely(slab_region_is_free(slab, idx)))
            hm_fatal(func, freed_msg, p);
        tcache_t *tc = tls_tcache;
        if (*(uintptr_t *)p == tcache_tag(p) && tc && tcache_contains(tc, p, cls))
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
    if (state == PM_FREE)
        hm_fatal(func, freed_msg, p);
    hm_fatal(func, "invalid pointer (not allocated by hmalloc)", p);
}

/* ---- allocation --------------------------------------------------------------------------- */

/* Any allocation: size bytes aligned to alignment (0 or a power of two). */
static HM_NOINLINE void *hm_alloc(size_t size, size_t alignment, bool zero)
{
    if (unlikely(!hm_init())) {
        errno = ENOMEM;
        return NULL;
    }
    size_t usize;
    if (unlikely(size > PTRDIFF_MAX))
        usize = 0;
    else
        usize = alignment ? sz_sa2u(size, alignment) : sz_s2u(size);
    if (unlikely(usize == 0 || usize > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p;
    if (usize <= SMALL_MAXCLASS) {
        unsigned cls = sz_size2index(usize);
        tcache_t *tc = tcache_get();
        if (tc) {
            p = tcache_alloc(tc, cls);
            if (p && zero)
                memset(p, 0, usize);
        } else {
            p = arena_alloc_small(tcache_thread_arena(), cls, zero);
        }
    } else if (usize <= LARGE_MAXCLASS &&
               (usize >> LG_PAGE) + (alignment > PAGE ? alignment >> LG_PAGE : 1) - 1 <=
                   CHUNK_USABLE_PAGES) {
        p = arena_alloc_large(tcache_thread_arena(), usize, alignment, zero);
    } else {
        p = huge_alloc(usize, alignment); /* fresh mappings are zero */
    }
    if (unlikely(!p))
        errno = ENOMEM;
    return p;
}

HM_INLINE void *hm_malloc_inline(size_t size)
{
    tcache_t *tc = tls_tcache;
    if (likely(tc != NULL && size <= LOOKUP_MAXCLASS)) {
        tbin_t *b = &tc->bins[sz_lut[(size + 7) >> 3]];
        if (likely(b->n))
            return b->stack[--b->n];
    }
    return hm_alloc(size, 0, false);
}

/* ---- deallocation ------------------------------------------------------------------------- */

static HM_NOINLINE void hm_free_slow(void *p, const char *func)
{
    if (!p)
        return;
    block_t b;
    block_find(p, &b, func, "double free");
    if (b.huge) {
        huge_dalloc(b.huge);
    } else if (!b.small) {
        arena_dalloc_large(b.chunk, p);
    } else {
        tcache_t *tc = tcache_get();
        if (tc)
            tcache_free(tc, p, b.cls, func);
        else
            arena_dalloc_small(b.chunk, p, b.cls, func);
    }
}

/* The fast path: a small region at a region boundary, freed into this thread's cache. */
HM_INLINE void hm_free_inline(void *p, const char *func)
{
    uintptr_t e = rtree_get(p);
    tcache_t *tc = tls_tcache;
    if (likely((e & RTREE_HUGE) == 0 && e != 0 && tc != NULL)) {
        chunk_t *c = (chunk_t *)e;
        size_t pi = chunk_page_index(c, p);
        uint32_t pm = c->pagemap[pi];
        if (likely(pm_state(pm) == PM_SMALL)) {
            unsigned cls = pm_cls(pm);
            bool exact;
            slab_region_index(pm_run_offset(pm, p), cls, &exact);
            if (likely(exact) && likely(tcache_free_try(tc, p, cls)))
                return;
        }
    }
    hm_free_slow(p, func);
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
    block_t b;
    block_find(p, &b, "realloc", "pointer to a freed block");
    if (unlikely(size > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t usize = sz_s2u(size);
    if (usize == b.usize)
        return p; /* same class: nothing to move */
    /* A large block grows into free pages after it, or gives its tail back, without copying. */
    if (b.chunk && !b.small && usize >= LARGE_MINCLASS && usize <= LARGE_MAXCLASS &&
        arena_resize_large(b.chunk, p, b.usize, usize, false))
        return p;
    void *q = hm_alloc(size, 0, false);
    if (!q)
        return NULL;
    memcpy(q, p, size < b.usize ? size : b.usize);
    hm_free_inline(p, "realloc");
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
    return b.usize;
}

HM_EXPORT void HM_NAME(free_sized)(void *p, size_t size)
{
    (void)size;
    if (likely(p != NULL))
        hm_free_inline(p, "free_sized");
}

HM_EXPORT void HM_NAME(free_aligned_sized)(void *p, size_t alignment, size_t size)
{
    (void)alignment;
    (void)size;
    if (likely(p != NULL))
        hm_free_inline(p, "free_aligned_sized");
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
