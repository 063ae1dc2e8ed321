/* rust_alloc_hmalloc.c: the rust_alloc layer (include/hmalloc/rust_alloc.h) on hmalloc's
 * extended API, built into libhmalloc_rust_hmalloc.a.  It calls the names this build exports
 * (HM_NAME), so over the default build the whole process, runtime included, is on hmalloc.
 *
 * Sized deallocation skips the page map, but hmalloc's fast path then trusts the size to name
 * the block's class: every block this layer hands out is of exactly the class of (size, flags)
 * it is known by, which is why a shrink in place either reaches that class or changes nothing. */
#include "hmalloc_internal.h"
#include "sz.h"
#include "hmalloc.h"
#include "hmalloc/rust_alloc.h"
#include "valgrind.h"

/* Under valgrind memcheck knows a block by its requested size, but this layer promises the
 * whole usable size (rust_usable_size): sallocx tells memcheck so.  The flag is this layer's
 * own (it may sit over a shared libhmalloc, whose internals it cannot see). */
static bool rust_on_valgrind;
__attribute__((constructor)) static void rust_detect_valgrind(void)
{
    rust_on_valgrind = config_valgrind && vg_detect();
}

HM_INLINE void *expose_usable(void *p)
{
    if (unlikely(rust_on_valgrind) && p)
        HM_NAME(sallocx)(p, 0);
    return p;
}

/* The flags that align a block of size bytes to align (a power of two): none when every block
 * of size's class is that aligned anyway.  A small class c is carved at multiples of c from a
 * page boundary, and page runs and mappings start on a page, so a class gives the largest
 * power of two dividing it, up to a page; blocks of 16 bytes and more are 16-byte aligned,
 * which settles the common case without a call. */
HM_INLINE int align_flags(size_t size, size_t align)
{
    if (likely(align <= QUANTUM && align <= size))
        return 0;
    if (align <= PAGE) {
        size_t usize = HM_NAME(nallocx)(size, 0);
        if (usize != 0 && (usize & -usize) >= align)
            return 0;
    }
    return MALLOCX_LG_ALIGN(__builtin_ctzll(align));
}

/* Whether xallocx can take a block of class have down to class want (< have) without moving
 * it: page runs shrink to page runs and mappings to mappings; a slab region never changes
 * class.  (xallocx would keep a run or mapping at the smallest class of its kind instead of
 * failing: that would leave a block of neither size.)  Over-aligned blocks are left alone: past
 * a page of alignment a run-sized block may be a mapping of its own. */
static bool shrinks_in_place(size_t have, size_t want, size_t align)
{
    if (have > LARGE_MAXCLASS)
        return want > LARGE_MAXCLASS;
    return have >= LARGE_MINCLASS && want >= LARGE_MINCLASS && align <= PAGE;
}

HM_EXPORT void *rust_alloc(size_t size, size_t align)
{
    return expose_usable(HM_NAME(mallocx)(size, align_flags(size, align)));
}

HM_EXPORT void *rust_alloc_zeroed(size_t size, size_t align)
{
    return expose_usable(HM_NAME(mallocx)(size, align_flags(size, align) | MALLOCX_ZERO));
}

HM_EXPORT void rust_dealloc(void *ptr, size_t size, size_t align)
{
    HM_NAME(sdallocx)(ptr, size, align_flags(size, align));
}

HM_EXPORT void *rust_realloc(void *ptr, size_t old_size, size_t align, size_t new_size)
{
    (void)old_size; /* hmalloc knows the block */
    return expose_usable(HM_NAME(rallocx)(ptr, new_size, align_flags(new_size, align)));
}

HM_EXPORT size_t rust_realloc_in_place(void *ptr, size_t old_size, size_t align, size_t new_size)
{
    int flags = align_flags(new_size, align);
    size_t want = HM_NAME(nallocx)(new_size, flags);
    size_t have = HM_NAME(nallocx)(old_size, align_flags(old_size, align));
    if (want == have) {
        expose_usable(ptr);
        return have;
    }
    if (want == 0) /* no class holds new_size */
        return have < new_size ? have : 0;
    if (want < have && !shrinks_in_place(have, want, align))
        return 0;
    /* extra 0: the block ends up of class want, or is left as it was. */
    size_t usize = HM_NAME(xallocx)(ptr, new_size, 0, flags);
    if (usize == want)
        return usize;
    return usize < new_size ? usize : 0;
}

HM_EXPORT size_t rust_usable_size(size_t size, size_t align)
{
    return HM_NAME(nallocx)(size, align_flags(size, align));
}
