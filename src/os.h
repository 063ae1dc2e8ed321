/* os.h: the only place hmalloc talks to the kernel for memory: mmap, munmap, mremap, madvise,
 * mincore.
 * Every call saves and restores errno, so free() never changes it.  A test-only hook can make
 * the Nth call fail, to exercise every out-of-memory path. */
#ifndef HM_OS_H
#define HM_OS_H

#include "hmalloc_internal.h"

/* Map size bytes (a page multiple) aligned to alignment (a power of two >= PAGE), or NULL. */
void *os_map(size_t size, size_t alignment);
void os_unmap(void *addr, size_t size);
/* How a purge went.  OS_PURGED_LAZY (MADV_FREE): the kernel may take the pages whenever it
 * needs memory, and until it does they stay resident and keep their old bytes, so the range
 * must not be assumed zero.  OS_PURGED_ZERO (MADV_DONTNEED): the pages are gone now and the
 * range reads as zero. */
typedef enum { OS_PURGE_FAILED, OS_PURGED_ZERO, OS_PURGED_LAZY } os_purge_t;
/* Give the pages of [addr, addr+size) back to the kernel: lazily if lazy is set and the kernel
 * has MADV_FREE (Linux 4.5+; after the first EINVAL it is not tried again), else at once. */
os_purge_t os_purge(void *addr, size_t size, bool lazy);
/* Resize the mapping at addr in place (no move); false when the pages after it are taken. */
bool os_remap_in_place(void *addr, size_t old_size, size_t new_size);
/* Move the pages of [from, from+old_size) to the start of dest (a mapping of new_size bytes
 * from os_map, replaced), growing with zero pages; false leaves both as they were. */
bool os_remap_to(void *from, size_t old_size, void *dest, size_t new_size);
/* How many pages of [addr, addr+size) (page-aligned, mapped) are resident; 0 if the kernel
 * cannot tell (mincore failed). */
size_t os_resident_pages(void *addr, size_t size);
/* Make [addr, addr+size) inaccessible (a guard page); false on failure. */
bool os_guard(void *addr, size_t size);
/* Bytes currently mapped through os_map (statistics). */
size_t os_mapped_bytes(void);

/* Test hook: the countdown-th mmap or madvise call from now on fails (0 disables). */
void hmalloc_test_fail_os_after(long countdown);

#endif
