/* cache_thrash_bench: active false sharing (after the idea of Hoard's cache-thrash test).
 *
 * Every thread repeatedly mallocs an 8-byte object, writes it many times and frees it (see
 * cache_loop.h).  The threads never share an object, but an allocator that serves small
 * requests of different threads from the same cache line (one heap for all threads, or thread
 * caches refilled with neighbouring regions) makes their writes fight over that line.
 *
 * ops = writes to objects (each read back); each thread does the same work whatever -t is. */
#include "cache_loop.h"

#define NAME "cache_thrash"

static void *worker(void *arg)
{
	cache_worker_t *w = arg;
	w->sum = cache_loop(NAME, w->id, w->objects);
	return NULL;
}

int main(int argc, char **argv)
{
	return cache_loop_main(argc, argv, NAME, NULL, worker);
}
