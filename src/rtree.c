/* rtree.c: the chunk map (see rtree.h). */
#include "rtree.h"
#include "arena.h"
#include "base.h"
#include "lock.h"

uintptr_t *rtree_root[(size_t)1 << RTREE_LG_ROOT];
uint16_t rtree_chunk_keys[(size_t)1 << (RTREE_LG_VA - LG_CHUNK)];
_Static_assert(MAX_ARENAS < UINT16_MAX, "an arena key (index + 1) fits 16 bits");
static hm_mutex_t rtree_lock = HM_MUTEX_INITIALIZER;

static uintptr_t *rtree_leaf(uintptr_t a, bool create)
{
    uintptr_t **slot = &rtree_root[a >> (LG_CHUNK + RTREE_LG_LEAF)];
    uintptr_t *leaf = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (leaf || !create)
        return leaf;
    hm_mutex_lock(&rtree_lock);
    leaf = *slot;
    if (!leaf) {
        leaf = base_alloc(sizeof(uintptr_t) << RTREE_LG_LEAF);
        if (leaf)
            __atomic_store_n(slot, leaf, __ATOMIC_RELEASE);
    }
    hm_mutex_unlock(&rtree_lock);
    return leaf;
}

static bool set_range(const void *addr, size_t size, uintptr_t value, uint16_t key)
{
    uintptr_t first = (uintptr_t)addr & ~CHUNK_MASK;
    uintptr_t last = ((uintptr_t)addr + size - 1) & ~CHUNK_MASK;
    if (last >> RTREE_LG_VA)
        return false;
    /* Create every leaf first so that a failure leaves the map unchanged. */
    for (uintptr_t a = first; a <= last; a += CHUNK)
        if (!rtree_leaf(a, true))
            return false;
    for (uintptr_t a = first; a <= last; a += CHUNK) {
        uintptr_t *leaf = rtree_leaf(a, false), g = a >> LG_CHUNK;
        if (!key)
            __atomic_store_n(&rtree_chunk_keys[g], 0, __ATOMIC_RELEASE);
        __atomic_store_n(&leaf[g & (((uintptr_t)1 << RTREE_LG_LEAF) - 1)], value,
                         __ATOMIC_RELEASE);
        if (key)
            __atomic_store_n(&rtree_chunk_keys[g], key, __ATOMIC_RELEASE);
    }
    return true;
}

bool rtree_set_range(const void *addr, size_t size, uintptr_t value)
{
    return set_range(addr, size, value, 0);
}

bool rtree_set_chunk(const void *c, unsigned arena_ind)
{
    return set_range(c, CHUNK, (uintptr_t)c, (uint16_t)(arena_ind + 1));
}

void rtree_prefork(void) { hm_mutex_lock(&rtree_lock); }
void rtree_postfork_parent(void) { hm_mutex_unlock(&rtree_lock); }
void rtree_postfork_child(void) { hm_mutex_init(&rtree_lock); }
