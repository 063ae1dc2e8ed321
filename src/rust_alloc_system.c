/* rust_alloc_system.c: the rust_alloc layer (include/hmalloc/rust_alloc.h) on the C library's
 * malloc, calloc, posix_memalign, realloc and free, built into libhmalloc_rust_system.a: for a
 * library (a plugin, a Python extension) that must allocate from whatever malloc its host runs
 * on.  It names no hmalloc function, so it links without hmalloc. */
#include "hmalloc/rust_alloc.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

/* malloc's blocks suit any object with a fundamental alignment that fits in them (C17
 * 7.22.3), so malloc serves an alignment up to max_align_t's that is not above the size. */
static int malloc_aligns(size_t size, size_t align)
{
    return align <= alignof(max_align_t) && align <= size;
}

static void *alloc_aligned(size_t size, size_t align)
{
    void *p;
    if (align < sizeof(void *))
        align = sizeof(void *); /* posix_memalign's smallest */
    return posix_memalign(&p, align, size) == 0 ? p : NULL;
}

EXPORT void *rust_alloc(size_t size, size_t align)
{
    if (size == 0)
        size = 1; /* malloc(0) may be NULL elsewhere than glibc */
    return malloc_aligns(size, align) ? malloc(size) : alloc_aligned(size, align);
}

EXPORT void *rust_alloc_zeroed(size_t size, size_t align)
{
    if (size == 0)
        size = 1;
    if (malloc_aligns(size, align))
        return calloc(1, size);
    void *p = alloc_aligned(size, align);
    if (p)
        memset(p, 0, size);
    return p;
}

EXPORT void rust_dealloc(void *ptr, size_t size, size_t align)
{
    (void)size;
    (void)align;
    free(ptr);
}

EXPORT void *rust_realloc(void *ptr, size_t old_size, size_t align, size_t new_size)
{
    if (new_size == 0)
        new_size = 1; /* realloc(p, 0) frees p on glibc */
    if (malloc_aligns(new_size, align))
        return realloc(ptr, new_size);
    /* realloc knows nothing of alignment: move by hand. */
    void *q = alloc_aligned(new_size, align);
    if (q) {
        memcpy(q, ptr, old_size < new_size ? old_size : new_size);
        free(ptr);
    }
    return q;
}

/* The C library cannot resize without moving; only what the block already holds is known
 * to be usable, so a shrink succeeds (free needs no size) and a growth fails. */
EXPORT size_t rust_realloc_in_place(void *ptr, size_t old_size, size_t align, size_t new_size)
{
    (void)ptr;
    (void)align;
    (void)new_size;
    return old_size;
}

EXPORT size_t rust_usable_size(size_t size, size_t align)
{
    (void)align;
    return size ? size : 1;
}
