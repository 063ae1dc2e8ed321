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
extern size_t opt_dirty_min_pages;  /* dirty pages an arena may always keep */

/* Parse one configuration string; source names it in messages. */
void conf_parse(const char *s, const char *source);
void conf_boot(void);

#endif
