/* conf.h: run-time options, read once at initialisation from the application's malloc_conf
 * string and then the HMALLOC_CONF environment variable (later settings win), in jemalloc's
 * "key:value,key:value" syntax.  An unknown or malformed option prints one line naming it and
 * is ignored, or aborts with abort_conf:true.  Options never change after initialisation. */
#ifndef HM_CONF_H
#define HM_CONF_H

#include "hmalloc_internal.h"

extern unsigned opt_narenas;        /* 0: four per CPU */
extern bool opt_tcache;             /* per-thread caches */
extern bool opt_stats_print;        /* print statistics at exit */
extern bool opt_abort_conf;         /* abort on a bad option */
extern size_t opt_tcache_max;       /* largest size class kept in thread caches */
extern int64_t opt_dirty_decay_ms;  /* -1: never purge by age */
#define JUNK_ALLOC 1u
#define JUNK_FREE 2u
extern unsigned opt_junk;           /* JUNK_ALLOC | JUNK_FREE bits */
extern bool opt_zero;               /* zero every new block */
extern bool opt_background_thread;  /* purge from a background thread */
extern bool opt_check_sized;        /* verify sizes given to sized frees */
extern const char *opt_percpu_arena;
extern bool opt_hardened;           /* no caches, quarantine, random regions, huge guards */
#define PURGE_DONTNEED 0u
#define PURGE_FREE 1u
extern unsigned opt_purge;          /* how dirty pages are purged: PURGE_DONTNEED or PURGE_FREE */
extern bool opt_retain;             /* keep the address range of empty chunks for reuse */

/* The value of opt.junk as jemalloc spells it. */
const char *conf_junk_name(void);
/* The value of opt.purge: "dontneed" or "free". */
const char *conf_purge_name(void);

/* Parse one configuration string; source names it in messages. */
void conf_parse(const char *s, const char *source);
void conf_boot(void);

#endif
