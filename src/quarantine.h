/* quarantine.h: delayed reuse of small regions in hardened mode.  Each arena keeps the last
 * QUARANTINE_CAP small regions freed into it in a FIFO; a region becomes allocatable again only
 * when it falls out of the far end, so a use after free does not find its memory handed to
 * someone else at once.  A hash set beside the FIFO answers "is p quarantined?" in O(1): a
 * second free, a realloc or a malloc_usable_size of a quarantined block is named as a use of
 * a freed block even if the program wrote over it (the thread caches' tag could not tell).
 * Only used with opt_hardened (thread caches are off then, so every small free comes here). */
#ifndef HM_QUARANTINE_H
#define HM_QUARANTINE_H

#include "hmalloc_internal.h"

#define QUARANTINE_CAP 1024u

struct arena;
struct quarantine;

/* Quarantine p (a validated live small region of arena); returns the region that leaves the
 * quarantine to be freed for real (NULL while it fills up).  Aborts naming func if p is
 * quarantined already (a double free).  The arena's quarantine is created on first use; if
 * that fails, p itself is returned (freed without delay). */
void *quarantine_push(struct arena *arena, void *p, const char *func);
bool quarantine_contains(struct arena *arena, const void *p);
/* Release every quarantined region of arena (out of memory, or arena purge). */
void quarantine_drain(struct arena *arena);
void quarantine_prefork(struct arena *arena);
void quarantine_postfork_parent(struct arena *arena);
void quarantine_postfork_child(struct arena *arena);

#endif
