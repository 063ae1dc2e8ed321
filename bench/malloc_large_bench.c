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

/* The last word holds the tag (outside bench_big_t's points, and not in the checksum). */
static uint64_t buffer_free(bench_big_t *b, uint64_t at)
{
	uint64_t v;
	if (b->p == NULL)
		return 0;
	memcpy(&v, b->p + b->size - 8, sizeof v);
	if (v != b->tag)
		bench_die(NAME, "block contents changed while it was allocated", at);
	return bench_big_free(NAME, b, at);
}

int main(int argc, char **argv)
{
	static bench_big_t slot[SLOTS];
	bench_rng_t rng;
	uint64_t rounds = bench_start(argc, argv, BASE_ROUNDS, SLOTS, &rng);
	uint64_t checksum = 0;

	double t0 = bench_now();
	for (uint64_t r = 0; r < rounds; r++) {
		uint64_t q = bench_rng_next(&rng);
		bench_big_t *b = r < SLOTS ? &slot[r] : &slot[q % SLOTS];
		checksum += buffer_free(b, r);
		size_t size = MIN_SIZE + (size_t)((q >> 16) % (MAX_SIZE - MIN_SIZE + 1));
		unsigned char *p = malloc(size);
		if (p == NULL)
			bench_die(NAME, "malloc returned NULL", r);
		/* One word per TOUCH_STEP, up to the last word but not overlapping it. */
		*b = (bench_big_t){ p, size, bench_tag(r), TOUCH_STEP, (size - 16) / TOUCH_STEP + 1 };
		bench_big_touch(b);
		memcpy(p + size - 8, &b->tag, sizeof b->tag);
	}
	for (size_t i = 0; i < SLOTS; i++)
		checksum += buffer_free(&slot[i], rounds);
	double t1 = bench_now();

	bench_report(NAME, t1 - t0, rounds, checksum);
	return 0;
}
