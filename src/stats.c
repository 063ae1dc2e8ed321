/* stats.c: gathering and printing statistics (see stats.h).  Counters are read live under the
 * locks that guard them; there is no separate snapshot.  Small-class counts are regions lent
 * by bins to thread caches and returned by them (cache hits are not counted per call; the
 * per-thread byte counters thread.allocated / thread.deallocated are). */
#include "stats.h"
#include "arena.h"
#include "base.h"
#include "conf.h"
#include "huge.h"
#include "os.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Statistics of arena slot i into *s; false if the slot holds no arena. */
static bool arena_stats_at(unsigned i, arena_stats_t *s)
{
    arena_t *a = __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE);
    if (!a)
        return false;
    memset(s, 0, sizeof(*s));
    stats_arena_add(a, s);
    return true;
}

void stats_arena_add(arena_t *a, arena_stats_t *s)
{
    s->nthreads += __atomic_load_n(&a->nthreads, __ATOMIC_RELAXED);
    for (unsigned c = 0; c < NSMALL; c++) {
        bin_t *b = &a->bins[c];
        bin_stats_t *bs = &s->bins[c];
        hm_mutex_lock(&b->lock);
        bs->nmalloc += b->nmalloc;
        bs->ndalloc += b->ndalloc;
        bs->nfills += b->nfills;
        bs->nflushes += b->nflushes;
        bs->nslabs_created += b->nslabs_created;
        bs->curregs += b->curregs;
        bs->curslabs += b->nslabs;
        hm_mutex_unlock(&b->lock);
    }
    s->small_allocated = 0;
    s->small_nmalloc = s->small_ndalloc = 0;
    for (unsigned c = 0; c < NSMALL; c++) {
        s->small_allocated += s->bins[c].curregs * sz_small[c].size;
        s->small_nmalloc += s->bins[c].nmalloc;
        s->small_ndalloc += s->bins[c].ndalloc;
    }
    hm_mutex_lock(&a->lock);
    s->pactive += a->pa.nactive;
    s->pdirty += a->pa.ndirty + a->pa.npurging; /* resident until the purge is done */
    s->pmuzzy += a->pa.nlazy;
    s->nchunks += a->pa.nchunks;
    s->large_allocated += a->allocated_large;
    s->large_nmalloc += a->nmalloc_large;
    s->large_ndalloc += a->ndalloc_large;
    s->npurge_calls += a->pa.npurge_calls;
    s->npurged_pages += a->pa.npurged_pages;
    hm_mutex_unlock(&a->lock);
}

void stats_arena_merge(arena_stats_t *dst, const arena_stats_t *src)
{
    dst->nthreads += src->nthreads;
    dst->pactive += src->pactive;
    dst->pdirty += src->pdirty;
    dst->pmuzzy += src->pmuzzy;
    dst->nchunks += src->nchunks;
    dst->small_allocated += src->small_allocated;
    dst->large_allocated += src->large_allocated;
    dst->small_nmalloc += src->small_nmalloc;
    dst->small_ndalloc += src->small_ndalloc;
    dst->large_nmalloc += src->large_nmalloc;
    dst->large_ndalloc += src->large_ndalloc;
    dst->npurge_calls += src->npurge_calls;
    dst->npurged_pages += src->npurged_pages;
    for (unsigned c = 0; c < NSMALL; c++) {
        bin_stats_t *d = &dst->bins[c];
        const bin_stats_t *b = &src->bins[c];
        d->nmalloc += b->nmalloc;
        d->ndalloc += b->ndalloc;
        d->nfills += b->nfills;
        d->nflushes += b->nflushes;
        d->nslabs_created += b->nslabs_created;
        d->curregs += b->curregs;
        d->curslabs += b->curslabs;
    }
}

