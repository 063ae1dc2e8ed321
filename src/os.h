/* os.h: the only place hmalloc talks to the kernel for memory: mmap, munmap, madvise.
 * Every call saves and restores errno, so free() never changes it.  A test-only hook can make
 * the Nth call fail, to exercise every out-of-memory path. */
#ifndef HM_OS_H
#define HM_OS_H

#include "hmalloc_internal.h"

/* Map size bytes (a page multiple) aligned to alignment (a power of two >= PAGE), or NULL. */
void *os_map(size_t size, size_t alignment);
void os_unmap(void *addr, size_t size);
/* Give pages back to the kernel; the range reads as zero afterwards. Returns false on failure. */
bool os_purge(void *addr, size_t size);
/* Bytes currently mapped through os_map (statistics). */
size_t os_mapped_bytes(void);

/* Test hook: the countdown-th mmap or madvise call from now on fails (0 disables). */
void hmalloc_test_fail_os_after(long countdown);

#endif
