/* hmalloc/rust_alloc.h: the allocation interface a language runtime (Rust's, typically)
 * compiles against, leaving the symbols unresolved until the final link.  A program links
 * exactly one archive that defines them:
 *
 *   libhmalloc_rust_hmalloc.a  on hmalloc's extended API (with libhmalloc.a, or a namespaced
 *                              build's library: it calls the names that build exports)
 *   libhmalloc_rust_system.a   on the C library's malloc, posix_memalign, realloc and free,
 *                              for a library that must share its host's allocator
 *
 * The contract is Rust's GlobalAlloc: align is a power of two; a block is given back with the
 * size and align it was allocated (or last resized) with; size is never 0 (0 is accepted and
 * served as 1 byte).  Failures return NULL (0 for rust_realloc_in_place) and leave the block
 * as it was. */
#ifndef HMALLOC_RUST_ALLOC_H
#define HMALLOC_RUST_ALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* size bytes aligned to align, or NULL. */
void *rust_alloc(size_t size, size_t align);
/* The same, zero-filled. */
void *rust_alloc_zeroed(size_t size, size_t align);
/* Give back a block of rust_alloc(size, align). */
void rust_dealloc(void *ptr, size_t size, size_t align);
/* Resize to new_size bytes, keeping the alignment and the first min(old_size, new_size)
 * bytes; the block may move.  NULL on failure (ptr is still valid then). */
void *rust_realloc(void *ptr, size_t old_size, size_t align, size_t new_size);
/* Resize without moving.  Returns the block's usable size after the attempt: at least
 * new_size when it succeeded, and from then on the block is one of new_size bytes.  Below
 * new_size (0 when a shrink cannot be done in place) it failed and the block is unchanged,
 * still one of old_size bytes. */
size_t rust_realloc_in_place(void *ptr, size_t old_size, size_t align, size_t new_size);
/* The usable size rust_alloc(size, align) gives: all of it may be used (at least size). */
size_t rust_usable_size(size_t size, size_t align);

#ifdef __cplusplus
}
#endif
#endif /* HMALLOC_RUST_ALLOC_H */
