/* stats.c: gathering and printing statistics (see stats.h). */
#include "stats.h"
#include "arena.h"
#include "base.h"
#include "huge.h"
#include "os.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void stats_gather(stats_totals_t *t)
{
    memset(t, 0, sizeof(*t));
    for (unsigned i = 0; i < __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE); i++) {
        arena_t *a = arenas[i];
        if (!a)
            continue;
        for (unsigned c = 0; c < NSMALL; c++) {
            bin_t *b = &a->bins[c];
            hm_mutex_lock(&b->lock);
            t->allocated += b->curregs * sz_small[c].size;
            hm_mutex_unlock(&b->lock);
        }
        hm_mutex_lock(&a->lock);
        t->allocated += a->allocated_large;
        t->active += a->pa.nactive << LG_PAGE;
        t->dirty += a->pa.ndirty << LG_PAGE;
        hm_mutex_unlock(&a->lock);
    }
    t->allocated += huge_allocated_bytes();
    t->active += huge_allocated_bytes();
    t->mapped = os_mapped_bytes();
    t->metadata = base_allocated_bytes();
    t->resident = t->active + t->dirty + t->metadata;
}

typedef struct printer {
    void (*write_cb)(void *, const char *);
    void *opaque;
} printer_t;

static void stderr_cb(void *opaque, const char *s)
{
    (void)opaque;
    hm_write_stderr(s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void out(printer_t *pr, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    pr->write_cb(pr->opaque, buf);
}

void stats_print(void (*write_cb)(void *, const char *), void *cbopaque, const char *opts)
{
    (void)opts;
    printer_t pr = {write_cb ? write_cb : stderr_cb, cbopaque};
    stats_totals_t t;
    stats_gather(&t);
    out(&pr, "___ Begin hmalloc statistics ___\n");
    out(&pr, "version: %s\narenas: %u\n", PACKAGE_VERSION, narenas_total);
    out(&pr, "allocated: %zu\nactive: %zu\ndirty: %zu\nmapped: %zu\nmetadata: %zu\n",
        t.allocated, t.active, t.dirty, t.mapped, t.metadata);
    uint64_t hn, hd;
    huge_counts(&hn, &hd);
    out(&pr, "huge: nmalloc %llu ndalloc %llu allocated %zu\n", (unsigned long long)hn,
        (unsigned long long)hd, huge_allocated_bytes());
    for (unsigned i = 0; i < __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE); i++) {
        arena_t *a = arenas[i];
        if (!a)
            continue;
        hm_mutex_lock(&a->lock);
        out(&pr,
            "arena %u: threads %u chunks %zu active %zu dirty %zu purged %llu pages in %llu calls\n"
            "  large: nmalloc %llu ndalloc %llu allocated %zu\n",
            i, a->nthreads, a->pa.nchunks, a->pa.nactive << LG_PAGE, a->pa.ndirty << LG_PAGE,
            (unsigned long long)a->pa.npurged_pages, (unsigned long long)a->pa.npurge_calls,
            (unsigned long long)a->nmalloc_large, (unsigned long long)a->ndalloc_large,
            a->allocated_large);
        hm_mutex_unlock(&a->lock);
        out(&pr, "  %8s %12s %12s %10s %8s %8s %8s\n", "size", "nmalloc", "ndalloc", "curregs",
            "slabs", "fills", "flushes");
        for (unsigned c = 0; c < NSMALL; c++) {
            bin_t *b = &a->bins[c];
            hm_mutex_lock(&b->lock);
            if (b->nmalloc)
                out(&pr, "  %8u %12llu %12llu %10zu %8zu %8llu %8llu\n", sz_small[c].size,
                    (unsigned long long)b->nmalloc, (unsigned long long)b->ndalloc, b->curregs,
                    b->nslabs, (unsigned long long)b->nfills, (unsigned long long)b->nflushes);
            hm_mutex_unlock(&b->lock);
        }
    }
    out(&pr, "___ End hmalloc statistics ___\n");
}
