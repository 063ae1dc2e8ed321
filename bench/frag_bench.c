/* frag_bench: fragmentation over time, and how much of it the allocator gives back.
 *
 * CYCLES times over, four phases:
 *   fill    allocate FILL bytes (requested) of small and medium blocks, 16 B..8 KiB;
 *   holes   free every other block of that fill;
 *   refill  allocate as many bytes as the holes freed, in larger blocks (256 B..128 KiB) that
 *           mostly cannot reuse the holes;
 *   thin    free all of this cycle's blocks but one in KEEP_ONE_IN, chosen at random.
 * The survivors of each cycle stay until the end, scattered over the memory the cycle used, so
 * an allocator can give back only what it can separate from them.  Every page of every block
 * is written (as a program would), so the resident set is the allocator's true footprint.
 *
 * The program samples its own resident set (VmRSS) every SAMPLE_EVERY allocations or frees and
 * after each phase; with -o FILE it writes that series ("time_s rss_kib phase live_kib") for a
 * chart.  After the timed work it reports final_rss_kib (resident with only the survivors live)
 * and live_kib (bytes the survivors asked for); with -w SECONDS it then stays idle that long,
 * sampling every 100 ms, and reports idle_rss_kib (what a purging allocator gets back in time).
 * Last, it frees the survivors and reports end_rss_kib.  peak_rss_kib is VmHWM as everywhere.
 *
 * ops = allocations plus frees in the timed part (the survivors' frees at the end are not
 * timed).  The bookkeeping (one entry per block) is in an mmap'd table,
 * not in the allocator under test. */
#include "bench_common.h"

#include <sys/mman.h>

#define NAME "frag"
#define BASE_FILL (48UL << 20)  /* bytes asked for by each fill at scale 1 */
#define CYCLES 3
#define KEEP_ONE_IN 32
#define SAMPLE_EVERY 8192        /* operations between RSS samples */
#define MAX_SAMPLES 16384
#define PAGE 4096

typedef struct {
	float t;
	long rss_kib;
	long live_kib;
	const char *phase;
} sample_t;

static bench_block_t *table;   /* all live blocks; survivors of past cycles at the front */
static size_t nblocks;
static size_t table_cap;
static uint64_t live_bytes;
static uint64_t ops;
static uint64_t made;
static uint64_t checksum;
static sample_t samples[MAX_SAMPLES];
static size_t nsamples;
static double t0;
static const char *phase;
static char phase_names[CYCLES][4][12];

static void sample(void)
{
	if (nsamples < MAX_SAMPLES)
		samples[nsamples++] = (sample_t){ (float)(bench_now() - t0), bench_rss_kib(),
						  (long)(live_bytes >> 10), phase };
}

static inline void count_op(void)
{
	if (++ops % SAMPLE_EVERY == 0)
		sample();
}

/* 50% 16..128, 30% 129..512, 15% 513..2048, 5% 2049..8192 bytes. */
static const bench_size_band_t fill_sizes[] = {
	{ 50, 16, 128 }, { 80, 129, 512 }, { 95, 513, 2048 }, { 100, 2049, 8192 },
};

/* 40% 256..2048, 40% 2049..16384, 20% 16385..131072 bytes. */
static const bench_size_band_t refill_sizes[] = {
	{ 40, 256, 2048 }, { 80, 2049, 16384 }, { 100, 16385, 131072 },
};

static void block_new(uint32_t size)
{
	if (nblocks == table_cap)
		bench_die(NAME, "block table full", ops);
	bench_block_t b = bench_block_new(NAME, size, bench_tag(made++), ops);
	/* Every page, not only the first and last: see the top of the file. */
	for (size_t k = PAGE; k < size - 1; k += PAGE)
		b.p[k] = (unsigned char)(b.tag >> 8);
	table[nblocks++] = b;
	live_bytes += size;
	count_op();
}

