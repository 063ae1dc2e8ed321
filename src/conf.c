/* conf.c: option parsing (see conf.h).  Runs before any allocation is possible, so it uses no
 * allocation and no stdio. */
#include "conf.h"

#include <stdlib.h>
#include <string.h>

unsigned opt_narenas = 0;
bool opt_tcache = true;
bool opt_stats_print = false;
bool opt_abort_conf = false;
size_t opt_dirty_min_pages = 1024;

/* The application may define this string (as with jemalloc); weak so it may be absent. */
extern const char *HM_NAME(malloc_conf) __attribute__((weak));

typedef enum { OPT_BOOL, OPT_UINT } opt_kind_t;
typedef struct {
    const char *name;
    opt_kind_t kind;
    void *var;
    uint64_t max;
} opt_desc_t;

static const opt_desc_t opt_table[] = {
    {"narenas", OPT_UINT, &opt_narenas, 4096},
    {"tcache", OPT_BOOL, &opt_tcache, 1},
    {"stats_print", OPT_BOOL, &opt_stats_print, 1},
    {"abort_conf", OPT_BOOL, &opt_abort_conf, 1},
};

static void conf_error(const char *what, const char *opt, size_t len, const char *source)
{
    char buf[256];
    size_t n = 0;
    const char *parts[] = {"hmalloc: ", what, " '", NULL, "' in ", source,
                           opt_abort_conf ? " (abort_conf)\n" : " (ignored)\n"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        const char *s = parts[i] ? parts[i] : opt;
        size_t l = parts[i] ? strlen(s) : len;
        if (l > sizeof(buf) - n)
            l = sizeof(buf) - n;
        memcpy(buf + n, s, l);
        n += l;
    }
    hm_write_stderr(buf, n);
    if (opt_abort_conf)
        abort();
}

static bool conf_value(const opt_desc_t *o, const char *v, size_t vlen)
{
    if (o->kind == OPT_BOOL) {
        if (vlen == 4 && !memcmp(v, "true", 4))
            *(bool *)o->var = true;
        else if (vlen == 5 && !memcmp(v, "false", 5))
            *(bool *)o->var = false;
        else
            return false;
        return true;
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
    *(unsigned *)o->var = (unsigned)x;
    return true;
}

void conf_parse(const char *s, const char *source)
{
    while (s && *s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        const char *colon = memchr(s, ':', len);
        if (len == 0) {
            /* empty item (",,"): nothing to do */
        } else if (!colon) {
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
}

void conf_boot(void)
{
    if (&HM_NAME(malloc_conf) != NULL)
        conf_parse(HM_NAME(malloc_conf), "malloc_conf");
    conf_parse(getenv("HMALLOC_CONF"), "HMALLOC_CONF");
}
