/* rtree.c: the chunk map (see rtree.h). */
#include "rtree.h"
#include "base.h"
#include "lock.h"

uintptr_t *rtree_root[(size_t)1 << RTREE_LG_ROOT];
uint64_t rtree_chunk_bits[(size_t)1 << (RTREE_LG_VA - LG_CHUNK - 6)];
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

bool rtree_set_range(const void *addr, size_t size, uintptr_t value)
{
    uintptr_t first = (uintptr_t)addr & ~CHUNK_MASK;
    uintptr_t last = ((uintptr_t)addr + size - 1) & ~CHUNK_MASK;
    if (last >> RTREE_LG_VA)
        return false;
    /* Create every leaf first so that a failure leaves the map unchanged. */
    for (uintptr_t a = first; a <= last; a += CHUNK)
        if (!rtree_leaf(a, true))
            return false;
    bool arena_chunk = value && !(value & (RTREE_HUGE | RTREE_FREED));
    for (uintptr_t a = first; a <= last; a += CHUNK) {
        uintptr_t *leaf = rtree_leaf(a, false), g = a >> LG_CHUNK;
        uint64_t bit = (uint64_t)1 << (g & 63);
        if (!arena_chunk)
            __atomic_fetch_and(&rtree_chunk_bits[g >> 6], ~bit, __ATOMIC_RELEASE);
        __atomic_store_n(&leaf[g & (((uintptr_t)1 << RTREE_LG_LEAF) - 1)], value,
                         __ATOMIC_RELEASE);
        if (arena_chunk)
            __atomic_fetch_or(&rtree_chunk_bits[g >> 6], bit, __ATOMIC_RELEASE);
    }
    return true;
}

void rtree_prefork(void) { hm_mutex_lock(&rtree_lock); }
void rtree_postfork_parent(void) { hm_mutex_unlock(&rtree_lock); }
void rtree_postfork_child(void) { hm_mutex_init(&rtree_lock); }
