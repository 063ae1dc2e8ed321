/* valgrind.h: what hmalloc tells valgrind's memcheck (configure --enable-valgrind).  Under
 * valgrind every block is reported with client requests, so memcheck finds leaks, reads after
 * free and writes past the end in programs on hmalloc, also in the namespaced build, whose
 * hm_* functions valgrind cannot replace by name.  Without --enable-valgrind everything here
 * compiles to nothing; with it, each hook costs one predictable branch on a flag set once at
 * initialisation, and the hooks sit on slow paths only.
 *
 * The design (jemalloc dropped its integration in 5.0: it fought the thread caches):
 * - Under valgrind the thread caches are off (opt_tcache is forced false at initialisation),
 *   so malloc's and free's fast paths always fall through to the slow paths, where the hooks
 *   are.  A cached region would otherwise be free to memcheck yet written by the cache (its
 *   tag), or live to hmalloc yet freed to memcheck.
 * - A block is reported with its requested size; the rest of its size class is no-access, so
 *   a write just past the end is caught.  When the program learns the usable size
 *   (malloc_usable_size, sallocx, xallocx), which it may then use, the block grows to it.
 *   memcheck is the record of the requested size: vg_block_size() asks it where the block
 *   ends.
 * - Free memory (never handed out, freed, cached huge mappings) is no-access.  Where hmalloc
 *   itself writes memory the program does not own (zeroing, junk filling), it first makes
 *   the bytes addressable (vg_mem_undefined), and the final state is set when the block is
 *   reported.  Moves by mremap are not used under valgrind (a realloc copies instead).
 * - Leak check: memcheck scans every mapped, defined word outside its own heap for pointers,
 *   so hmalloc's metadata must hold no pointer into a block (huge.h keeps the address of a
 *   huge block inverted), and is left out of the scan (vg_not_a_root: base memory, chunk
 *   headers, the table of class sizes).  Free memory is no-access, so stale pointers in it
 *   do not count.
 *   Live blocks are in hmalloc's mappings, which memcheck cannot tell from other memory: a
 *   pointer stored in a block the program leaked still counts as a reference (see
 *   doc/hmalloc.3, VALGRIND). */
#ifndef HM_VALGRIND_H
#define HM_VALGRIND_H

#include "hmalloc_internal.h"

#ifndef HM_CONFIG_VALGRIND /* a config.h not written by configure (bindings/rust/build.rs) */
#define HM_CONFIG_VALGRIND 0
#endif
#if HM_CONFIG_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#endif

static const bool config_valgrind = HM_CONFIG_VALGRIND;

extern bool hm_vg_running; /* set once by vg_boot(), before the first block */

HM_INLINE bool vg_running(void) { return config_valgrind && unlikely(hm_vg_running); }

/* Whether the process runs under valgrind's memcheck (called once, at initialisation).  Other
 * tools (callgrind, cachegrind, massif...) do not answer memcheck's requests, and hmalloc must
 * keep its thread caches under them: callgrind is how tools/bench counts the fast path's
 * instructions.  VALGRIND_GET_VBITS returns 0 unless memcheck handled it. */
HM_INLINE bool vg_detect(void)
{
#if HM_CONFIG_VALGRIND
    if (!RUNNING_ON_VALGRIND)
        return false;
    unsigned char probe = 0, vbits = 0;
    return VALGRIND_GET_VBITS(&probe, &vbits, 1) == 1;
#else
    return false;
#endif
}

/* Memory states, as memcheck sees them. */
HM_INLINE void vg_mem_noaccess(const void *p, size_t n)
{
#if HM_CONFIG_VALGRIND
    if (vg_running() && n)
        (void)VALGRIND_MAKE_MEM_NOACCESS(p, n);
#else
    (void)p, (void)n;
#endif
}

/* Addressable, contents unknown: before hmalloc writes memory the program does not own. */
HM_INLINE void vg_mem_undefined(const void *p, size_t n)
{
#if HM_CONFIG_VALGRIND
    if (vg_running() && n)
        (void)VALGRIND_MAKE_MEM_UNDEFINED(p, n);
#else
    (void)p, (void)n;
#endif
}

HM_INLINE void vg_mem_defined(const void *p, size_t n)
{
#if HM_CONFIG_VALGRIND
    if (vg_running() && n)
        (void)VALGRIND_MAKE_MEM_DEFINED(p, n);
#else
    (void)p, (void)n;
#endif
}

