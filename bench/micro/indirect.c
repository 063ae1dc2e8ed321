/* indirect.c: what the way into the allocator costs.  The same loop, one allocation and one
 * deallocation per iteration, sizes 16..256 bytes in steps of 16, compiled against one of three
 * interfaces (tools/bench-micro builds each and links it several ways):
 *
 *   (default)     malloc(size), free(p): linked against libhmalloc.so, run with libhmalloc.so
 *                 preloaded, linked with the drop-in libhmalloc.a, or on glibc
 *   -DAPI_HM      hm_malloc(size), hm_free(p): linked with a namespaced build's libhmalloc.a
 *   -DAPI_RUST    rust_alloc(size, 8), rust_dealloc(p, size, 8) (hmalloc/rust_alloc.h): linked
 *                 with libhmalloc_rust_hmalloc.a or libhmalloc_rust_system.a
 *
 * Alignment 8 is what a Rust Box or Vec of 8-byte words asks for.  Blocks live in a ring of
 * RING slots, tagged at both ends; an iteration checks and frees the block allocated RING
 * iterations earlier and allocates one of another size in its place. */
#include "micro.h"

#if defined(API_HM)
void *hm_malloc(size_t size);
void hm_free(void *ptr);
#define API "hm_malloc"
#define ALLOC(size) hm_malloc(size)
#define DEALLOC(p, size) hm_free(p)
#elif defined(API_RUST)
#include "hmalloc/rust_alloc.h"
#define API "rust_alloc"
#define RUST_ALIGN 8
#define ALLOC(size) rust_alloc(size, RUST_ALIGN)
#define DEALLOC(p, size) rust_dealloc(p, size, RUST_ALIGN)
#else
#define API "malloc"
#define ALLOC(size) malloc(size)
#define DEALLOC(p, size) free(p)
#endif

#define RING 16

struct ring {
	uint64_t *slot[RING];
	size_t size[RING];
	uint64_t next; /* id of the next block; block id sits in slot id % RING */
};

/* 16..256 by 16, each size once in 16 consecutive ids; a slot's sizes change each time. */
static inline size_t size_of(uint64_t id)
{
	return 16 * (1 + ((id * 7 + id / RING) & 15));
}

static inline uint64_t *alloc_tagged(uint64_t id, size_t size)
{
	uint64_t *p = ALLOC(size);
	if (p == NULL)
		micro_fail("allocating %zu bytes failed", size);
	p[0] = micro_tag(id, 0);
	p[size / 8 - 1] = micro_tag(id, 1);
	micro_escape(p);
	return p;
}

static inline void check_tagged(const uint64_t *p, size_t size, uint64_t id)
{
	if (p[0] != micro_tag(id, 0) || p[size / 8 - 1] != micro_tag(id, 1))
		micro_fail("block %llu of %zu bytes at %p lost its tags", (unsigned long long)id, size,
			   (const void *)p);
}

static void body(void *ctx, uint64_t iters)
{
	struct ring *r = ctx;
	for (uint64_t i = 0; i < iters; i++) {
		uint64_t id = r->next++;
		unsigned k = id % RING;
		check_tagged(r->slot[k], r->size[k], id - RING);
		DEALLOC(r->slot[k], r->size[k]);
		r->size[k] = size_of(id);
		r->slot[k] = alloc_tagged(id, r->size[k]);
	}
}

int main(int argc, char **argv)
{
	struct ring r = {.next = RING};

	micro_parse_args(argc, argv);
	printf("info malloc_from=%s api=%s\n", micro_malloc_origin(), API);
	for (uint64_t id = 0; id < RING; id++) {
		r.size[id] = size_of(id);
		r.slot[id] = alloc_tagged(id, r.size[id]);
	}
	micro_measure("indirect", API, "16-256", body, &r);
	for (uint64_t id = r.next - RING; id < r.next; id++) {
		check_tagged(r.slot[id % RING], r.size[id % RING], id);
		DEALLOC(r.slot[id % RING], r.size[id % RING]);
	}
	return 0;
}
