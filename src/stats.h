/* stats.h: statistics: totals gathered from the arenas (under their locks) and printing. */
#ifndef HM_STATS_H
#define HM_STATS_H

#include "hmalloc_internal.h"

typedef struct stats_totals {
    size_t allocated; /* bytes in blocks lent out (users' and thread caches') */
    size_t active;    /* bytes in pages of slabs, large and huge blocks */
    size_t dirty;     /* bytes in free pages not yet purged */
    size_t mapped;    /* bytes mapped from the OS (chunks, huge blocks, metadata) */
    size_t metadata;  /* bytes of metadata */
    size_t resident;  /* upper bound of resident bytes: active + dirty + metadata */
} stats_totals_t;

void stats_gather(stats_totals_t *t);
void stats_print(void (*write_cb)(void *, const char *), void *cbopaque, const char *opts);

#endif