/* hmalloc's metadata: memcheck's leak check is not to take its words for pointers.  It holds
 * no pointer into a block, but numbers (class sizes, bitmaps, counters) that, with the low
 * addresses valgrind maps at, can equal a block's address and keep a leaked block
 * "reachable".  (The range is also spared address-error reports: hmalloc's own.) */
HM_INLINE void vg_not_a_root(const void *p, size_t n)
{
#if HM_CONFIG_VALGRIND
    if (vg_running())
        (void)VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, n);
#else
    (void)p, (void)n;
#endif
}

/* The range stops being metadata (it is about to be unmapped and may be reused). */
HM_INLINE void vg_root_again(const void *p, size_t n)
{
#if HM_CONFIG_VALGRIND
    if (vg_running())
        (void)VALGRIND_ENABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, n);
#else
    (void)p, (void)n;
#endif
}

/* A new block of size bytes (the request) at p, of usize bytes (its class); zeroed: its bytes
 * read as zero.  The class's tail is no-access. */
HM_INLINE void vg_alloc(void *p, size_t size, size_t usize, bool zeroed)
{
#if HM_CONFIG_VALGRIND
    if (vg_running()) {
        VALGRIND_MALLOCLIKE_BLOCK(p, size, 0, zeroed);
        vg_mem_noaccess((char *)p + size, usize - size);
    }
#else
    (void)p, (void)size, (void)usize, (void)zeroed;
#endif
}

/* p is being freed: no-access from now on (before hmalloc lets anyone reuse it). */
HM_INLINE void vg_free(void *p)
{
#if HM_CONFIG_VALGRIND
    if (vg_running())
        VALGRIND_FREELIKE_BLOCK(p, 0);
#else
    (void)p;
#endif
}

/* The size memcheck knows the block at p by (at most usize): its addressable bytes form a
 * prefix of the class, so a binary search on addressability finds the end.  GET_VBITS tells
 * whether a byte is addressable without reporting an error. */
static inline size_t vg_block_size(const void *p, size_t usize)
{
#if HM_CONFIG_VALGRIND
    size_t lo = 0, hi = usize;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        char vbits;
        if (VALGRIND_GET_VBITS((const char *)p + mid, &vbits, 1) == 3)
            hi = mid; /* not addressable: the block ends at or before mid */
        else
            lo = mid + 1;
    }
    return lo;
#else
    (void)p;
    return usize;
#endif
}

/* The block at p, of old_size bytes to memcheck, now has new_size (its class: new_usize)
 * without moving: bytes it gains are undefined, bytes it loses and the class's tail
 * no-access. */
static inline void vg_resize(void *p, size_t old_size, size_t new_size, size_t new_usize)
{
#if HM_CONFIG_VALGRIND
    if (new_size != old_size)
        VALGRIND_RESIZEINPLACE_BLOCK(p, old_size, new_size, 0);
    vg_mem_noaccess((char *)p + new_size, new_usize - new_size);
#else
    (void)p, (void)old_size, (void)new_size, (void)new_usize;
#endif
}

/* The program has been told the block's usable size and may use all of it.  The tail it
 * gains holds what hmalloc left there: zeros when the block was zeroed (calloc, MALLOCX_ZERO
 * and zero:true clear the whole class), which the program may rely on, so a tail that reads
 * zero is defined; otherwise it is undefined.  Only the first MiB is looked at: the tail of an
 * over-aligned block can be most of a GiB, and a tail that starts with a MiB of zeros is a
 * zeroed one or fresh pages. */
static inline void vg_expose_usable(const void *p, size_t usize)
{
    if (!vg_running())
        return;
    size_t size = vg_block_size(p, usize);
    if (size == usize)
        return;
    vg_resize((void *)p, size, usize, usize);
    const unsigned char *tail = (const unsigned char *)p + size;
    size_t n = usize - size, look = n < ((size_t)1 << 20) ? n : (size_t)1 << 20, i = 0;
    vg_mem_defined(tail, n);
    while (i < look && (((uintptr_t)(tail + i) & 7) || look - i < 8) && tail[i] == 0)
        i++;
    while (look - i >= 8 && *(const uint64_t *)(tail + i) == 0)
        i += 8;
    while (i < look && tail[i] == 0)
        i++;
    if (i < look)
        vg_mem_undefined(tail, n);
}

#endif
