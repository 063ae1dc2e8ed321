/* larson_bench: a larson-style server simulation, with remote frees.
 *
 * Each thread works on an array of SLOTS blocks.  For a round it replaces random slots (checks
 * and frees the old block, mallocs one of 16..1000 bytes, uniform), then at the round's end the
 * arrays move on: thread i takes the array thread i+1 worked on.  So from the second round on,
 * most frees are of blocks that another thread allocated, as in a server whose connections (and
 * their buffers) pass between worker threads.
 *
 * Rounds end at a barrier, which makes the hand-over exact.  Each array carries its own random
 * sequence and tag counter, so the work done on it, and the checksum, do not depend on which
 * thread happened to do it.  With -t 1 there is one array that never moves (no remote frees).
 *
 * ops = malloc calls (one per replacement, plus the initial fill); each thread does the same
 * work whatever -t is, so ops_per_sec compares thread counts. */
#include "bench_common.h"

#include <stdatomic.h>

#define NAME "larson"
#define SLOTS 4096        /* blocks per array: ~2 MiB live per thread */
#define ROUND_OPS 8192    /* replacements per round, before the arrays move on */
#define BASE_ROUNDS 2000  /* rounds per thread at scale 1 */
#define MIN_SIZE 16
#define MAX_SIZE 1000

typedef struct {
	bench_block_t slot[SLOTS];
	bench_rng_t rng;  /* travels with the array */
	uint64_t made;    /* blocks made in this array so far; with id, the tag source */
	uint64_t id;
} slot_array_t;

static slot_array_t *arrays;
static int nthreads;
static uint64_t rounds;
static pthread_barrier_t barrier;
static _Atomic uint64_t checksum;

static inline void block_new(slot_array_t *a, bench_block_t *b, uint64_t r)
{
	uint32_t size = MIN_SIZE + (uint32_t)(r % (MAX_SIZE - MIN_SIZE + 1));
	uint64_t tag = bench_tag(a->id << 40 | a->made++);
	*b = bench_block_new(NAME, size, tag, a->made);
}

static void *worker(void *arg)
{
	uint64_t tid = (uint64_t)(uintptr_t)arg;
	uint64_t sum = 0;
	slot_array_t *a = &arrays[tid];

	for (size_t i = 0; i < SLOTS; i++)
		block_new(a, &a->slot[i], bench_rng_next(&a->rng));

	for (uint64_t r = 0; r < rounds; r++) {
		/* Wait until every thread is done with the previous round (or its fill). */
		pthread_barrier_wait(&barrier);
		a = &arrays[(tid + r) % (uint64_t)nthreads];
		for (unsigned k = 0; k < ROUND_OPS; k++) {
			uint64_t q = bench_rng_next(&a->rng);
			bench_block_t *b = &a->slot[(q >> 48) % SLOTS];
			sum += bench_block_free(NAME, b, a->made);
			block_new(a, b, q);
		}
	}

	pthread_barrier_wait(&barrier);
	a = &arrays[(tid + rounds) % (uint64_t)nthreads];
	for (size_t i = 0; i < SLOTS; i++)
		sum += bench_block_free(NAME, &a->slot[i], a->made);
	atomic_fetch_add(&checksum, sum);
	return NULL;
}

int main(int argc, char **argv)
{
	bench_opts_t o = { 1.0, 42, 2, NULL, 0.0 };
	bench_parse_opts(argc, argv, "t:", &o);
	nthreads = o.threads;
	rounds = bench_count(BASE_ROUNDS, o.scale, 1);

	arrays = calloc((size_t)nthreads, sizeof *arrays);
	pthread_t *tids = calloc((size_t)nthreads, sizeof *tids);
	if (arrays == NULL || tids == NULL)
		bench_die(NAME, "cannot allocate the slot arrays", 0);
	for (int i = 0; i < nthreads; i++) {
		arrays[i].id = (uint64_t)i;
		bench_rng_seed(&arrays[i].rng, bench_tag(o.seed * 1000003 + (uint64_t)i));
	}
	pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);

	double t0 = bench_now();
	for (int i = 0; i < nthreads; i++)
		bench_start_thread(NAME, &tids[i], worker, (void *)(uintptr_t)i);
	for (int i = 0; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	double t1 = bench_now();

	char extra[64];
	snprintf(extra, sizeof extra, " threads=%d", nthreads);
	bench_report_extra(NAME, t1 - t0, (uint64_t)nthreads * (SLOTS + rounds * ROUND_OPS), checksum, extra);
	pthread_barrier_destroy(&barrier);
	free(tids);
	free(arrays);
	return 0;
}
