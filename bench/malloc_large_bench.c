/* malloc_large_bench: a few big buffers replaced over and over (the pattern of mimalloc-bench's
 * malloc-large test; our own code).
 *
 * SLOTS buffers of 5..25 MiB (uniform) are live; each round frees a random one and mallocs a new
 * buffer of another size in its place.  A buffer is not filled: one word per MiB (first and last
 * word included) is written, and checked before the buffer is freed.  An allocator that keeps
 * the freed memory hands it out again at the cost of a few instructions; one that unmaps or
 * purges it at once pays for the system calls and, on the next use, a page fault per touched
 * page -- every round.  That is the thrashing hmalloc's purging must avoid.
 *
 * ops = malloc calls. */
#include "bench_common.h"

#define NAME "malloc_large"
#define SLOTS 8                /* live buffers: ~120 MiB on average */
#define BASE_ROUNDS 2000       /* replacements at scale 1 */
#define MIN_SIZE (5UL << 20)
#define MAX_SIZE (25UL << 20)
#define TOUCH_STEP (1UL << 20) /* one word written per MiB */

typedef struct {
	unsigned char *p;
	size_t size;
	uint64_t tag;
} buffer_t;

static void buffer_touch(const buffer_t *b)
{
	uint64_t i = 0;
	for (size_t off = 0; off < b->size - 8; off += TOUCH_STEP, i++) {
		uint64_t v = b->tag + i;
		memcpy(b->p + off, &v, sizeof v);
	}
	memcpy(b->p + b->size - 8, &b->tag, sizeof b->tag);
}

static uint64_t buffer_free(buffer_t *b, uint64_t at)
{
	uint64_t i = 0, v, sum = 0;
	if (b->p == NULL)
		return 0;
	for (size_t off = 0; off < b->size - 8; off += TOUCH_STEP, i++) {
		memcpy(&v, b->p + off, sizeof v);
		if (v != b->tag + i)
			bench_die(NAME, "buffer contents changed while it was allocated", at);
		sum += v;
	}
	memcpy(&v, b->p + b->size - 8, sizeof v);
	if (v != b->tag)
		bench_die(NAME, "buffer contents changed while it was allocated", at);
	free(b->p);
	b->p = NULL;
	return sum;
}

int main(int argc, char **argv)
{
	double scale = 1.0;
	uint64_t seed = 42;
	bench_parse_args(argc, argv, &scale, &seed);
	uint64_t rounds = (uint64_t)(BASE_ROUNDS * scale);
	if (rounds < SLOTS)
		rounds = SLOTS;

	static buffer_t slot[SLOTS];
	bench_rng_t rng;
	bench_rng_seed(&rng, seed);
	uint64_t checksum = 0;

	double t0 = bench_now();
	for (uint64_t r = 0; r < rounds; r++) {
		uint64_t q = bench_rng_next(&rng);
		buffer_t *b = r < SLOTS ? &slot[r] : &slot[q % SLOTS];
		checksum += buffer_free(b, r);
		size_t size = MIN_SIZE + (size_t)((q >> 16) % (MAX_SIZE - MIN_SIZE + 1));
		b->p = malloc(size);
		if (b->p == NULL)
			bench_die(NAME, "malloc returned NULL", r);
		b->size = size;
		b->tag = bench_tag(r);
		buffer_touch(b);
	}
	for (size_t i = 0; i < SLOTS; i++)
		checksum += buffer_free(&slot[i], rounds);
	double t1 = bench_now();

	bench_report(NAME, t1 - t0, rounds, checksum);
	return 0;
}
