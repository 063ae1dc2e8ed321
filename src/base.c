/* base.c: bump allocator for metadata (see base.h). */
#include "base.h"
#include "lock.h"
#include "os.h"
#include "valgrind.h"

#define BASE_BLOCK ((size_t)256 << 10)

static hm_mutex_t base_lock = HM_MUTEX_INITIALIZER;
static char *base_cur, *base_end; /* the block being carved */
static size_t base_total;         /* bytes handed out + block tails lost */

void *base_alloc(size_t size)
{
    size = ALIGN_UP(size, 64);
    hm_mutex_lock(&base_lock);
    if ((size_t)(base_end - base_cur) < size) {
        size_t bsize = size > BASE_BLOCK ? ALIGN_UP(size, PAGE) : BASE_BLOCK;
        char *b = os_map(bsize, PAGE);
        if (!b) {
            hm_mutex_unlock(&base_lock);
            return NULL;
        }
        vg_not_a_root(b, bsize);
        base_total += (size_t)(base_end - base_cur);
        base_cur = b;
        base_end = b + bsize;
    }
    void *p = base_cur;
    base_cur += size;
    base_total += size;
    hm_mutex_unlock(&base_lock);
    return p; /* fresh mmap memory is zero and never reused */
}

size_t base_allocated_bytes(void)
{
    hm_mutex_lock(&base_lock);
    size_t n = base_total;
    hm_mutex_unlock(&base_lock);
    return n;
}

void base_prefork(void) { hm_mutex_lock(&base_lock); }
void base_postfork_parent(void) { hm_mutex_unlock(&base_lock); }
void base_postfork_child(void) { hm_mutex_init(&base_lock); }
