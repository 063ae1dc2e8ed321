/* huge.c: blocks that are mappings of their own (see huge.h). */
#include "huge.h"
#include "base.h"
#include "lock.h"
#include "os.h"
#include "rtree.h"

static hm_mutex_t huge_lock = HM_MUTEX_INITIALIZER; /* guards the descriptor free list */
static huge_t *huge_free_descs;
static size_t huge_allocated;            /* atomic: bytes */
static uint64_t huge_nmalloc, huge_ndalloc; /* atomic */

static huge_t *huge_desc_get(void)
{
    hm_mutex_lock(&huge_lock);
    huge_t *h = huge_free_descs;
    if (h)
        huge_free_descs = h->next_free;
    hm_mutex_unlock(&huge_lock);
    return h ? h : base_alloc(sizeof(huge_t));
}

static void huge_desc_put(huge_t *h)
{
    hm_mutex_lock(&huge_lock);
    h->next_free = huge_free_descs;
    huge_free_descs = h;
    hm_mutex_unlock(&huge_lock);
}

void *huge_alloc(size_t usize, size_t alignment)
{
    size_t maplen = ALIGN_UP(usize, PAGE);
    if (maplen < usize)
        return NULL;
    huge_t *h = huge_desc_get();
    if (!h)
        return NULL;
    void *p = os_map(maplen, alignment > CHUNK ? alignment : CHUNK);
    if (!p) {
        huge_desc_put(h);
        return NULL;
    }
    h->ptr = p;
    h->usize = usize;
    h->maplen = maplen;
    if (!rtree_set_range(p, maplen, (uintptr_t)h | RTREE_HUGE)) {
        os_unmap(p, maplen);
        huge_desc_put(h);
        return NULL;
    }
    __atomic_add_fetch(&huge_allocated, usize, __ATOMIC_RELAXED);
    __atomic_add_fetch(&huge_nmalloc, 1, __ATOMIC_RELAXED);
    return p;
}

void huge_dalloc(huge_t *h)
{
    rtree_set_range(h->ptr, h->maplen, 0);
    os_unmap(h->ptr, h->maplen);
    __atomic_sub_fetch(&huge_allocated, h->usize, __ATOMIC_RELAXED);
    __atomic_add_fetch(&huge_ndalloc, 1, __ATOMIC_RELAXED);
    huge_desc_put(h);
}

size_t huge_allocated_bytes(void) { return __atomic_load_n(&huge_allocated, __ATOMIC_RELAXED); }
void huge_counts(uint64_t *nmalloc, uint64_t *ndalloc)
{
    *nmalloc = __atomic_load_n(&huge_nmalloc, __ATOMIC_RELAXED);
    *ndalloc = __atomic_load_n(&huge_ndalloc, __ATOMIC_RELAXED);
}

void huge_prefork(void) { hm_mutex_lock(&huge_lock); }
void huge_postfork_parent(void) { hm_mutex_unlock(&huge_lock); }
void huge_postfork_child(void) { hm_mutex_init(&huge_lock); }