void stats_gather(stats_totals_t *t)
{
    memset(t, 0, sizeof(*t));
    for (unsigned i = 0; i < __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE); i++) {
        arena_stats_t s;
        if (!arena_stats_at(i, &s))
            continue;
        t->allocated += s.small_allocated + s.large_allocated;
        t->active += s.pactive << LG_PAGE;
        t->dirty += s.pdirty << LG_PAGE;
        t->lazy += s.pmuzzy << LG_PAGE;
    }
    t->active += huge_allocated_bytes(); /* huge blocks' bytes are in their arenas' large.allocated */
    t->dirty += huge_cached_bytes();
    /* Retained chunks are mapped but hold nothing (purged with MADV_DONTNEED): like jemalloc,
     * count them apart.  Read retained first: a chunk taken from it meanwhile is in neither. */
    t->retained = chunk_retained_bytes();
    size_t os_mapped = os_mapped_bytes();
    t->mapped = os_mapped > t->retained ? os_mapped - t->retained : 0;
    t->metadata = base_allocated_bytes();
    t->resident = t->active + t->dirty + t->metadata;
    if (t->resident > t->mapped)
        t->resident = t->mapped;
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

typedef unsigned long long ull;


static void print_text(printer_t *pr, bool per_arena, bool bins)
{
    stats_totals_t t;
    stats_gather(&t);
    out(pr, "___ Begin hmalloc statistics ___\n");
    out(pr, "version: %s\nprefix: \"%s\"\narenas: %u (auto %u)\n", PACKAGE_VERSION,
        HM_PREFIX_STR, narenas_total, narenas_auto);
    out(pr,
        "options: tcache:%s tcache_max:%zu dirty_decay_ms:%lld purge:%s retain:%s junk:%s "
        "zero:%s\n",
        opt_tcache ? "true" : "false", opt_tcache_max, (long long)opt_dirty_decay_ms,
        conf_purge_name(), opt_retain ? "true" : "false", conf_junk_name(),
        opt_zero ? "true" : "false");
    out(pr, "allocated: %zu\nactive: %zu\ndirty: %zu\nlazy: %zu\nresident: %zu\n", t.allocated,
        t.active, t.dirty, t.lazy, t.resident);
    out(pr, "mapped: %zu\nretained: %zu\nmetadata: %zu\n", t.mapped, t.retained, t.metadata);
    uint64_t hn, hd;
    huge_counts(&hn, &hd);
    out(pr, "huge: nmalloc %llu ndalloc %llu allocated %zu\n", (ull)hn, (ull)hd,
        huge_allocated_bytes());
    if (!per_arena)
        goto done;
    for (unsigned i = 0; i < __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE); i++) {
        arena_stats_t s;
        if (!arena_stats_at(i, &s))
            continue;
        out(pr,
            "arena %u: threads %u chunks %zu active %zu dirty %zu lazy %zu purged %llu pages "
            "in %llu calls\n  small: allocated %zu nmalloc %llu ndalloc %llu\n"
            "  large: allocated %zu nmalloc %llu ndalloc %llu\n",
            i, s.nthreads, s.nchunks, s.pactive << LG_PAGE, s.pdirty << LG_PAGE,
            s.pmuzzy << LG_PAGE,
            (ull)s.npurged_pages, (ull)s.npurge_calls, s.small_allocated, (ull)s.small_nmalloc,
            (ull)s.small_ndalloc, s.large_allocated, (ull)s.large_nmalloc, (ull)s.large_ndalloc);
        if (!bins)
            continue;
        out(pr, "  %8s %12s %12s %10s %8s %8s %8s\n", "size", "nmalloc", "ndalloc", "curregs",
            "slabs", "fills", "flushes");
        for (unsigned c = 0; c < NSMALL; c++) {
            bin_stats_t *b = &s.bins[c];
            if (b->nmalloc)
                out(pr, "  %8u %12llu %12llu %10zu %8zu %8llu %8llu\n", sz_small[c].size,
                    (ull)b->nmalloc, (ull)b->ndalloc, b->curregs, b->curslabs, (ull)b->nfills,
                    (ull)b->nflushes);
        }
    }
done:
    out(pr, "___ End hmalloc statistics ___\n");
}

/* JSON shaped like jemalloc's: {"hmalloc": {"version", "config", "opt", "arenas", "stats",
 * "stats.arenas"}}. */
