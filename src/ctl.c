/* ctl.c: mallctl (see ctl.h).  The tree is static tables of nodes; a leaf is a handler that
 * reads and/or writes one value.  Errors: ENOENT for an unknown name or index, EINVAL for a
 * wrong length, EPERM for writing a read-only value (or reading/writing an action). */
#include "ctl.h"
#include "arena.h"
#include "background.h"
#include "base.h"
#include "conf.h"
#include "huge.h"
#include "stats.h"
#include "tcache.h"

#include <errno.h>
#include <string.h>
#include <sys/types.h>

#define CTL_MAX_DEPTH 8
#define ARENAS_ALL 4096 /* MALLCTL_ARENAS_ALL */

typedef int (*ctl_handler_t)(const size_t *mib, void *oldp, size_t *oldlenp, void *newp,
                             size_t newlen);

typedef struct ctl_node ctl_node_t;
struct ctl_node {
    const char *name;
    const ctl_node_t *children; /* named children */
    size_t nchildren;
    const ctl_node_t *indexed;  /* this level takes a number instead, validated by index_ok */
    bool (*index_ok)(size_t i);
    ctl_handler_t handler;      /* leaf */
};

/* ---- value helpers ------------------------------------------------------------------------ */

static int ctl_read(void *oldp, size_t *oldlenp, const void *v, size_t len)
{
    if (!oldp || !oldlenp)
        return 0;
    if (*oldlenp != len) {
        size_t n = *oldlenp < len ? *oldlenp : len;
        memcpy(oldp, v, n);
        *oldlenp = n;
        return EINVAL;
    }
    memcpy(oldp, v, len);
    return 0;
}

#define RO(type, expr)                                                                     \
    do {                                                                                   \
        if (newp || newlen)                                                                \
            return EPERM;                                                                  \
        type v_ = (expr);                                                                  \
        return ctl_read(oldp, oldlenp, &v_, sizeof(v_));                                   \
    } while (0)

#define NEITHER()                                                                          \
    do {                                                                                   \
        if (oldp || oldlenp || newp || newlen)                                             \
            return EPERM;                                                                  \
    } while (0)

#define HANDLER(fn) static int fn(const size_t *mib, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
#define UNUSED_MIB (void)mib

/* ---- index validators --------------------------------------------------------------------- */

static unsigned ctl_narenas(void)
{
    unsigned t = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
    return t > narenas_auto ? t : narenas_auto;
}
static bool arena_index_ok(size_t i) { return i <= ctl_narenas() || i == ARENAS_ALL; }
/* "All arenas" is MALLCTL_ARENAS_ALL, or (as older jemalloc spelled it) arena.<narenas>. */
static size_t arena_index_resolve(size_t i) { return i == ctl_narenas() ? ARENAS_ALL : i; }
static bool bin_index_ok(size_t i) { return i < NSMALL; }
static bool lextent_index_ok(size_t i) { return i < NCLASSES - NSMALL; }

/* ---- the statistics snapshot -------------------------------------------------------------- */

/* As jemalloc's: stats.* report the values of the last refresh (writing epoch), taken on first
 * use too; everything else is live.  Guarded by ctl_lock. */
static hm_mutex_t ctl_lock = HM_MUTEX_INITIALIZER;
static uint64_t ctl_epoch;
static stats_totals_t snap_totals;
static arena_stats_t *snap_arenas[MAX_ARENAS];

static void ctl_refresh_locked(void)
{
    stats_gather(&snap_totals);
    unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
        arena_t *a = __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE);
        if (!a)
            continue;
        if (!snap_arenas[i] && !(snap_arenas[i] = base_alloc(sizeof(arena_stats_t))))
            continue;
        memset(snap_arenas[i], 0, sizeof(arena_stats_t));
        stats_arena_add(a, snap_arenas[i]);
    }
    ctl_epoch++;
}

static void ctl_snapshot_begin(void)
{
    hm_mutex_lock(&ctl_lock);
    if (ctl_epoch == 0)
        ctl_refresh_locked();
}

/* ---- top level ---------------------------------------------------------------------------- */

HANDLER(h_version) { UNUSED_MIB; RO(const char *, PACKAGE_VERSION); }

