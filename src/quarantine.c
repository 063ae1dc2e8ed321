/* quarantine.c: hardened mode's delayed reuse (see quarantine.h). */
#include "quarantine.h"
#include "arena.h"
#include "base.h"

#define QSET_LG 11 /* 2048 slots: at most half full, so probes stay short */
#define QSET_SIZE (1u << QSET_LG)

typedef struct quarantine {
    hm_mutex_t lock;
    unsigned head, count; /* ring[head] is the oldest of count entries */
    void *ring[QUARANTINE_CAP];
    const void *set[QSET_SIZE]; /* open addressing, linear probing, NULL = empty */
} quarantine_t;

static unsigned qhash(const void *p)
{
    return (unsigned)((((uintptr_t)p >> 3) * 0x9e3779b97f4a7c15ULL) >> (64 - QSET_LG));
}

static unsigned qset_find(const quarantine_t *q, const void *p)
{
    unsigned i = qhash(p);
    while (q->set[i] && q->set[i] != p)
        i = (i + 1) & (QSET_SIZE - 1);
    return i;
}

/* Remove p (present) and shift later members of its probe run back over the hole, so lookups
 * never need tombstones. */
static void qset_remove(quarantine_t *q, const void *p)
{
    unsigned hole = qset_find(q, p);
    q->set[hole] = NULL;
    for (unsigned i = (hole + 1) & (QSET_SIZE - 1); q->set[i]; i = (i + 1) & (QSET_SIZE - 1)) {
        unsigned home = qhash(q->set[i]);
        /* Move the entry unless its home lies cyclically in (hole, i]. */
        if (((i - home) & (QSET_SIZE - 1)) >= ((i - hole) & (QSET_SIZE - 1))) {
            q->set[hole] = q->set[i];
            q->set[i] = NULL;
            hole = i;
        }
    }
}

static quarantine_t *quarantine_get(arena_t *arena, bool create)
{
    quarantine_t *q = __atomic_load_n(&arena->quarantine, __ATOMIC_ACQUIRE);
    if (q || !create)
        return q;
    hm_mutex_lock(&arena->lock);
    q = arena->quarantine;
    if (!q) {
        q = base_alloc(sizeof(*q));
        if (q) {
            hm_mutex_init(&q->lock);
            __atomic_store_n(&arena->quarantine, q, __ATOMIC_RELEASE);
        }
    }
    hm_mutex_unlock(&arena->lock);
    return q;
}

void *quarantine_push(arena_t *arena, void *p, const char *func)
{
    quarantine_t *q = quarantine_get(arena, true);
    if (!q)
        return p;
    void *out = NULL;
    hm_mutex_lock(&q->lock);
    unsigned slot = qset_find(q, p);
    if (unlikely(q->set[slot] != NULL)) {
        hm_mutex_unlock(&q->lock);
        hm_fatal(func, "double free", p);
    }
    if (q->count == QUARANTINE_CAP) {
        out = q->ring[q->head];
        qset_remove(q, out);
        q->ring[q->head] = p;
        q->head = (q->head + 1) % QUARANTINE_CAP;
        slot = qset_find(q, p); /* the removal may have moved p's free slot */
    } else {
        q->ring[(q->head + q->count++) % QUARANTINE_CAP] = p;
    }
    q->set[slot] = p;
    hm_mutex_unlock(&q->lock);
    return out;
}

bool quarantine_contains(arena_t *arena, const void *p)
{
    quarantine_t *q = quarantine_get(arena, false);
    if (!q)
        return false;
    hm_mutex_lock(&q->lock);
    bool in = q->set[qset_find(q, p)] != NULL;
    hm_mutex_unlock(&q->lock);
    return in;
}

void quarantine_drain(arena_t *arena)
{
    quarantine_t *q = quarantine_get(arena, false);
    if (!q)
        return;
    for (;;) {
        hm_mutex_lock(&q->lock);
        void *p = NULL;
        if (q->count) {
            p = q->ring[q->head];
            qset_remove(q, p);
            q->head = (q->head + 1) % QUARANTINE_CAP;
            q->count--;
        }
        hm_mutex_unlock(&q->lock);
        if (!p)
            return;
        arena_dalloc_small_now(p, "free");
    }
}

void quarantine_prefork(arena_t *arena)
{
    quarantine_t *q = quarantine_get(arena, false);
    if (q)
        hm_mutex_lock(&q->lock);
}

void quarantine_postfork_parent(arena_t *arena)
{
    quarantine_t *q = quarantine_get(arena, false);
    if (q)
        hm_mutex_unlock(&q->lock);
}

void quarantine_postfork_child(arena_t *arena)
{
    quarantine_t *q = quarantine_get(arena, false);
    if (q)
        hm_mutex_init(&q->lock);
}