static void print_json(printer_t *pr, bool per_arena, bool bins)
{
    stats_totals_t t;
    stats_gather(&t);
    out(pr, "{\"hmalloc\": {\n\"version\": \"%s\",\n", PACKAGE_VERSION);
    out(pr, "\"config\": {\"debug\": %s, \"prefix\": \"%s\", \"stats\": true, \"fill\": true},\n",
        config_debug ? "true" : "false", HM_PREFIX_STR);
    out(pr,
        "\"opt\": {\"narenas\": %u, \"tcache\": %s, \"tcache_max\": %zu, \"dirty_decay_ms\": "
        "%lld, \"junk\": \"%s\", \"zero\": %s, \"abort_conf\": %s, \"stats_print\": %s, "
        "\"background_thread\": %s, \"check_sized\": %s, \"percpu_arena\": \"%s\", ",
        narenas_auto, opt_tcache ? "true" : "false", opt_tcache_max,
        (long long)opt_dirty_decay_ms, conf_junk_name(), opt_zero ? "true" : "false",
        opt_abort_conf ? "true" : "false", opt_stats_print ? "true" : "false",
        opt_background_thread ? "true" : "false", opt_check_sized ? "true" : "false",
        opt_percpu_arena);
    out(pr, "\"purge\": \"%s\", \"retain\": %s},\n", conf_purge_name(),
        opt_retain ? "true" : "false");
    out(pr, "\"arenas\": {\"narenas\": %u, \"quantum\": %d, \"page\": %zu, \"bin\": [", narenas_total,
        QUANTUM, PAGE);
    for (unsigned c = 0; c < NSMALL; c++)
        out(pr, "%s{\"size\": %u, \"nregs\": %u, \"slab_size\": %zu}", c ? ", " : "",
            sz_small[c].size, sz_small[c].nregs, (size_t)sz_small[c].npages << LG_PAGE);
    out(pr, "], \"nlextents\": %u},\n", NCLASSES - NSMALL);
    out(pr,
        "\"stats\": {\"allocated\": %zu, \"active\": %zu, \"metadata\": %zu, \"resident\": %zu, "
        "\"mapped\": %zu, \"retained\": %zu, \"dirty\": %zu, \"lazy\": %zu}",
        t.allocated, t.active, t.metadata, t.resident, t.mapped, t.retained, t.dirty, t.lazy);
    if (per_arena) {
        out(pr, ",\n\"stats.arenas\": {");
        bool first = true;
        for (unsigned i = 0; i < __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE); i++) {
            arena_stats_t s;
            if (!arena_stats_at(i, &s))
                continue;
            out(pr,
                "%s\n\"%u\": {\"nthreads\": %u, \"pactive\": %zu, \"pdirty\": %zu, "
                "\"pmuzzy\": %zu, \"npurge\": %llu, \"purged\": %llu, \"small\": {\"allocated\": %zu, "
                "\"nmalloc\": %llu, \"ndalloc\": %llu}, \"large\": {\"allocated\": %zu, "
                "\"nmalloc\": %llu, \"ndalloc\": %llu}",
                first ? "" : ",", i, s.nthreads, s.pactive, s.pdirty, s.pmuzzy,
                (ull)s.npurge_calls,
                (ull)s.npurged_pages, s.small_allocated, (ull)s.small_nmalloc,
                (ull)s.small_ndalloc, s.large_allocated, (ull)s.large_nmalloc,
                (ull)s.large_ndalloc);
            first = false;
            if (bins) {
                out(pr, ", \"bins\": [");
                for (unsigned c = 0; c < NSMALL; c++) {
                    bin_stats_t *b = &s.bins[c];
                    out(pr,
                        "%s{\"nmalloc\": %llu, \"ndalloc\": %llu, \"curregs\": %zu, "
                        "\"curslabs\": %zu, \"nfills\": %llu, \"nflushes\": %llu}",
                        c ? ", " : "", (ull)b->nmalloc, (ull)b->ndalloc, b->curregs, b->curslabs,
                        (ull)b->nfills, (ull)b->nflushes);
                }
                out(pr, "]");
            }
            out(pr, "}");
        }
        out(pr, "\n}");
    }
    out(pr, "\n}}\n");
}

/* opts as jemalloc's: 'J' JSON, 'a' leave out per-arena statistics, 'b' leave out bins. */
void stats_print(void (*write_cb)(void *, const char *), void *cbopaque, const char *opts)
{
    printer_t pr = {write_cb ? write_cb : stderr_cb, cbopaque};
    bool json = opts && strchr(opts, 'J');
    bool per_arena = !(opts && strchr(opts, 'a'));
    bool bins = !(opts && strchr(opts, 'b'));
    if (json)
        print_json(&pr, per_arena, bins);
    else
        print_text(&pr, per_arena, bins);
}
