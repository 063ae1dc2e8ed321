/* churn_bench: single-thread small-object churn, shaped like a compiler or interpreter.
 *
 * Work comes in bursts (a "scope"): a burst allocates 1..24 objects (now and then up to 256),
 * and when the scope ends they are freed in LIFO order.  Some scopes leave a few objects
 * behind, so the stack creeps up until a deep unwind pops most of it.  One allocation in
 * POOL_ONE_IN goes instead to a long-lived pool, replacing (and freeing) a random older pool
 * entry, so the pool turns over slowly and its frees come in no particular order.
 *
 * Sizes are 8..512 bytes skewed small, with about 1.5% between 513 bytes and 4 KiB.  Each
 * block gets a tag in its first 8 bytes and its last byte written; both are checked before the
 * block is freed, so an allocator that hands out overlapping memory makes the program abort.
 *
 * ops = number of malloc calls; every block is freed before the clock stops. */
#include "bench_common.h"

#define NAME "churn"
#define BASE_OPS 30000000ULL  /* about 1-2 s with glibc on the project's machine */
#define STACK_CAP 4096        /* most objects alive in scopes at once */
#define STACK_HIGH 3072       /* above this depth, unwind */
#define POOL_SLOTS 16384      /* long-lived objects (~1.5 MiB) */
#define POOL_ONE_IN 64        /* one allocation in 64 goes to the pool */

typedef struct {
	unsigned char *p;
	uint64_t tag;
	uint32_t size;
} obj_t;

static obj_t stack[STACK_CAP];
static obj_t pool[POOL_SLOTS];
static uint64_t ops_done;

/* Size from 10 random bits for the class and the rest for the size inside it:
 * 35% 8..32, 25% 33..64, 20% 65..128, 12% 129..256, 6.5% 257..512, 1.5% 513..4096. */
static inline uint32_t pick_size(uint64_t r)
{
	uint32_t c = (uint32_t)(r & 1023);
	uint32_t v = (uint32_t)(r >> 10);
	if (c < 358)
		return 8 + v % 25;
	if (c < 614)
		return 33 + v % 32;
	if (c < 819)
		return 65 + v % 64;
	if (c < 942)
		return 129 + v % 128;
	if (c < 1009)
		return 257 + v % 256;
	return 513 + v % 3584;
}

static inline void obj_new(obj_t *o, uint32_t size)
{
	uint64_t tag = bench_tag(ops_done++);
	unsigned char *p = malloc(size);
	if (p == NULL)
		bench_die(NAME, "malloc returned NULL", ops_done);
	memcpy(p, &tag, sizeof tag);
	p[size - 1] = (unsigned char)(tag >> 56);
	o->p = p;
	o->tag = tag;
	o->size = size;
}

static inline uint64_t obj_free(obj_t *o)
{
	uint64_t t;
	memcpy(&t, o->p, sizeof t);
	if (t != o->tag || o->p[o->size - 1] != (unsigned char)(o->tag >> 56))
		bench_die(NAME, "block contents changed while it was allocated", ops_done);
	free(o->p);
	o->p = NULL;
	return t;
}

int main(int argc, char **argv)
{
	bench_rng_t rng;
	uint64_t total = bench_start(argc, argv, BASE_OPS, POOL_SLOTS, &rng);
	uint64_t checksum = 0;
	size_t depth = 0;

	double t0 = bench_now();

	for (size_t i = 0; i < POOL_SLOTS; i++)
		obj_new(&pool[i], pick_size(bench_rng_next(&rng)));

	while (ops_done < total) {
		uint64_t r = bench_rng_next(&rng);
		size_t n = (r & 15) == 0 ? 1 + (r >> 4) % 256 : 1 + (r >> 4) % 24;
		if (depth + n > STACK_CAP) {
			size_t to = (r >> 16) % 256;
			while (depth > to)
				checksum += obj_free(&stack[--depth]);
		}

		size_t pushed = 0;
		for (size_t i = 0; i < n; i++) {
			uint64_t q = bench_rng_next(&rng);
			uint32_t size = pick_size(q);
			if ((q >> 40) % POOL_ONE_IN == 0) {
				obj_t *slot = &pool[(q >> 48) % POOL_SLOTS];
				checksum ^= obj_free(slot);
				obj_new(slot, size);
			} else {
				obj_new(&stack[depth++], size);
				pushed++;
			}
		}

		/* End of scope: pop what it pushed, except that one scope in 8 leaves some behind. */
		size_t keep = ((r >> 24) & 7) == 0 ? (r >> 28) % (pushed + 1) : 0;
		for (size_t i = keep; i < pushed; i++)
			checksum += obj_free(&stack[--depth]);

		if (depth > STACK_HIGH) {
			size_t to = (r >> 40) % 128;
			while (depth > to)
				checksum += obj_free(&stack[--depth]);
		}
	}

	while (depth > 0)
		checksum += obj_free(&stack[--depth]);
	for (size_t i = 0; i < POOL_SLOTS; i++)
		checksum ^= obj_free(&pool[i]);

	double t1 = bench_now();
	bench_report(NAME, t1 - t0, ops_done, checksum);
	return 0;
}
