/* chunk.c: mapping, registering and unmapping arena chunks (see chunk.h). */
#include "chunk.h"
#include "os.h"
#include "rtree.h"
#include "valgrind.h"

chunk_t *chunk_create(struct arena *arena)
{
    chunk_t *c = os_map(CHUNK, CHUNK);
    if (!c)
        return NULL;
    if (!rtree_set_range(c, CHUNK, (uintptr_t)c)) {
        os_unmap(c, CHUNK);
        return NULL;
    }
    c->arena = arena;
    for (size_t i = 0; i < CHUNK_HDR_PAGES; i++)
        c->pagemap[i] = pm_make(PM_HEADER, 0, 0);
    /* Pages past the header read as PM_FREE (zero) already: fresh mappings are zero. */
    vg_not_a_root(c, CHUNK_HDR_PAGES << LG_PAGE);
    vg_mem_noaccess(chunk_page_addr(c, CHUNK_HDR_PAGES), CHUNK - (CHUNK_HDR_PAGES << LG_PAGE));
    return c;
}

void chunk_destroy(chunk_t *c)
{
    rtree_set_range(c, CHUNK, 0);
    vg_root_again(c, CHUNK_HDR_PAGES << LG_PAGE);
    os_unmap(c, CHUNK);
}
