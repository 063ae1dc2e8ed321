/* cache_loop.h: the work loop shared by cache_thrash_bench and cache_scratch_bench.
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

#endif /* CACHE_LOOP_H */
