/* cache_thrash_bench: active false sharing (after the idea of Hoard's cache-thrash test).
 *
 * Every thread repeatedly mallocs an 8-byte object, writes it many times and frees it (see
 * cache_loop.h).  The threads never share an object, but an allocator that serves small
 * requests of different threads from the same cache line (one heap for all threads, or thread
 * caches refilled with neighbouring regions) makes their writes fight over that line.
 *
 * ops = writes to objects (each read back); each thread does the same work whatever -t is. */
#include "cache_loop.h"

#include <stdatomic.h>

#define NAME "cache_thrash"

static uint64_t objects;
static _Atomic uint64_t checksum;

static void *worker(void *arg)
{
	atomic_fetch_add(&checksum, cache_loop(NAME, (uint64_t)(uintptr_t)arg, objects));
	return NULL;
}

int main(int argc, char **argv)
{
	bench_opts_t o = { 1.0, 42, 2, NULL, 0.0 };
	bench_parse_opts(argc, argv, "t:", &o);
	objects = (uint64_t)(BASE_OBJECTS * o.scale);
	if (objects == 0)
		objects = 1;
	pthread_t *tids = calloc((size_t)o.threads, sizeof *tids);
	if (tids == NULL)
		bench_die(NAME, "cannot allocate the thread table", 0);

	double t0 = bench_now();
	for (int i = 0; i < o.threads; i++)
		bench_start_thread(NAME, &tids[i], worker, (void *)(uintptr_t)(o.seed * 1000003 + (uint64_t)i));
	for (int i = 0; i < o.threads; i++)
		pthread_join(tids[i], NULL);
	double t1 = bench_now();

	char extra[64];
	snprintf(extra, sizeof extra, " threads=%d", o.threads);
	bench_report_extra(NAME, t1 - t0, (uint64_t)o.threads * objects * WRITES_PER_OBJECT, checksum, extra);
	free(tids);
	return 0;
}
