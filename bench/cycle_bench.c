/* cycle_bench: a program that cycles the same ~500 MB over and over.
 *
 * Each cycle allocates CYCLE_BYTES in blocks of 16..128 KiB (uniform; the same sizes in the same
 * order every cycle), writes one byte in every page of each block, then frees them all in a
 * scattered order.  An allocator that keeps the freed memory (or purges it only after a delay
 * longer than a cycle) serves the next cycle from resident pages; one that returns it at once
 * pays a page fault per page again, every cycle.  It is the case for hmalloc's decay purging
 * ("purging must not make a program that reuses its memory more than 5% slower"): run it with
 * HMALLOC_CONF=dirty_decay_ms:-1 (never purge) and with the default, and compare.
 *
 * The first cycle faults all its pages in under any allocator, and on the project's VM page
 * faults are so slow (~30-60 us) that it takes most of the time; so besides seconds (all cycles)
 * the result line gives reuse_seconds, the time of the cycles after the first, which is where
 * purging shows.
 *
 * ops = malloc calls. */
#include "bench_common.h"

#define NAME "cycle"
#define CYCLE_BYTES (500UL << 20)  /* asked for per cycle */
#define BASE_CYCLES 5              /* cycles at scale 1 (see bench/README for why not 20) */
#define MIN_BLOCK (16 << 10)
#define MAX_BLOCK (128 << 10)
#define PAGE 4096
#define STRIDE 7919                /* free order: a prime step through the blocks */

typedef struct {
	unsigned char *p;
	uint32_t size;
} block_t;

int main(int argc, char **argv)
{
	double scale = 1.0;
	uint64_t seed = 42;
	bench_parse_args(argc, argv, &scale, &seed);
	uint64_t cycles = (uint64_t)(BASE_CYCLES * scale + 0.5);
	if (cycles == 0)
		cycles = 1;

	/* At most this many blocks per cycle; the table comes from malloc once, before the clock. */
	size_t cap = CYCLE_BYTES / MIN_BLOCK + 1;
	block_t *blocks = malloc(cap * sizeof *blocks);
	if (blocks == NULL)
		bench_die(NAME, "cannot allocate the block table", 0);
	uint64_t checksum = 0, ops = 0;
	size_t n = 0;

	double t0 = bench_now(), t_first = t0;
	for (uint64_t c = 0; c < cycles; c++) {
		bench_rng_t rng;
		bench_rng_seed(&rng, seed);  /* same sizes every cycle */
		uint64_t asked = 0;
		for (n = 0; asked < CYCLE_BYTES; n++) {
			uint32_t size = MIN_BLOCK + (uint32_t)(bench_rng_next(&rng) % (MAX_BLOCK - MIN_BLOCK + 1));
			unsigned char *p = malloc(size);
			if (p == NULL)
				bench_die(NAME, "malloc returned NULL", ops);
			uint64_t tag = bench_tag(c << 32 | n);
			memcpy(p, &tag, sizeof tag);
			for (size_t k = PAGE; k < size; k += PAGE)
				p[k] = (unsigned char)(tag >> (k / PAGE % 8 * 8));
			blocks[n] = (block_t){ p, size };
			asked += size;
			ops++;
		}

		/* A prime step visits every block once unless n is a multiple of it. */
		size_t step = n % STRIDE == 0 ? 1 : STRIDE, j = 0;
		for (size_t i = 0; i < n; i++, j = (j + step) % n) {
			block_t *b = &blocks[j];
			uint64_t tag = bench_tag(c << 32 | j), t;
			memcpy(&t, b->p, sizeof t);
			if (t != tag)
				bench_die(NAME, "block contents changed while it was allocated", ops);
			for (size_t k = PAGE; k < b->size; k += PAGE)
				if (b->p[k] != (unsigned char)(tag >> (k / PAGE % 8 * 8)))
					bench_die(NAME, "block contents changed while it was allocated", ops);
			checksum += t;
			free(b->p);
		}
		if (c == 0)
			t_first = bench_now();
	}
	double t1 = bench_now();

	char extra[128];
	snprintf(extra, sizeof extra, " cycles=%llu blocks_per_cycle=%zu first_cycle_seconds=%.6f reuse_seconds=%.6f",
		 (unsigned long long)cycles, n, t_first - t0, t1 - t_first);
	bench_report_extra(NAME, t1 - t0, ops, checksum, extra);
	free(blocks);
	return 0;
}
