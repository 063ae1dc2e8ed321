/* large_bench: large and huge blocks, some of them aligned.
 *
 * A live set of LIVE slots; each op replaces a random slot's block with a new one of 64 KiB..
 * 64 MiB (log-uniform: as many blocks of 64..128 KiB as of 32..64 MiB).  One block in four is
 * aligned to 4 KiB..2 MiB (a power of two, log-uniform), half of them from posix_memalign and
 * half from aligned_alloc; the alignment is checked.
 *
 * A block is not filled: TOUCH_POINTS words spread over it (first and last included) are
 * written, and checked before it is freed.  So the cost is the allocator's -- finding space,
 * mapping and unmapping, splitting and merging -- plus the page faults of those few pages when
 * the memory is fresh, rather than a memset of megabytes.  (Page faults are very slow on the
 * project's VM, ~50 us each, so touching every page would make this a page-fault benchmark.)
 *
 * ops = allocations. */
#include "bench_common.h"

#define NAME "large"
#define BASE_OPS 2000       /* allocations at scale 1 */
#define LIVE 16             /* blocks alive at once (~150 MiB on average) */
#define MIN_SIZE (64 << 10)
#define MAX_SIZE (64 << 20)
#define MIN_ALIGN 4096
#define ALIGN_CHOICES 10    /* 4 KiB << 0..9: up to 2 MiB */
#define TOUCH_POINTS 16     /* words written in each block */

/* Log-uniform in [lo, hi) for powers of two lo < hi: an octave at random, then a value in it. */
static size_t log_uniform(uint64_t r, size_t lo, size_t hi)
{
	unsigned octaves = 0;
	while ((lo << octaves) < hi)
		octaves++;
	size_t base = lo << (r % octaves);
	return base + (size_t)((r >> 16) % base);
}

int main(int argc, char **argv)
{
	static bench_big_t live[LIVE];
	bench_rng_t rng;
	uint64_t total = bench_start(argc, argv, BASE_OPS, LIVE, &rng);
	uint64_t checksum = 0, aligned = 0;

	double t0 = bench_now();
	for (uint64_t op = 0; op < total; op++) {
		uint64_t r = bench_rng_next(&rng);
		bench_big_t *b = op < LIVE ? &live[op] : &live[r % LIVE];
		checksum += bench_big_free(NAME, b, op);

		uint64_t q = bench_rng_next(&rng);
		size_t size = log_uniform(q, MIN_SIZE, MAX_SIZE);
		void *p = NULL;
		if ((q >> 60) < 4) {
			size_t align = (size_t)MIN_ALIGN << (bench_rng_next(&rng) % ALIGN_CHOICES);
			if ((q >> 60) & 1) {
				/* aligned_alloc wants (before C17) a multiple of the alignment. */
				size = (size + align - 1) & ~(align - 1);
				p = aligned_alloc(align, size);
			} else if (posix_memalign(&p, align, size) != 0) {
				p = NULL;
			}
			if (p != NULL && ((uintptr_t)p & (align - 1)) != 0)
				bench_die(NAME, "block is not aligned as asked", op);
			aligned++;
		} else {
			p = malloc(size);
		}
		if (p == NULL)
			bench_die(NAME, "allocation failed", op);
		/* TOUCH_POINTS words, spread from the first to (within a word of) the last. */
		size_t step = (size - sizeof(uint64_t)) / (TOUCH_POINTS - 1);
		*b = (bench_big_t){ p, size, bench_tag(op), step, TOUCH_POINTS };
		bench_big_touch(b);
	}
	for (size_t i = 0; i < LIVE; i++)
		checksum += bench_big_free(NAME, &live[i], total);
	double t1 = bench_now();

	char extra[64];
	snprintf(extra, sizeof extra, " aligned=%llu", (unsigned long long)aligned);
	bench_report_extra(NAME, t1 - t0, total, checksum, extra);
	return 0;
}
