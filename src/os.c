/* os.c: mmap-backed memory for chunks, huge blocks and metadata (see os.h). */
#include "os.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

#ifndef MADV_FREE
#define MADV_FREE 8 /* Linux's value, for C libraries older than the kernel feature */
#endif

static size_t os_mapped;       /* atomic: bytes mapped */
static bool os_no_madv_free;   /* atomic: the kernel said EINVAL to MADV_FREE */
static long os_fail_countdown; /* atomic: test hook */

void hmalloc_test_fail_os_after(long countdown)
{
    __atomic_store_n(&os_fail_countdown, countdown, __ATOMIC_SEQ_CST);
}

static bool os_injected_failure(void)
{
    if (!config_test_hooks || likely(__atomic_load_n(&os_fail_countdown, __ATOMIC_RELAXED) == 0))
        return false;
    return __atomic_sub_fetch(&os_fail_countdown, 1, __ATOMIC_SEQ_CST) == 0;
}

static void *os_mmap(void *hint, size_t size)
{
    if (os_injected_failure())
        return NULL;
    void *p = mmap(hint, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *os_map(size_t size, size_t alignment)
{
    int saved = errno;
    void *p = os_mmap(NULL, size);
    if (p && ((uintptr_t)p & (alignment - 1))) {
        /* Misaligned: map enough to contain an aligned run, then trim both ends. */
        munmap(p, size);
        size_t over = size + alignment - PAGE;
        p = over < size ? NULL : os_mmap(NULL, over);
        if (p) {
            uintptr_t a = ALIGN_UP((uintptr_t)p, alignment);
            size_t lead = a - (uintptr_t)p, trail = over - lead - size;
            if (lead)
                munmap(p, lead);
            if (trail)
                munmap((void *)(a + size), trail);
            p = (void *)a;
        }
    }
    errno = saved;
    if (p)
        __atomic_add_fetch(&os_mapped, size, __ATOMIC_RELAXED);
    return p;
}

void os_unmap(void *addr, size_t size)
{
    int saved = errno;
    if (munmap(addr, size) != 0)
        hm_panic("munmap failed");
    __atomic_sub_fetch(&os_mapped, size, __ATOMIC_RELAXED);
    errno = saved;
}

bool os_remap_in_place(void *addr, size_t old_size, size_t new_size)
{
    int saved = errno;
    bool ok;
    if (new_size < old_size) {
        ok = munmap((char *)addr + new_size, old_size - new_size) == 0;
    } else {
        ok = !os_injected_failure() && mremap(addr, old_size, new_size, 0) == addr;
    }
    errno = saved;
    if (ok)
        __atomic_add_fetch(&os_mapped, new_size - old_size, __ATOMIC_RELAXED);
    return ok;
}

bool os_remap_to(void *from, size_t old_size, void *dest, size_t new_size)
{
    int saved = errno;
    bool ok = !os_injected_failure() &&
              mremap(from, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, dest) == dest;
    errno = saved;
    if (ok) /* dest's own pages were replaced; from's are gone */
        __atomic_sub_fetch(&os_mapped, old_size, __ATOMIC_RELAXED);
    return ok;
}

os_purge_t os_purge(void *addr, size_t size, bool lazy)
{
    int saved = errno;
    os_purge_t r = OS_PURGE_FAILED;
    if (!os_injected_failure()) {
        if (lazy && !__atomic_load_n(&os_no_madv_free, __ATOMIC_RELAXED)) {
            if (madvise(addr, size, MADV_FREE) == 0)
                r = OS_PURGED_LAZY;
            else if (errno == EINVAL) /* a kernel before 4.5: DONTNEED from now on */
                __atomic_store_n(&os_no_madv_free, true, __ATOMIC_RELAXED);
        }
        if (r == OS_PURGE_FAILED && madvise(addr, size, MADV_DONTNEED) == 0)
            r = OS_PURGED_ZERO;
    }
    errno = saved;
    return r;
}

size_t os_mapped_bytes(void) { return __atomic_load_n(&os_mapped, __ATOMIC_RELAXED); }
