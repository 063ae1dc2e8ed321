/* xmalloc_bench: threads allocating and freeing in rounds, with thread churn.
 *
 * The work runs in generations.  Each generation the main thread creates T threads and joins
 * them.  A thread allocates a batch of BATCH blocks of mixed sizes; while doing so it frees the
 * blocks that a thread of the previous generation (now gone) left for it, one per allocation;
 * then it frees a random half of its own batch and leaves the other half for the next
 * generation.  So blocks outlive the thread that allocated them, every thread starts with an
 * empty thread cache and dies with a full one, and half of all frees are of a dead thread's
 * memory -- the pattern of programs that run short-lived worker threads.
 *
 * Thread i of generation g frees what thread i+1 of generation g-1 left (each generation is
 * joined before the next starts, so no locking is needed).  Everything a thread does comes from
 * a random sequence seeded by (seed, g, i), so the checksum does not depend on timing.
 *
 * ops = malloc calls; each thread does the same work whatever -t is (creations = T x generations). */
#include "bench_common.h"

#define NAME "xmalloc"
#define BASE_GENERATIONS 200  /* at scale 1: 400 thread creations with -t 2 */
#define BATCH 16384           /* blocks a thread allocates */

typedef struct {
	pthread_t thread;
	uint64_t gen;
	uint64_t index;
	uint64_t sum;           /* sum of the tags this thread checked and freed */
	bench_block_t *own;     /* this thread's batch; the kept half is moved to the front */
	size_t kept;            /* blocks left for the next generation */
	bench_block_t *inherit; /* what the previous generation left for this thread */
	size_t inherited;
} worker_t;

static uint64_t bench_seed;

/* 60% 8..64, 25% 65..256, 12% 257..2048, 3% 2049..16384 bytes. */
static inline uint32_t pick_size(uint64_t r)
{
	uint32_t c = (uint32_t)(r & 127);
	uint32_t v = (uint32_t)(r >> 8);
	if (c < 77)
		return 8 + v % 57;
	if (c < 109)
		return 65 + v % 192;
	if (c < 124)
		return 257 + v % 1792;
	return 2049 + v % 14336;
}

static void *worker(void *arg)
{
	worker_t *w = arg;
	bench_rng_t rng;
	bench_rng_seed(&rng, bench_tag(bench_seed * 1000003 + (w->gen << 20) + w->index));
	uint64_t base = (w->gen << 40) | (w->index << 24);
	uint64_t sum = 0;

	for (size_t j = 0; j < BATCH; j++) {
		uint64_t r = bench_rng_next(&rng);
		w->own[j] = bench_block_new(NAME, pick_size(r), bench_tag(base + j), w->gen * BATCH + j);
		if (j < w->inherited)
			sum += bench_block_free(NAME, &w->inherit[j], w->gen * BATCH + j);
	}
	for (size_t j = BATCH; j < w->inherited; j++)
		sum += bench_block_free(NAME, &w->inherit[j], w->gen * BATCH + j);

	/* Free a random half of the batch in a scattered order (a stride coprime to BATCH), then
	 * pack the other half at the front of the array for the next generation. */
	for (size_t k = 0, j = 0; k < BATCH; k++, j = (j + 7919) % BATCH) {
		if (bench_rng_next(&rng) >> 63)
			sum += bench_block_free(NAME, &w->own[j], w->gen * BATCH + j);
	}
	size_t kept = 0;
	for (size_t j = 0; j < BATCH; j++)
		if (w->own[j].p != NULL)
			w->own[kept++] = w->own[j];
	w->kept = kept;
	w->sum = sum;
	return NULL;
}

int main(int argc, char **argv)
{
	bench_opts_t o = { 1.0, 42, 2, NULL, 0.0 };
	bench_parse_opts(argc, argv, "t:", &o);
	size_t nthreads = (size_t)o.threads;
	uint64_t generations = bench_count(BASE_GENERATIONS, o.scale, 2);
	bench_seed = o.seed;

	/* Two sets of per-thread state: generation g uses set g % 2 and reads set (g - 1) % 2. */
	worker_t *w[2];
	for (int s = 0; s < 2; s++) {
		w[s] = calloc(nthreads, sizeof *w[s]);
		if (w[s] == NULL)
			bench_die(NAME, "cannot allocate the thread table", 0);
		for (size_t i = 0; i < nthreads; i++) {
			w[s][i].own = malloc(BATCH * sizeof(bench_block_t));
			if (w[s][i].own == NULL)
				bench_die(NAME, "cannot allocate the block table", 0);
		}
	}

	uint64_t checksum = 0;
	double t0 = bench_now();
	for (uint64_t g = 0; g < generations; g++) {
		worker_t *cur = w[g & 1], *prev = w[(g + 1) & 1];
		for (size_t i = 0; i < nthreads; i++) {
			cur[i].gen = g;
			cur[i].index = i;
			cur[i].inherit = g > 0 ? prev[(i + 1) % nthreads].own : NULL;
			cur[i].inherited = g > 0 ? prev[(i + 1) % nthreads].kept : 0;
			bench_start_thread(NAME, &cur[i].thread, worker, &cur[i]);
		}
		for (size_t i = 0; i < nthreads; i++) {
			pthread_join(cur[i].thread, NULL);
			checksum += cur[i].sum;
		}
	}
	/* The last generation's leftovers are freed by the main thread. */
	worker_t *last = w[(generations - 1) & 1];
	for (size_t i = 0; i < nthreads; i++)
		for (size_t j = 0; j < last[i].kept; j++)
			checksum += bench_block_free(NAME, &last[i].own[j], j);
	double t1 = bench_now();

	char extra[96];
	snprintf(extra, sizeof extra, " threads=%zu thread_creations=%llu", nthreads,
		 (unsigned long long)(generations * nthreads));
	bench_report_extra(NAME, t1 - t0, generations * nthreads * BATCH, checksum, extra);
	for (int s = 0; s < 2; s++) {
		for (size_t i = 0; i < nthreads; i++)
			free(w[s][i].own);
		free(w[s]);
	}
	return 0;
}
