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

#define NAME "cache_scratch"

/* Back to back, so that the objects of neighbouring workers likely share a cache line. */
static void give(cache_worker_t *w, int n)
{
	for (int i = 0; i < n; i++) {
		w[i].given = malloc(OBJ_SIZE);
		if (w[i].given == NULL)
			bench_die(NAME, "malloc returned NULL", 0);
		*w[i].given = bench_tag(w[i].id);
	}
}

static void *worker(void *arg)
{
	cache_worker_t *w = arg;
	if (*w->given != bench_tag(w->id))
		bench_die(NAME, "the object handed over changed", 0);
	uint64_t sum = *w->given;
	free(w->given);
	w->sum = sum + cache_loop(NAME, w->id, w->objects);
	return NULL;
}

int main(int argc, char **argv)
{
	return cache_loop_main(argc, argv, NAME, give, worker);
}
