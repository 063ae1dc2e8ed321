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

/* Where the next aligned mapping probably fits: just below the last one (Linux hands out
 * mappings top-down).  Asking for that address first usually gets an aligned mapping in one
 * mmap, instead of mmap, munmap, a bigger mmap and two trimming munmaps, which cost page-table
 * work for every huge block (large_bench: 182 mmaps and 310 munmaps for 600 blocks). */
static uintptr_t os_align_hint; /* atomic */

/* A mapping of size bytes exactly at addr, or NULL (the kernel put it elsewhere, or failed). */
static void *os_mmap_at(uintptr_t addr, size_t size)
{
    void *p = os_mmap((void *)addr, size);
    if (p && (uintptr_t)p != addr) {
        munmap(p, size);
        p = NULL;
    }
    return p;
}

void *os_map(size_t size, size_t alignment)
{
    int saved = errno;
    void *p = NULL;
    uintptr_t low = __atomic_load_n(&os_align_hint, __ATOMIC_RELAXED), mask = alignment - 1;
    if (alignment > PAGE && low > size)
        p = os_mmap_at((low - size) & ~mask, size);
    if (!p)
        p = os_mmap(NULL, size);
    if (p && ((uintptr_t)p & mask)) {
        /* Misaligned.  The aligned addresses on either side often have room (the kernel found
         * this much free space here): they need no more address space than the block, which
         * matters under RLIMIT_AS.  Otherwise map enough to contain an aligned run, then trim
         * both ends. */
        uintptr_t at = (uintptr_t)p;
        munmap(p, size);
        p = os_mmap_at(at & ~mask, size);
        if (!p)
            p = os_mmap_at((at + mask) & ~mask, size);
    }
    if (!p || ((uintptr_t)p & mask)) {
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
    if (p && alignment > PAGE)
        __atomic_store_n(&os_align_hint, (uintptr_t)p, __ATOMIC_RELAXED);
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

bool os_guard(void *addr, size_t size)
{
    int saved = errno;
    bool ok = !os_injected_failure() && mprotect(addr, size, PROT_NONE) == 0;
    errno = saved;
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

size_t os_resident_pages(void *addr, size_t size)
{
    int saved = errno;
    unsigned char vec[256]; /* one byte a page: 1 MiB a call */
    const size_t step = sizeof(vec) << LG_PAGE;
    size_t n = 0;
    for (size_t off = 0; off < size; off += step) {
        size_t len = size - off < step ? size - off : step;
        if (mincore((char *)addr + off, len, vec) != 0)
            break;
        for (size_t i = 0; i < len >> LG_PAGE; i++)
            n += vec[i] & 1;
    }
    errno = saved;
    return n;
}

size_t os_mapped_bytes(void) { return __atomic_load_n(&os_mapped, __ATOMIC_RELAXED); }
