/* sized_free.c: what a sized free saves.  One malloc and one free per iteration, warm, at a
 * fixed size, the free done either with free(p) or with a sized free: sdallocx(p, size, 0)
 * (jemalloc's API, hmalloc's too), C23's free_sized, tcmalloc's tc_free_sized, mimalloc's
 * mi_free_size: whichever the allocator the program is linked against exports.
 *
 * The sized frees are weak references, so the one source links against every allocator
 * (tools/bench-micro links it against each, plainly, so every call goes through the PLT the
 * same way) and measures what is there.  Blocks live in a ring of RING slots: an iteration
 * frees the block allocated RING iterations earlier, after checking the tags written at its
 * two ends, and allocates a new one into the slot. */
#include "micro.h"

extern void sdallocx(void *ptr, size_t size, int flags) __attribute__((weak));
extern void free_sized(void *ptr, size_t size) __attribute__((weak));
extern void tc_free_sized(void *ptr, size_t size) __attribute__((weak));
extern void mi_free_size(void *ptr, size_t size) __attribute__((weak));

#define RING 16

struct ring {
	uint64_t *slot[RING];
	size_t size;
	uint64_t next; /* id of the next block; block id sits in slot id % RING */
};

static void block_tag(uint64_t *p, size_t words, uint64_t id)
{
	p[0] = micro_tag(id, 0);
	p[words - 1] = micro_tag(id, 1);
	micro_escape(p);
}

static void block_check(const uint64_t *p, size_t words, uint64_t id)
{
	if (p[0] != micro_tag(id, 0) || p[words - 1] != micro_tag(id, 1))
		micro_fail("block %llu of %zu words at %p lost its tags", (unsigned long long)id, words,
			   (const void *)p);
}

#define FREE_PLAIN(p, size) free(p)
#define FREE_SDALLOCX(p, size) sdallocx(p, size, 0)
#define FREE_SIZED(p, size) free_sized(p, size)
#define FREE_TC(p, size) tc_free_sized(p, size)
#define FREE_MI(p, size) mi_free_size(p, size)

/* One body per way of freeing, so the loop has no branch on it. */
#define RING_BODY(name, FREE)                                                                  \
	static void name(void *ctx, uint64_t iters)                                            \
	{                                                                                      \
		struct ring *r = ctx;                                                          \
		size_t size = r->size, words = size / 8;                                       \
		for (uint64_t i = 0; i < iters; i++) {                                         \
			uint64_t id = r->next++;                                               \
			uint64_t **slot = &r->slot[id % RING];                                 \
			block_check(*slot, words, id - RING);                                  \
			FREE(*slot, size);                                                     \
			uint64_t *p = malloc(size);                                            \
			if (p == NULL)                                                         \
				micro_fail("malloc(%zu) failed", size);                        \
			block_tag(p, words, id);                                               \
			*slot = p;                                                             \
		}                                                                              \
	}

RING_BODY(body_free, FREE_PLAIN)
RING_BODY(body_sdallocx, FREE_SDALLOCX)
RING_BODY(body_free_sized, FREE_SIZED)
RING_BODY(body_tc_free_sized, FREE_TC)
RING_BODY(body_mi_free_size, FREE_MI)

struct variant {
	const char *name;
	micro_body_t body;
	int present;
};

static const size_t sizes[] = {16, 64, 256, 1024, 4096, 65536};

int main(int argc, char **argv)
{
	unsigned round = micro_parse_args(argc, argv);
	struct variant v[] = {
		{"free", body_free, 1},
		{"sdallocx", body_sdallocx, sdallocx != NULL},
		{"free_sized", body_free_sized, free_sized != NULL},
		{"tc_free_sized", body_tc_free_sized, tc_free_sized != NULL},
		{"mi_free_size", body_mi_free_size, mi_free_size != NULL},
	};
	size_t nv = sizeof v / sizeof *v;

	printf("info malloc_from=%s sized=", micro_malloc_origin());
	for (size_t i = 1, first = 1; i < nv; i++)
		if (v[i].present) {
			printf("%s%s", first ? "" : ",", v[i].name);
			first = 0;
		}
	printf("\n");

	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
		struct ring r = {.size = sizes[s], .next = RING};
		char param[32];
		snprintf(param, sizeof param, "%zu", sizes[s]);
		for (uint64_t id = 0; id < RING; id++) {
			r.slot[id] = malloc(r.size);
			if (r.slot[id] == NULL)
				micro_fail("malloc(%zu) failed", r.size);
			block_tag(r.slot[id], r.size / 8, id);
		}
		for (size_t k = 0; k < nv; k++) {
			struct variant *x = &v[(k + round) % nv];
			if (x->present)
				micro_measure("sized_free", x->name, param, x->body, &r);
		}
		for (uint64_t id = r.next - RING; id < r.next; id++) {
			block_check(r.slot[id % RING], r.size / 8, id);
			free(r.slot[id % RING]);
		}
	}
	return 0;
}
