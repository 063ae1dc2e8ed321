/* cache_loop.h: the work loop and the main program shared by cache_thrash_bench and
 * cache_scratch_bench.
 *
 * A thread mallocs a small object, writes it (and reads it back) many times, frees it, and
 * starts over.  The writes stay in the thread's own object, so they are cheap -- unless the
 * allocator placed objects of different threads in one cache line: then every write has to
 * take the line from the other core (false sharing), and the loop runs many times slower.
 * Checking before each write that the object still holds the last value also catches an
 * allocator that gives two threads the same object (when they run at the same time). */
#ifndef CACHE_LOOP_H
#define CACHE_LOOP_H

#include "bench_common.h"

#define OBJ_SIZE 8               /* one word: many objects fit in a 64-byte line */
#define BASE_OBJECTS 400000      /* objects each thread allocates at scale 1 */
#define WRITES_PER_OBJECT 5000   /* stores per object, each after a check of the one before */

/* Returns the sum of the last values written, which does not depend on the allocator. */
static uint64_t cache_loop(const char *name, uint64_t tid, uint64_t objects)
{
	uint64_t sum = 0;
	for (uint64_t i = 0; i < objects; i++) {
		volatile uint64_t *p = malloc(OBJ_SIZE);
		if (p == NULL)
			bench_die(name, "malloc returned NULL", i);
		uint64_t v = bench_tag(tid << 40 | i);
		*p = v;
		/* Each write first checks that the object still holds the previous one. */
		for (uint64_t w = 1; w < WRITES_PER_OBJECT; w++) {
			if (*p != v + w - 1)
				bench_die(name, "another thread wrote into this thread's object", i);
			*p = v + w;
		}
		sum += *p;
		free((void *)p);
	}
	return sum;
}

typedef struct {
	pthread_t thread;
	uint64_t id;       /* seed * 1000003 + thread index: the source of the thread's tags */
	uint64_t objects;  /* objects to run through cache_loop */
	uint64_t *given;   /* cache_scratch: an object the main thread allocated for this worker */
	uint64_t sum;      /* the worker's share of the checksum, set before it returns */
} cache_worker_t;

/* The whole program but the worker: command line ([-t THREADS], default 2), then, timed, `give`
 * (when not NULL: run by the main thread before any worker starts, on the whole table) and
 * `worker` (with its cache_worker_t) in every thread; prints the result line. */
static int cache_loop_main(int argc, char **argv, const char *name, void (*give)(cache_worker_t *w, int n),
			   void *(*worker)(void *))
{
	bench_opts_t o = { 1.0, 42, 2, NULL, 0.0 };
	bench_parse_opts(argc, argv, "t:", &o);
	uint64_t objects = bench_count(BASE_OBJECTS, o.scale, 1);
	cache_worker_t *w = calloc((size_t)o.threads, sizeof *w);
	if (w == NULL)
		bench_die(name, "cannot allocate the thread table", 0);
	for (int i = 0; i < o.threads; i++) {
		w[i].id = o.seed * 1000003 + (uint64_t)i;
		w[i].objects = objects;
	}

	double t0 = bench_now();
	if (give != NULL)
		give(w, o.threads);
	for (int i = 0; i < o.threads; i++)
		bench_start_thread(name, &w[i].thread, worker, &w[i]);
	uint64_t checksum = 0;
	for (int i = 0; i < o.threads; i++) {
		pthread_join(w[i].thread, NULL);
		checksum += w[i].sum;
	}
	double t1 = bench_now();

	char extra[64];
	snprintf(extra, sizeof extra, " threads=%d", o.threads);
	bench_report_extra(name, t1 - t0, (uint64_t)o.threads * objects * WRITES_PER_OBJECT, checksum, extra);
	free(w);
	return 0;
}

#endif /* CACHE_LOOP_H */
