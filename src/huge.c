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

bool huge_resize_in_place(huge_t *h, size_t new_usize)
{
    size_t new_maplen = ALIGN_UP(new_usize, PAGE);
    char *p = h->ptr;
    if (new_maplen > h->maplen) {
        if (!os_remap_in_place(p, h->maplen, new_maplen))
            return false;
        if (!rtree_set_range(p, new_maplen, (uintptr_t)h | RTREE_HUGE)) {
            os_remap_in_place(p, new_maplen, h->maplen);
            return false;
        }
    } else if (new_maplen < h->maplen) {
        /* Granules wholly past the new end are no longer this block's. */
        uintptr_t keep_end = ALIGN_UP((uintptr_t)p + new_maplen, CHUNK);
        uintptr_t old_end = (uintptr_t)p + h->maplen;
        os_remap_in_place(p, h->maplen, new_maplen);
        if (keep_end < old_end)
            rtree_set_range((void *)keep_end, old_end - keep_end, 0);
    }
    h->maplen = new_maplen;
    __atomic_add_fetch(&huge_allocated, new_usize - h->usize, __ATOMIC_RELAXED);
    h->usize = new_usize;
    return true;
}

void *huge_remap(huge_t *h, size_t new_usize)
{
    size_t new_maplen = ALIGN_UP(new_usize, PAGE);
    void *q = os_map(new_maplen, CHUNK);
    if (!q)
        return NULL;
    if (!rtree_set_range(q, new_maplen, (uintptr_t)h | RTREE_HUGE)) {
        os_unmap(q, new_maplen);
        return NULL;
    }
    if (!os_remap_to(h->ptr, h->maplen, q, new_maplen)) {
        rtree_set_range(q, new_maplen, 0);
        os_unmap(q, new_maplen);
        return NULL;
    }
    /* Both ranges start on a granule, so they share none: clearing the old one is safe. */
    rtree_set_range(h->ptr, h->maplen, 0);
    h->ptr = q;
    h->maplen = new_maplen;
    __atomic_add_fetch(&huge_allocated, new_usize - h->usize, __ATOMIC_RELAXED);
    h->usize = new_usize;
    return q;
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
