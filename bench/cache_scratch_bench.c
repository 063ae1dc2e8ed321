/* cache_scratch_bench: passive false sharing (after the idea of Hoard's cache-scratch test).
 *
 * The main thread mallocs one 8-byte object per worker -- allocated back to back, they usually
 * share a cache line -- writes a tag into each, and hands object i to worker i.  The worker
 * checks the tag and frees the object, then runs the malloc/write/free loop of cache_loop.h.
 * An allocator that gives a freed block to the thread that freed it (a thread cache pushing it
 * on its own free list) hands each worker a piece of the main thread's shared line, and the
 * workers' writes then fight over it.  An allocator that returns the block to its owner does not.
 *
 * ops = writes to objects (each read back); each thread does the same work whatever -t is. */
#include "cache_loop.h"

#include <stdatomic.h>

#define NAME "cache_scratch"

typedef struct {
	pthread_t thread;
	uint64_t id;
	uint64_t *given;  /* allocated by the main thread; the worker frees it */
} worker_t;

static uint64_t objects;
static _Atomic uint64_t checksum;

static void *worker(void *arg)
{
	worker_t *w = arg;
	if (*w->given != bench_tag(w->id))
		bench_die(NAME, "the object handed over changed", 0);
	uint64_t sum = *w->given;
	free(w->given);
	sum += cache_loop(NAME, w->id, objects);
	atomic_fetch_add(&checksum, sum);
	return NULL;
}

int main(int argc, char **argv)
{
	bench_opts_t o = { 1.0, 42, 2, NULL, 0.0 };
	bench_parse_opts(argc, argv, "t:", &o);
	objects = (uint64_t)(BASE_OBJECTS * o.scale);
	if (objects == 0)
		objects = 1;
	worker_t *w = calloc((size_t)o.threads, sizeof *w);
	if (w == NULL)
		bench_die(NAME, "cannot allocate the thread table", 0);

	double t0 = bench_now();
	for (int i = 0; i < o.threads; i++) {
		w[i].id = o.seed * 1000003 + (uint64_t)i;
		w[i].given = malloc(OBJ_SIZE);
		if (w[i].given == NULL)
			bench_die(NAME, "malloc returned NULL", 0);
		*w[i].given = bench_tag(w[i].id);
	}
	for (int i = 0; i < o.threads; i++)
		bench_start_thread(NAME, &w[i].thread, worker, &w[i]);
	for (int i = 0; i < o.threads; i++)
		pthread_join(w[i].thread, NULL);
	double t1 = bench_now();

	char extra[64];
	snprintf(extra, sizeof extra, " threads=%d", o.threads);
	bench_report_extra(NAME, t1 - t0, (uint64_t)o.threads * objects * WRITES_PER_OBJECT, checksum, extra);
	free(w);
	return 0;
}
