/* ctl.h: the mallctl name tree (jemalloc's names where the concept exists).  A name is
 * components separated by dots; a numeric component (an arena, a bin, a class) occupies its own
 * MIB slot, so a MIB taken once can be reused with that slot replaced. */
#ifndef HM_CTL_H
#define HM_CTL_H

#include "hmalloc_internal.h"

int ctl_nametomib(const char *name, size_t *mibp, size_t *miblenp);
int ctl_bymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp,
              size_t newlen);
int ctl_byname(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

void ctl_prefork(void);
void ctl_postfork_parent(void);
void ctl_postfork_child(void);

#endif