static void block_free(bench_block_t *b)
{
	for (size_t k = PAGE; k < b->size - 1u; k += PAGE)
		if (b->p[k] != (unsigned char)(b->tag >> 8))
			bench_die(NAME, "block contents changed while it was allocated", ops);
	checksum += bench_block_free(NAME, b, ops);
	live_bytes -= b->size;
	count_op();
}

/* Drop the freed entries from table[from..], keeping the order of the rest. */
static void compact(size_t from)
{
	size_t n = from;
	for (size_t i = from; i < nblocks; i++)
		if (table[i].p != NULL)
			table[n++] = table[i];
	nblocks = n;
}

static void set_phase(int cycle, int which)
{
	static const char *const names[4] = { "fill", "holes", "refill", "thin" };
	snprintf(phase_names[cycle][which], sizeof phase_names[cycle][which], "%s%d", names[which], cycle + 1);
	phase = phase_names[cycle][which];
}

static void write_series(const char *path)
{
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	fprintf(f, "# %s: resident set over time\n# time_s rss_kib phase live_kib\n", NAME);
	for (size_t i = 0; i < nsamples; i++)
		fprintf(f, "%.4f %ld %s %ld\n", samples[i].t, samples[i].rss_kib, samples[i].phase,
			samples[i].live_kib);
	if (fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	bench_opts_t o = { 1.0, 42, 1, NULL, 0.0 };
	bench_parse_opts(argc, argv, "o:w:", &o);
	uint64_t fill = bench_count((double)BASE_FILL, o.scale, 1 << 20);

	/* Room for a fill of the smallest blocks plus everything else: only the touched part of
	 * the mapping becomes resident. */
	table_cap = (size_t)(fill / 16 * 2 + 4096);
	table = mmap(NULL, table_cap * sizeof *table, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (table == MAP_FAILED)
		bench_die(NAME, "cannot map the block table", 0);

	bench_rng_t rng;
	bench_rng_seed(&rng, o.seed);
	phase = "start";
	t0 = bench_now();
	sample();

	for (int c = 0; c < CYCLES; c++) {
		size_t first = nblocks;  /* this cycle's blocks start here */

		set_phase(c, 0);
		for (uint64_t asked = 0; asked < fill;) {
			uint32_t size = bench_pick_size(fill_sizes, bench_rng_next(&rng));
			block_new(size);
			asked += size;
		}
		sample();

		set_phase(c, 1);
		uint64_t freed = 0;
		for (size_t i = first + 1; i < nblocks; i += 2) {
			freed += table[i].size;
			block_free(&table[i]);
		}
		compact(first);
		sample();

		set_phase(c, 2);
		for (uint64_t asked = 0; asked < freed;) {
			uint32_t size = bench_pick_size(refill_sizes, bench_rng_next(&rng));
			block_new(size);
			asked += size;
		}
		sample();

		set_phase(c, 3);
		for (size_t i = first; i < nblocks; i++)
			if (bench_rng_next(&rng) % KEEP_ONE_IN != 0)
				block_free(&table[i]);
		compact(first);
		sample();
	}
	double t1 = bench_now();
	uint64_t timed_ops = ops;
	long final_rss = bench_rss_kib();
	uint64_t survivors_kib = live_bytes >> 10;

	char extra[160];
	int len = snprintf(extra, sizeof extra, " final_rss_kib=%ld live_kib=%llu", final_rss,
			   (unsigned long long)survivors_kib);
	if (o.wait > 0) {
		phase = "idle";
		double until = bench_now() + o.wait;
		while (bench_now() < until) {
			usleep(100000);
			sample();
		}
		len += snprintf(extra + len, sizeof extra - (size_t)len, " idle_rss_kib=%ld", bench_rss_kib());
	}

	phase = "end";
	for (size_t i = 0; i < nblocks; i++)
		block_free(&table[i]);
	nblocks = 0;
	sample();
	snprintf(extra + len, sizeof extra - (size_t)len, " end_rss_kib=%ld", bench_rss_kib());

	if (o.out != NULL)
		write_series(o.out);
	bench_report_extra(NAME, t1 - t0, timed_ops, checksum, extra);
	munmap(table, table_cap * sizeof *table);
	return 0;
}
