/* conf.c: option parsing (see conf.h).  Runs before any allocation is possible, so it uses no
 * allocation and no stdio. */
#include "conf.h"

#include <stdlib.h>
#include <string.h>

unsigned opt_narenas = 0;
bool opt_tcache = true;
bool opt_stats_print = false;
bool opt_abort_conf = false;
size_t opt_tcache_max = 14336; /* SMALL_MAXCLASS */
int64_t opt_dirty_decay_ms = 10000;
unsigned opt_junk = 0;
bool opt_zero = false;
bool opt_background_thread = true;
bool opt_check_sized = HM_CONFIG_DEBUG;
const char *opt_percpu_arena = "disabled";
#ifndef HM_CONFIG_HARDENED
#define HM_CONFIG_HARDENED 0
#endif
bool opt_hardened = HM_CONFIG_HARDENED;
unsigned opt_purge = PURGE_DONTNEED;
bool opt_retain = false;

const char *conf_junk_name(void)
{
    static const char *names[] = {"false", "alloc", "free", "true"};
    return names[opt_junk & 3];
}

static const char *const purge_names[] = {"dontneed", "free"};
const char *conf_purge_name(void) { return purge_names[opt_purge & 1]; }

/* The application may define this string (as with jemalloc); weak so it may be absent. */
extern const char *HM_NAME(malloc_conf) __attribute__((weak));

typedef enum { OPT_BOOL, OPT_UINT, OPT_SIZE, OPT_MS, OPT_JUNK, OPT_PERCPU, OPT_PURGE } opt_kind_t;
typedef struct {
    const char *name;
    opt_kind_t kind;
    void *var;
    uint64_t max;
} opt_desc_t;

static const opt_desc_t opt_table[] = {
    {"narenas", OPT_UINT, &opt_narenas, 4096},
    {"tcache", OPT_BOOL, &opt_tcache, 1},
    {"tcache_max", OPT_SIZE, &opt_tcache_max, (uint64_t)1 << 40},
    {"dirty_decay_ms", OPT_MS, &opt_dirty_decay_ms, (uint64_t)1 << 40},
    {"junk", OPT_JUNK, &opt_junk, 0},
    {"zero", OPT_BOOL, &opt_zero, 1},
    {"stats_print", OPT_BOOL, &opt_stats_print, 1},
    {"abort_conf", OPT_BOOL, &opt_abort_conf, 1},
    {"background_thread", OPT_BOOL, &opt_background_thread, 1},
    {"check_sized", OPT_BOOL, &opt_check_sized, 1},
    {"percpu_arena", OPT_PERCPU, &opt_percpu_arena, 0},
    {"hardened", OPT_BOOL, &opt_hardened, 1},
    {"purge", OPT_PURGE, &opt_purge, 0},
    {"retain", OPT_BOOL, &opt_retain, 1},
};

static bool conf_word(const char *v, size_t vlen, const char *word)
{
    return strlen(word) == vlen && !memcmp(v, word, vlen);
}

static bool conf_had_error; /* abort_conf applies to errors anywhere in the strings */

static void conf_error(const char *what, const char *opt, size_t len, const char *source)
{
    conf_had_error = true;
    char buf[256];
    size_t n = 0;
    const char *parts[] = {"hmalloc: ", what, " '", NULL, "' in ", source, " (ignored)\n"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        const char *s = parts[i] ? parts[i] : opt;
        size_t l = parts[i] ? strlen(s) : len;
        if (l > sizeof(buf) - n)
            l = sizeof(buf) - n;
        memcpy(buf + n, s, l);
        n += l;
    }
    hm_write_stderr(buf, n);
}

static bool conf_value(const opt_desc_t *o, const char *v, size_t vlen)
{
    switch (o->kind) {
    case OPT_BOOL:
        if (conf_word(v, vlen, "true"))
            *(bool *)o->var = true;
        else if (conf_word(v, vlen, "false"))
            *(bool *)o->var = false;
        else
            return false;
        return true;
    case OPT_JUNK: {
        static const char *names[] = {"false", "alloc", "free", "true"};
        for (unsigned i = 0; i < 4; i++)
            if (conf_word(v, vlen, names[i])) {
                *(unsigned *)o->var = i;
                return true;
            }
        return false;
    }
    case OPT_PURGE:
        for (unsigned i = 0; i < 2; i++)
            if (conf_word(v, vlen, purge_names[i])) {
                *(unsigned *)o->var = i;
                return true;
            }
        return false;
    case OPT_PERCPU:
        /* Threads go to the least-loaded arena; per-CPU arenas are not implemented. */
        return conf_word(v, vlen, "disabled");
    case OPT_MS:
        if (conf_word(v, vlen, "-1")) {
            *(int64_t *)o->var = -1;
            return true;
        }
        break;
    default:
        break;
    }
    uint64_t x = 0;
    if (vlen == 0 || vlen > 19)
        return false;
    for (size_t i = 0; i < vlen; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (x > o->max)
        return false;
    if (o->kind == OPT_UINT)
        *(unsigned *)o->var = (unsigned)x;
    else if (o->kind == OPT_SIZE)
        *(size_t *)o->var = (size_t)x;
    else
        *(int64_t *)o->var = (int64_t)x;
    return true;
}

void conf_parse(const char *s, const char *source)
{
    const char *whole = s;
    bool empty_item = false;
    while (s && *s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        const char *colon = memchr(s, ':', len);
        if (len == 0 || (end && !end[1])) {
            empty_item = true; /* ",," or a trailing comma: said once for the string below */
            if (len == 0) {
                s = end ? end + 1 : NULL;
                continue;
            }
        }
        if (!colon) {
            conf_error("malformed option", s, len, source);
        } else {
            size_t klen = (size_t)(colon - s);
            const opt_desc_t *o = NULL;
            for (size_t i = 0; i < sizeof(opt_table) / sizeof(opt_table[0]); i++)
                if (strlen(opt_table[i].name) == klen && !memcmp(opt_table[i].name, s, klen))
                    o = &opt_table[i];
            if (!o)
                conf_error("unknown option", s, len, source);
            else if (!conf_value(o, colon + 1, len - klen - 1))
                conf_error("invalid value for option", s, len, source);
        }
        s = end ? end + 1 : NULL;
    }
    if (empty_item)
        conf_error("empty item in options", whole, strlen(whole), source);
}

void conf_boot(void)
{
    if (&HM_NAME(malloc_conf) != NULL)
        conf_parse(HM_NAME(malloc_conf), "malloc_conf");
    conf_parse(getenv("HMALLOC_CONF"), "HMALLOC_CONF");
    if (opt_hardened)
        opt_tcache = false; /* every free reaches the slab bitmaps and the quarantine */
    if (conf_had_error && opt_abort_conf) {
        static const char msg[] = "hmalloc: aborting on the option errors above (abort_conf)\n";
        hm_write_stderr(msg, sizeof(msg) - 1);
        abort();
    }
}
