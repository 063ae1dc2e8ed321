/* chunk.c: mapping, registering, retaining and unmapping arena chunks (see chunk.h). */
#include "chunk.h"
#include "arena.h"
#include "base.h"
#include "conf.h"
#include "lock.h"
#include "os.h"
#include "rtree.h"
#include "valgrind.h"

#include <string.h>

/* Retained chunks: address ranges kept (purged) for reuse, newest first, so a program whose
 * heap shrinks and grows back gets the same addresses without mmap/munmap.  Their headers
 * cannot hold the list (that would keep a page of each resident), so small descriptors from
 * base memory do, recycled through a free list.  retained_lock guards both lists; it nests
 * inside an arena lock (chunk_create runs under it). */
typedef struct retained {
    chunk_t *chunk;
    struct retained *next;
} retained_t;

static hm_mutex_t retained_lock = HM_MUTEX_INITIALIZER;
static retained_t *retained_head, *retained_free;
static size_t retained_bytes; /* atomic for readers; written under retained_lock */

static chunk_t *retained_pop(void)
{
    if (!__atomic_load_n(&retained_head, __ATOMIC_RELAXED))
        return NULL;
    hm_mutex_lock(&retained_lock);
    retained_t *r = retained_head;
    chunk_t *c = NULL;
    if (r) {
        __atomic_store_n(&retained_head, r->next, __ATOMIC_RELAXED);
        c = r->chunk;
        r->next = retained_free;
        retained_free = r;
        __atomic_store_n(&retained_bytes, retained_bytes - CHUNK, __ATOMIC_RELAXED);
    }
    hm_mutex_unlock(&retained_lock);
    return c;
}

/* False when no descriptor could be had (the caller unmaps the chunk instead). */
static bool retained_push(chunk_t *c)
{
    hm_mutex_lock(&retained_lock);
    retained_t *r = retained_free;
    if (r)
        retained_free = r->next;
    hm_mutex_unlock(&retained_lock);
    if (!r && !(r = base_alloc(sizeof(*r))))
        return false;
    r->chunk = c;
    hm_mutex_lock(&retained_lock);
    r->next = retained_head;
    __atomic_store_n(&retained_head, r, __ATOMIC_RELAXED);
    __atomic_store_n(&retained_bytes, retained_bytes + CHUNK, __ATOMIC_RELAXED);
    hm_mutex_unlock(&retained_lock);
    return true;
}

/* Register c as arena's chunk and lay out its header.  A dirty range's page map holds old
 * bytes, which must read as zero (every page past the header PM_FREE); the run descriptors
 * need not (each field is set before it is read), and leaving them spares the faults of the
 * header's other pages, whose memory a huge block may never have touched (large_bench: 69
 * chunks adopted, 29 pages each).  The chunk map names the chunk's arena only once the
 * header is laid out: from then on the free fast path of that arena's threads reads the page
 * map. */
static bool chunk_register(chunk_t *c, struct arena *arena, bool dirty)
{
    if (dirty) {
        vg_mem_undefined(c->pagemap, sizeof(c->pagemap));
        memset(c->pagemap, 0, sizeof(c->pagemap));
    }
    c->arena = arena;
    for (size_t i = 0; i < CHUNK_HDR_PAGES; i++)
        c->pagemap[i] = pm_make(PM_HEADER, 0, 0);
    /* Pages past the header read as PM_FREE (zero) now: fresh mappings are zero, and so are
     * retained ones (purged with MADV_DONTNEED). */
    vg_not_a_root(c, CHUNK_HDR_PAGES << LG_PAGE);
    vg_mem_noaccess(chunk_page_addr(c, CHUNK_HDR_PAGES), CHUNK - (CHUNK_HDR_PAGES << LG_PAGE));
    return rtree_set_chunk(c, arena->ind);
}

chunk_t *chunk_create(struct arena *arena, bool *dirty)
{
    chunk_t *c = arena_steal_chunk(arena);
    *dirty = c != NULL;
    if (!c)
        c = retained_pop();
    if (!c && !(c = os_map(CHUNK, CHUNK)))
        return NULL;
    if (!chunk_register(c, arena, *dirty)) {
        os_unmap(c, CHUNK);
        return NULL;
    }
    return c;
}

chunk_t *chunk_adopt(void *addr, struct arena *arena)
{
    chunk_t *c = addr;
    if (!chunk_register(c, arena, true))
        return NULL;
    c->pagemap[0] = pm_make(PM_HEADER, 0, PM_HDR_WAS_HUGE); /* a free of its start: see api.c */
    return c;
}

void chunk_release(chunk_t *c)
{
    /* The map entry goes first: once unmapped, the range may be mapped and registered by
     * another thread at once. */
    rtree_set_range(c, CHUNK, 0);
    vg_root_again(c, CHUNK_HDR_PAGES << LG_PAGE);
    if (opt_retain && os_purge(c, CHUNK, false) == OS_PURGED_ZERO && retained_push(c))
        return;
    os_unmap(c, CHUNK);
}

void chunk_unmap_retained(void)
{
    for (;;) {
        chunk_t *c = retained_pop();
        if (!c)
            return;
        os_unmap(c, CHUNK);
    }
}

size_t chunk_retained_bytes(void) { return __atomic_load_n(&retained_bytes, __ATOMIC_RELAXED); }

void chunk_prefork(void) { hm_mutex_lock(&retained_lock); }
void chunk_postfork_parent(void) { hm_mutex_unlock(&retained_lock); }
void chunk_postfork_child(void) { hm_mutex_init(&retained_lock); }