HANDLER(h_epoch)
{
    UNUSED_MIB;
    if (newp && newlen != sizeof(uint64_t))
        return EINVAL;
    ctl_snapshot_begin();
    if (newp)
        ctl_refresh_locked();
    uint64_t e = ctl_epoch;
    hm_mutex_unlock(&ctl_lock);
    return ctl_read(oldp, oldlenp, &e, sizeof(e));
}

/* ---- arenas.* ----------------------------------------------------------------------------- */

HANDLER(h_arenas_narenas) { UNUSED_MIB; RO(unsigned, ctl_narenas()); }

static unsigned arenas_next_manual; /* atomic; 0 until the first arenas.create */

HANDLER(h_arenas_create)
{
    UNUSED_MIB;
    if (newp || newlen)
        return EPERM;
    unsigned expect = 0;
    __atomic_compare_exchange_n(&arenas_next_manual, &expect, narenas_auto, false,
                                __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    unsigned ind = __atomic_fetch_add(&arenas_next_manual, 1, __ATOMIC_RELAXED);
    if (ind >= MAX_ARENAS || ind == ARENAS_ALL || !arena_get(ind))
        return EAGAIN;
    return ctl_read(oldp, oldlenp, &ind, sizeof(ind));
}

HANDLER(h_arenas_nbins) { UNUSED_MIB; RO(unsigned, NSMALL); }
HANDLER(h_arenas_bin_size) { RO(size_t, sz_small[mib[2]].size); }
HANDLER(h_arenas_bin_nregs) { RO(uint32_t, sz_small[mib[2]].nregs); }
HANDLER(h_arenas_bin_slab_size) { RO(size_t, (size_t)sz_small[mib[2]].npages << LG_PAGE); }
HANDLER(h_arenas_nlextents) { UNUSED_MIB; RO(unsigned, NCLASSES - NSMALL); }
HANDLER(h_arenas_lextent_size) { RO(size_t, sz_index2size(NSMALL + (unsigned)mib[2])); }
HANDLER(h_arenas_page) { UNUSED_MIB; RO(size_t, PAGE); }
HANDLER(h_arenas_quantum) { UNUSED_MIB; RO(size_t, QUANTUM); }
HANDLER(h_arenas_tcache_max) { UNUSED_MIB; RO(size_t, opt_tcache_max); }
HANDLER(h_arenas_nhbins) { UNUSED_MIB; RO(unsigned, NSMALL); }

static const ctl_node_t arenas_bin_i[] = {
    {"size", NULL, 0, NULL, NULL, h_arenas_bin_size},
    {"nregs", NULL, 0, NULL, NULL, h_arenas_bin_nregs},
    {"slab_size", NULL, 0, NULL, NULL, h_arenas_bin_slab_size},
};
static const ctl_node_t arenas_bin_idx = {NULL, arenas_bin_i, 3, NULL, bin_index_ok, NULL};
static const ctl_node_t arenas_lextent_i[] = {
    {"size", NULL, 0, NULL, NULL, h_arenas_lextent_size},
};
static const ctl_node_t arenas_lextent_idx = {NULL, arenas_lextent_i, 1, NULL, lextent_index_ok,
                                              NULL};
static const ctl_node_t arenas_children[] = {
    {"narenas", NULL, 0, NULL, NULL, h_arenas_narenas},
    {"create", NULL, 0, NULL, NULL, h_arenas_create},
    {"nbins", NULL, 0, NULL, NULL, h_arenas_nbins},
    {"bin", NULL, 0, &arenas_bin_idx, NULL, NULL},
    {"nlextents", NULL, 0, NULL, NULL, h_arenas_nlextents},
    {"lextent", NULL, 0, &arenas_lextent_idx, NULL, NULL},
    {"page", NULL, 0, NULL, NULL, h_arenas_page},
    {"quantum", NULL, 0, NULL, NULL, h_arenas_quantum},
    {"tcache_max", NULL, 0, NULL, NULL, h_arenas_tcache_max},
    {"nhbins", NULL, 0, NULL, NULL, h_arenas_nhbins},
};

/* ---- thread.* ----------------------------------------------------------------------------- */

HANDLER(h_thread_arena)
{
    UNUSED_MIB;
    unsigned old = tcache_thread_arena()->ind;
    if (newp) {
        if (newlen != sizeof(unsigned))
            return EINVAL;
        unsigned ind = *(const unsigned *)newp;
        if (ind >= ctl_narenas() || ind == ARENAS_ALL)
            return EFAULT;
        arena_t *a = arena_get(ind);
        if (!a)
            return EAGAIN;
        tcache_thread_set_arena(a);
    }
    return ctl_read(oldp, oldlenp, &old, sizeof(old));
}

HANDLER(h_thread_tcache_flush)
{
    UNUSED_MIB;
    NEITHER();
    tcache_t *tc = tsd_tcache();
    if (tc)
        tcache_flush_all(tc);
    return 0;
}

HANDLER(h_thread_tcache_enabled)
{
    UNUSED_MIB;
    bool old = tcache_thread_enabled();
    if (newp) {
        if (newlen != sizeof(bool))
            return EINVAL;
        tcache_thread_set_enabled(*(const bool *)newp);
    }
    return ctl_read(oldp, oldlenp, &old, sizeof(old));
}

HANDLER(h_thread_allocated) { UNUSED_MIB; RO(uint64_t, hm_tsd.allocated); }
HANDLER(h_thread_deallocated) { UNUSED_MIB; RO(uint64_t, hm_tsd.deallocated); }
HANDLER(h_thread_allocatedp) { UNUSED_MIB; RO(uint64_t *, &hm_tsd.allocated); }
HANDLER(h_thread_deallocatedp) { UNUSED_MIB; RO(uint64_t *, &hm_tsd.deallocated); }

static const ctl_node_t thread_tcache_children[] = {
    {"flush", NULL, 0, NULL, NULL, h_thread_tcache_flush},
    {"enabled", NULL, 0, NULL, NULL, h_thread_tcache_enabled},
};
static const ctl_node_t thread_children[] = {
    {"arena", NULL, 0, NULL, NULL, h_thread_arena},
    {"tcache", thread_tcache_children, 2, NULL, NULL, NULL},
    {"allocated", NULL, 0, NULL, NULL, h_thread_allocated},
    {"allocatedp", NULL, 0, NULL, NULL, h_thread_allocatedp},
    {"deallocated", NULL, 0, NULL, NULL, h_thread_deallocated},
    {"deallocatedp", NULL, 0, NULL, NULL, h_thread_deallocatedp},
};

/* ---- tcache.* (explicit caches) ----------------------------------------------------------- */

HANDLER(h_tcache_create)
{
    UNUSED_MIB;
    if (newp || newlen)
        return EPERM;
    unsigned id;
    if (!tcache_explicit_create(&id))
        return EFAULT;
    return ctl_read(oldp, oldlenp, &id, sizeof(id));
}

static int tcache_id_op(void *oldp, size_t *oldlenp, void *newp, size_t newlen, bool destroy)
{
    if (oldp || oldlenp)
        return EPERM;
    if (!newp || newlen != sizeof(unsigned))
        return EINVAL;
    unsigned id = *(const unsigned *)newp;
    tcache_t *tc = tcache_explicit_get(id);
    if (!tc)
        return EFAULT;
    if (destroy)
        return tcache_explicit_destroy(id) ? 0 : EFAULT;
    tcache_flush_all(tc);
    return 0;
}

HANDLER(h_tcache_flush) { UNUSED_MIB; return tcache_id_op(oldp, oldlenp, newp, newlen, false); }
HANDLER(h_tcache_destroy) { UNUSED_MIB; return tcache_id_op(oldp, oldlenp, newp, newlen, true); }

static const ctl_node_t tcache_children[] = {
    {"create", NULL, 0, NULL, NULL, h_tcache_create},
    {"flush", NULL, 0, NULL, NULL, h_tcache_flush},
    {"destroy", NULL, 0, NULL, NULL, h_tcache_destroy},
};

/* ---- arena.<i>.* -------------------------------------------------------------------------- */

static void arena_each(size_t ind, void (*fn)(arena_t *))
{
    unsigned n = __atomic_load_n(&narenas_total, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
        if (ind != ARENAS_ALL && ind != i)
            continue;
        arena_t *a = __atomic_load_n(&arenas[i], __ATOMIC_ACQUIRE);
        if (a)
            fn(a);
    }
}

static void arena_purge_all(arena_t *a)
{
    hm_mutex_lock(&a->lock);
    arena_purge(a, true);
    hm_mutex_unlock(&a->lock);
}

static void arena_decay_now(arena_t *a)
{
    hm_mutex_lock(&a->lock);
    arena_decay(a, arena_clock_now());
    hm_mutex_unlock(&a->lock);
}

/* Huge blocks belong to no arena: purging or decaying any arena also handles their cache. */
static void huge_purge_for(size_t ind, bool all)
{
    (void)ind;
    uint64_t now = arena_clock_now();
    if (all)
        huge_decay(UINT64_MAX);
    else if (opt_dirty_decay_ms >= 0 && now >= (uint64_t)opt_dirty_decay_ms)
        huge_decay(now - (uint64_t)opt_dirty_decay_ms);
}

HANDLER(h_arena_purge)
{
    NEITHER();
    arena_each(arena_index_resolve(mib[1]), arena_purge_all);
    huge_purge_for(mib[1], true);
    return 0;
}

HANDLER(h_arena_decay)
{
    NEITHER();
    arena_each(arena_index_resolve(mib[1]), arena_decay_now);
    huge_purge_for(mib[1], false);
    return 0;
}

HANDLER(h_arena_dss)
{
    UNUSED_MIB;
    if (newp) {
        if (newlen != sizeof(const char *))
            return EINVAL;
        const char *v = *(const char *const *)newp;
        if (!v || strcmp(v, "disabled") != 0)
            return EFAULT; /* hmalloc never uses sbrk */
    }
    const char *d = "disabled";
    return ctl_read(oldp, oldlenp, &d, sizeof(d));
}

static const ctl_node_t arena_i[] = {
    {"purge", NULL, 0, NULL, NULL, h_arena_purge},
    {"decay", NULL, 0, NULL, NULL, h_arena_decay},
    {"dss", NULL, 0, NULL, NULL, h_arena_dss},
};
static const ctl_node_t arena_idx = {NULL, arena_i, 3, NULL, arena_index_ok, NULL};

/* ---- opt.* and config.* ------------------------------------------------------------------- */

HANDLER(h_opt_narenas) { UNUSED_MIB; RO(unsigned, narenas_auto); }
HANDLER(h_opt_tcache) { UNUSED_MIB; RO(bool, opt_tcache); }
HANDLER(h_opt_tcache_max) { UNUSED_MIB; RO(size_t, opt_tcache_max); }
HANDLER(h_opt_dirty_decay_ms) { UNUSED_MIB; RO(ssize_t, (ssize_t)opt_dirty_decay_ms); }
HANDLER(h_opt_junk) { UNUSED_MIB; RO(const char *, conf_junk_name()); }
HANDLER(h_opt_zero) { UNUSED_MIB; RO(bool, opt_zero); }
HANDLER(h_opt_abort_conf) { UNUSED_MIB; RO(bool, opt_abort_conf); }
HANDLER(h_opt_stats_print) { UNUSED_MIB; RO(bool, opt_stats_print); }
HANDLER(h_opt_background_thread) { UNUSED_MIB; RO(bool, opt_background_thread); }
HANDLER(h_opt_check_sized) { UNUSED_MIB; RO(bool, opt_check_sized); }
HANDLER(h_opt_percpu_arena) { UNUSED_MIB; RO(const char *, opt_percpu_arena); }
HANDLER(h_opt_hardened) { UNUSED_MIB; RO(bool, opt_hardened); }
HANDLER(h_opt_purge) { UNUSED_MIB; RO(const char *, conf_purge_name()); }
HANDLER(h_opt_retain) { UNUSED_MIB; RO(bool, opt_retain); }

static const ctl_node_t opt_children[] = {
    {"narenas", NULL, 0, NULL, NULL, h_opt_narenas},
    {"tcache", NULL, 0, NULL, NULL, h_opt_tcache},
    {"tcache_max", NULL, 0, NULL, NULL, h_opt_tcache_max},
    {"dirty_decay_ms", NULL, 0, NULL, NULL, h_opt_dirty_decay_ms},
    {"junk", NULL, 0, NULL, NULL, h_opt_junk},
    {"zero", NULL, 0, NULL, NULL, h_opt_zero},
    {"abort_conf", NULL, 0, NULL, NULL, h_opt_abort_conf},
    {"stats_print", NULL, 0, NULL, NULL, h_opt_stats_print},
    {"background_thread", NULL, 0, NULL, NULL, h_opt_background_thread},
    {"check_sized", NULL, 0, NULL, NULL, h_opt_check_sized},
    {"percpu_arena", NULL, 0, NULL, NULL, h_opt_percpu_arena},
    {"hardened", NULL, 0, NULL, NULL, h_opt_hardened},
    {"purge", NULL, 0, NULL, NULL, h_opt_purge},
    {"retain", NULL, 0, NULL, NULL, h_opt_retain},
};

HANDLER(h_config_debug) { UNUSED_MIB; RO(bool, config_debug); }
HANDLER(h_config_stats) { UNUSED_MIB; RO(bool, true); }
HANDLER(h_config_fill) { UNUSED_MIB; RO(bool, true); }
HANDLER(h_config_prefix) { UNUSED_MIB; RO(const char *, HM_PREFIX_STR); }
HANDLER(h_config_test_hooks) { UNUSED_MIB; RO(bool, config_test_hooks); }
HANDLER(h_config_malloc_conf) { UNUSED_MIB; RO(const char *, ""); }

static const ctl_node_t config_children[] = {
    {"debug", NULL, 0, NULL, NULL, h_config_debug},
    {"stats", NULL, 0, NULL, NULL, h_config_stats},
    {"fill", NULL, 0, NULL, NULL, h_config_fill},
    {"prefix", NULL, 0, NULL, NULL, h_config_prefix},
    {"test_hooks", NULL, 0, NULL, NULL, h_config_test_hooks},
    {"malloc_conf", NULL, 0, NULL, NULL, h_config_malloc_conf},
};

/* ---- stats.* ------------------------------------------------------------------------------ */

static stats_totals_t ctl_totals(void)
{
    ctl_snapshot_begin();
    stats_totals_t t = snap_totals;
    hm_mutex_unlock(&ctl_lock);
    return t;
}

HANDLER(h_stats_allocated) { UNUSED_MIB; RO(size_t, ctl_totals().allocated); }
HANDLER(h_stats_active) { UNUSED_MIB; RO(size_t, ctl_totals().active); }
HANDLER(h_stats_resident) { UNUSED_MIB; RO(size_t, ctl_totals().resident); }
HANDLER(h_stats_mapped) { UNUSED_MIB; RO(size_t, ctl_totals().mapped); }
HANDLER(h_stats_metadata) { UNUSED_MIB; RO(size_t, ctl_totals().metadata); }
HANDLER(h_stats_retained) { UNUSED_MIB; RO(size_t, ctl_totals().retained); }

/* Snapshot statistics of arena mib[2], or of all arenas merged for MALLCTL_ARENAS_ALL. */
static arena_stats_t ctl_arena_stats(size_t ind)
{
    arena_stats_t s;
    memset(&s, 0, sizeof(s));
    ctl_snapshot_begin();
    for (unsigned i = 0; i < MAX_ARENAS; i++)
        if (snap_arenas[i] && (ind == ARENAS_ALL || ind == i))
            stats_arena_merge(&s, snap_arenas[i]);
    hm_mutex_unlock(&ctl_lock);
    return s;
}

#define ARENA_STAT(fn, type, field)                                                        \
    HANDLER(fn) { RO(type, ctl_arena_stats(arena_index_resolve(mib[2])).field); }
ARENA_STAT(h_sa_nthreads, unsigned, nthreads)
ARENA_STAT(h_sa_pactive, size_t, pactive)
ARENA_STAT(h_sa_pdirty, size_t, pdirty)
ARENA_STAT(h_sa_pmuzzy, size_t, pmuzzy)
ARENA_STAT(h_sa_npurge, uint64_t, npurge_calls)
ARENA_STAT(h_sa_purged, uint64_t, npurged_pages)
ARENA_STAT(h_sa_small_allocated, size_t, small_allocated)
ARENA_STAT(h_sa_small_nmalloc, uint64_t, small_nmalloc)
ARENA_STAT(h_sa_small_ndalloc, uint64_t, small_ndalloc)
ARENA_STAT(h_sa_large_allocated, size_t, large_allocated)
ARENA_STAT(h_sa_large_nmalloc, uint64_t, large_nmalloc)
ARENA_STAT(h_sa_large_ndalloc, uint64_t, large_ndalloc)
#define BIN_STAT(fn, type, field)                                                          \
    HANDLER(fn) { RO(type, ctl_arena_stats(arena_index_resolve(mib[2])).bins[mib[4]].field); }
BIN_STAT(h_sab_nmalloc, uint64_t, nmalloc)
BIN_STAT(h_sab_ndalloc, uint64_t, ndalloc)
BIN_STAT(h_sab_curregs, size_t, curregs)
BIN_STAT(h_sab_curslabs, size_t, curslabs)
BIN_STAT(h_sab_nfills, uint64_t, nfills)
BIN_STAT(h_sab_nflushes, uint64_t, nflushes)
BIN_STAT(h_sab_nslabs, uint64_t, nslabs_created)

static const ctl_node_t sa_small[] = {
    {"allocated", NULL, 0, NULL, NULL, h_sa_small_allocated},
    {"nmalloc", NULL, 0, NULL, NULL, h_sa_small_nmalloc},
    {"ndalloc", NULL, 0, NULL, NULL, h_sa_small_ndalloc},
};
static const ctl_node_t sa_large[] = {
    {"allocated", NULL, 0, NULL, NULL, h_sa_large_allocated},
    {"nmalloc", NULL, 0, NULL, NULL, h_sa_large_nmalloc},
    {"ndalloc", NULL, 0, NULL, NULL, h_sa_large_ndalloc},
};
static const ctl_node_t sa_bin_j[] = {
    {"nmalloc", NULL, 0, NULL, NULL, h_sab_nmalloc},
    {"ndalloc", NULL, 0, NULL, NULL, h_sab_ndalloc},
    {"curregs", NULL, 0, NULL, NULL, h_sab_curregs},
    {"curslabs", NULL, 0, NULL, NULL, h_sab_curslabs},
    {"nfills", NULL, 0, NULL, NULL, h_sab_nfills},
    {"nflushes", NULL, 0, NULL, NULL, h_sab_nflushes},
    {"nslabs", NULL, 0, NULL, NULL, h_sab_nslabs},
};
static const ctl_node_t sa_bin_idx = {NULL, sa_bin_j, 7, NULL, bin_index_ok, NULL};
static const ctl_node_t sa_i[] = {
    {"nthreads", NULL, 0, NULL, NULL, h_sa_nthreads},
    {"pactive", NULL, 0, NULL, NULL, h_sa_pactive},
    {"pdirty", NULL, 0, NULL, NULL, h_sa_pdirty},
    {"pmuzzy", NULL, 0, NULL, NULL, h_sa_pmuzzy},
    {"npurge", NULL, 0, NULL, NULL, h_sa_npurge},
    {"purged", NULL, 0, NULL, NULL, h_sa_purged},
    {"small", sa_small, 3, NULL, NULL, NULL},
    {"large", sa_large, 3, NULL, NULL, NULL},
    {"bins", NULL, 0, &sa_bin_idx, NULL, NULL},
};
static const ctl_node_t sa_idx = {NULL, sa_i, 9, NULL, arena_index_ok, NULL};
static const ctl_node_t stats_children[] = {
    {"allocated", NULL, 0, NULL, NULL, h_stats_allocated},
    {"active", NULL, 0, NULL, NULL, h_stats_active},
    {"resident", NULL, 0, NULL, NULL, h_stats_resident},
    {"mapped", NULL, 0, NULL, NULL, h_stats_mapped},
    {"retained", NULL, 0, NULL, NULL, h_stats_retained},
    {"metadata", NULL, 0, NULL, NULL, h_stats_metadata},
    {"arenas", NULL, 0, &sa_idx, NULL, NULL},
};

/* ---- background_thread ------------------------------------------------------------------- */

HANDLER(h_background_thread)
{
    UNUSED_MIB;
    bool old = opt_background_thread;
    if (newp) {
        if (newlen != sizeof(bool))
            return EINVAL;
        opt_background_thread = *(const bool *)newp;
        if (!opt_background_thread)
            background_stop(); /* slow paths purge from now on */
    }
    return ctl_read(oldp, oldlenp, &old, sizeof(old));
}

/* ---- root --------------------------------------------------------------------------------- */

#define NODES(a) a, sizeof(a) / sizeof(a[0])
static const ctl_node_t root_children[] = {
    {"version", NULL, 0, NULL, NULL, h_version},
    {"epoch", NULL, 0, NULL, NULL, h_epoch},
    {"arenas", NODES(arenas_children), NULL, NULL, NULL},
    {"thread", NODES(thread_children), NULL, NULL, NULL},
    {"tcache", NODES(tcache_children), NULL, NULL, NULL},
    {"arena", NULL, 0, &arena_idx, NULL, NULL},
    {"opt", NODES(opt_children), NULL, NULL, NULL},
    {"config", NODES(config_children), NULL, NULL, NULL},
    {"stats", NODES(stats_children), NULL, NULL, NULL},
    {"background_thread", NULL, 0, NULL, NULL, h_background_thread},
};
static const ctl_node_t ctl_root = {"", NODES(root_children), NULL, NULL, NULL};

/* Parse a decimal component; false if it is not one. */
static bool parse_index(const char *s, size_t len, size_t *out)
{
    if (len == 0 || len > 10)
        return false;
    size_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

int ctl_nametomib(const char *name, size_t *mibp, size_t *miblenp)
{
    if (!name || !mibp || !miblenp)
        return EINVAL;
    const ctl_node_t *node = &ctl_root;
    size_t depth = 0;
    const char *s = name;
    if (!*s)
        return ENOENT;
    for (;;) {
        if (depth == *miblenp)
            break; /* a MIB prefix was asked for */
        const char *dot = strchr(s, '.');
        size_t len = dot ? (size_t)(dot - s) : strlen(s);
        if (len == 0)
            return ENOENT; /* empty component: "a..b", ".a", "a." */
        if (node->indexed) {
            size_t i;
            if (!parse_index(s, len, &i) || !node->indexed->index_ok(i))
                return ENOENT;
            mibp[depth++] = i;
            node = node->indexed;
        } else {
            size_t k = 0;
            while (k < node->nchildren &&
                   !(strlen(node->children[k].name) == len && !memcmp(node->children[k].name, s, len)))
                k++;
            if (k == node->nchildren)
                return ENOENT;
            mibp[depth++] = k;
            node = &node->children[k];
        }
        if (!dot)
            break;
        if (node->handler)
            return ENOENT; /* components past a leaf */
        s = dot + 1;
    }
    *miblenp = depth;
    return 0;
}

int ctl_bymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp,
              size_t newlen)
{
    if (!mib || miblen == 0 || miblen > CTL_MAX_DEPTH)
        return ENOENT;
    const ctl_node_t *node = &ctl_root;
    for (size_t d = 0; d < miblen; d++) {
        if (node->handler)
            return ENOENT;
        if (node->indexed) {
            if (!node->indexed->index_ok(mib[d]))
                return ENOENT;
            node = node->indexed;
        } else {
            if (mib[d] >= node->nchildren)
                return ENOENT;
            node = &node->children[mib[d]];
        }
    }
    if (!node->handler)
        return ENOENT;
    return node->handler(mib, oldp, oldlenp, newp, newlen);
}

int ctl_byname(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
{
    size_t mib[CTL_MAX_DEPTH], miblen = CTL_MAX_DEPTH;
    int err = ctl_nametomib(name, mib, &miblen);
    if (err)
        return err;
    return ctl_bymib(mib, miblen, oldp, oldlenp, newp, newlen);
}

void ctl_prefork(void) { hm_mutex_lock(&ctl_lock); }
void ctl_postfork_parent(void) { hm_mutex_unlock(&ctl_lock); }
void ctl_postfork_child(void) { hm_mutex_init(&ctl_lock); }
