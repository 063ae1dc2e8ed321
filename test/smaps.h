/* test/smaps.h: what the kernel says about the mapping holding an address, for tests that
 * check purging (shared by test/unit/extent_test.c and test/api/ext_purge_test.c). */
#ifndef HM_TEST_SMAPS_H
#define HM_TEST_SMAPS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* LazyFree kB of the mapping that contains p (pages given back with MADV_FREE and not yet
 * reclaimed), or -1 when the kernel does not say. */
static inline long smaps_lazyfree_kib(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    char line[512];
    bool in = false;
    long kib = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
            continue;
        }
        if (in && sscanf(line, "LazyFree: %ld kB", &kib) == 1)
            break;
    }
    fclose(f);
    return kib;
}

#endif
