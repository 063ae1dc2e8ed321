/* prodcons_bench: two threads, one allocates and the other frees (remote frees).
 *
 * The producer mallocs blocks of 16..256 bytes, writes a header (sequence number and tag) and
 * the last byte, and pushes the pointer through a lock-free single-producer single-consumer
 * ring, publishing them PUBLISH_BATCH at a time.  The consumer pops blocks in order, checks the header and last byte, and frees them.
 * So every free happens on a thread other than the one that allocated the block: the pattern
 * a thread cache must hand back to its owner (or to the arena) cheaply.
 *
 * When the ring is full (or empty) a thread spins briefly and then yields, since the project's
 * machine has two cores shared with other work and pure spinning would make figures swing.
 *
 * ops = number of blocks passed (each one malloc on the producer and one free on the consumer). */
#include "bench_common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define NAME "prodcons"
#define BASE_OPS 25000000ULL /* about 1-2 s with glibc on the project's machine */
#define RING_SIZE 4096       /* power of two */
#define PUBLISH_BATCH 32     /* the producer publishes its writes 32 blocks at a time */
#define SPINS_BEFORE_YIELD 256

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() atomic_signal_fence(memory_order_seq_cst)
#endif

typedef struct {
	uint64_t seq;
	uint64_t tag;
} header_t; /* 16 bytes: fits the smallest block */

/* The consumer runs the same generator as the producer, so it knows each block's size. */
static inline uint32_t pick_size(bench_rng_t *rng)
{
	uint64_t r = bench_rng_next(rng);
	/* 16..256 bytes, skewed small: over half the blocks are 16..64. */
	return (r & 1) ? 16 + (uint32_t)((r >> 8) % 49) : 16 + (uint32_t)((r >> 8) % 241);
}

static struct {
	_Alignas(64) _Atomic uint64_t head; /* next slot the consumer reads */
	_Alignas(64) _Atomic uint64_t tail; /* next slot the producer writes */
	_Alignas(64) void *slot[RING_SIZE];
} ring;

static uint64_t total_ops;
static uint64_t bench_seed;
static uint64_t consumer_checksum;

static void *producer(void *arg)
{
	(void)arg;
	bench_rng_t rng;
	bench_rng_seed(&rng, bench_seed);
	uint64_t tail = 0;
	uint64_t head_seen = 0;

	for (uint64_t i = 0; i < total_ops; i++) {
		uint32_t size = pick_size(&rng);
		header_t *h = malloc(size);
		if (h == NULL)
			bench_die(NAME, "malloc returned NULL", i);
		h->seq = i;
		h->tag = bench_tag(i);
		if (size > sizeof(header_t))
			((unsigned char *)h)[size - 1] = (unsigned char)(i >> 3);

		if (tail - head_seen == RING_SIZE) {
			unsigned spins = 0;
			atomic_store_explicit(&ring.tail, tail, memory_order_release);
			while (tail - (head_seen = atomic_load_explicit(&ring.head, memory_order_acquire)) ==
			       RING_SIZE) {
				if (++spins < SPINS_BEFORE_YIELD)
					cpu_relax();
				else
					sched_yield();
			}
		}
		ring.slot[tail % RING_SIZE] = h;
		if (++tail % PUBLISH_BATCH == 0)
			atomic_store_explicit(&ring.tail, tail, memory_order_release);
	}
	atomic_store_explicit(&ring.tail, tail, memory_order_release);
	return NULL;
}

static void *consumer(void *arg)
{
	(void)arg;
	uint64_t head = 0;
	uint64_t tail_seen = 0;
	uint64_t sum = 0;
	bench_rng_t rng;
	bench_rng_seed(&rng, bench_seed);

	while (head < total_ops) {
		if (head == tail_seen) {
			unsigned spins = 0;
			while (head == (tail_seen = atomic_load_explicit(&ring.tail, memory_order_acquire))) {
				if (++spins < SPINS_BEFORE_YIELD)
					cpu_relax();
				else
					sched_yield();
			}
		}
		/* Take everything published so far, then release the slots in one store. */
		while (head < tail_seen) {
			header_t *h = ring.slot[head % RING_SIZE];
			uint32_t size = pick_size(&rng);
			if (h->seq != head || h->tag != bench_tag(head) ||
			    (size > sizeof(header_t) && ((unsigned char *)h)[size - 1] != (unsigned char)(head >> 3)))
				bench_die(NAME, "block contents changed between producer and consumer", head);
			sum += h->tag;
			free(h);
			head++;
		}
		atomic_store_explicit(&ring.head, head, memory_order_release);
	}
	consumer_checksum = sum;
	return NULL;
}

int main(int argc, char **argv)
{
	double scale = 1.0;
	uint64_t seed = 42;
	bench_parse_args(argc, argv, &scale, &seed);
	total_ops = (uint64_t)(BASE_OPS * scale);
	if (total_ops == 0)
		total_ops = 1;
	bench_seed = seed;

	pthread_t tp, tc;
	double t0 = bench_now();
	if (pthread_create(&tc, NULL, consumer, NULL) != 0 || pthread_create(&tp, NULL, producer, NULL) != 0) {
		fprintf(stderr, "bench=%s error: pthread_create failed\n", NAME);
		return 1;
	}
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	double t1 = bench_now();

	bench_report(NAME, t1 - t0, total_ops, consumer_checksum);
	return 0;
}
