/* bench_common.h: small helpers shared by the hmalloc benchmark programs.
 *
 * The benchmarks use only the standard malloc family, so any allocator can be put under them
 * with LD_PRELOAD.  Each program does a fixed amount of work and prints one result line:
 *
 *   bench=<name> seconds=<s> ops=<n> ops_per_sec=<r> cpu=<s> peak_rss_kib=<k> checksum=<x> malloc_from=<path>
 *
 * seconds is the wall time of the timed work only (no process start or exit); cpu is the
 * user+system time of the whole process so far, and peak_rss_kib its peak resident set
 * (VmHWM).  VmHWM is used rather than getrusage's ru_maxrss because ru_maxrss also counts the
 * resident set the process had before exec, i.e. that of whatever forked it (a Python runner's
 * 15+ MiB would swamp a small benchmark).
 * malloc_from names the shared object whose malloc the dynamic linker chose (the first
 * definition in global search order), so the runner can check that a preload really took
 * effect; ld.so only warns and carries on with glibc when a preload cannot be loaded. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

static inline double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64*: fast, good enough to drive size and lifetime choices, and reproducible. */
typedef struct {
	uint64_t s;
} bench_rng_t;

static inline void bench_rng_seed(bench_rng_t *r, uint64_t seed)
{
	r->s = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

static inline uint64_t bench_rng_next(bench_rng_t *r)
{
	uint64_t x = r->s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* A well-mixed 64-bit value derived from n, stored in blocks and checked when they are freed. */
static inline uint64_t bench_tag(uint64_t n)
{
	n += 0x9e3779b97f4a7c15ULL;
	n = (n ^ (n >> 30)) * 0xbf58476d1ce4e5b9ULL;
	n = (n ^ (n >> 27)) * 0x94d049bb133111ebULL;
	return n ^ (n >> 31);
}

/* Which loaded object provides malloc?  Returns a path, or "?" when it cannot be told. */
static inline const char *bench_malloc_origin(void)
{
	Dl_info info;
	void *sym = dlsym(RTLD_DEFAULT, "malloc");
	if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL || info.dli_fname[0] == '\0')
		return "?";
	return info.dli_fname;
}

/* Command line.  All programs take -s SCALE (multiplies the fixed amount of work) and -S SEED;
 * a program names the extra options it takes in `extra`, from:
 *   t:  -t THREADS   worker threads (the work per thread stays fixed, so ops_per_sec is
 *                    comparable across thread counts)
 *   o:  -o FILE      write a data series (e.g. RSS over time) to FILE
 *   w:  -w SECONDS   after the timed work, stay idle this long (sampling what the program samples) */
typedef struct {
	double scale;
	uint64_t seed;
	int threads;
	const char *out;
	double wait;
} bench_opts_t;

#define BENCH_MAX_THREADS 256

static inline void bench_usage(const char *prog, const char *extra, int status)
{
	fprintf(status ? stderr : stdout, "usage: %s [-s SCALE] [-S SEED]%s%s%s\n", prog,
		strchr(extra, 't') ? " [-t THREADS]" : "", strchr(extra, 'o') ? " [-o FILE]" : "",
		strchr(extra, 'w') ? " [-w SECONDS]" : "");
	exit(status);
}

static inline void bench_parse_opts(int argc, char **argv, const char *extra, bench_opts_t *o)
{
	char optstring[32];
	int c;
	snprintf(optstring, sizeof optstring, "s:S:h%s", extra);
	while ((c = getopt(argc, argv, optstring)) != -1) {
		char *end;
		switch (c) {
		case 's':
			o->scale = strtod(optarg, &end);
			if (*end != '\0' || !(o->scale > 0.0)) {
				fprintf(stderr, "%s: bad scale '%s'\n", argv[0], optarg);
				exit(2);
			}
			break;
		case 'S':
			o->seed = strtoull(optarg, NULL, 0);
			break;
		case 't': {
			long t = strtol(optarg, &end, 10);
			if (*end != '\0' || t < 1 || t > BENCH_MAX_THREADS) {
				fprintf(stderr, "%s: bad thread count '%s' (1..%d)\n", argv[0], optarg, BENCH_MAX_THREADS);
				exit(2);
			}
			o->threads = (int)t;
			break;
		}
		case 'o':
			o->out = optarg;
			break;
		case 'w':
			o->wait = strtod(optarg, &end);
			if (*end != '\0' || !(o->wait >= 0.0)) {
				fprintf(stderr, "%s: bad wait '%s'\n", argv[0], optarg);
				exit(2);
			}
			break;
		case 'h':
			bench_usage(argv[0], extra, 0);
			break;
		default:
			bench_usage(argv[0], extra, 2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		bench_usage(argv[0], extra, 2);
	}
}

/* The plain command line of the single-thread programs: [-s SCALE] [-S SEED]. */
static inline void bench_parse_args(int argc, char **argv, double *scale, uint64_t *seed)
{
	bench_opts_t o = { *scale, *seed, 1, NULL, 0.0 };
	bench_parse_opts(argc, argv, "", &o);
	*scale = o.scale;
	*seed = o.seed;
}

/* Work at this scale: base * scale, but at least min (a program needs some minimum to mean
 * anything, e.g. one op per live slot). */
static inline uint64_t bench_count(double base, double scale, uint64_t min)
{
	uint64_t n = (uint64_t)(base * scale);
	return n < min ? min : n;
}

/* The start of a single-thread program: parse [-s SCALE] [-S SEED], seed rng, and return the
 * number of ops to do (bench_count). */
static inline uint64_t bench_start(int argc, char **argv, double base, uint64_t min, bench_rng_t *rng)
{
	double scale = 1.0;
	uint64_t seed = 42;
	bench_parse_args(argc, argv, &scale, &seed);
	bench_rng_seed(rng, seed);
	return bench_count(base, scale, min);
}

/* Resident set now, in KiB (VmRSS, from /proc/self/statm: one read, no parsing of names). */
static inline long bench_rss_kib(void)
{
	long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Peak resident set of this process image in KiB: VmHWM, or ru_maxrss where /proc is missing. */
static inline long bench_peak_rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (f != NULL) {
		while (fgets(line, sizeof line, f) != NULL) {
			if (strncmp(line, "VmHWM:", 6) == 0) {
				kib = strtol(line + 6, NULL, 10);
				break;
			}
		}
		fclose(f);
	}
	if (kib < 0) {
		struct rusage ru;
		kib = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
	}
	return kib;
}

/* The result line.  `extra`, when not NULL, adds fields (" key=value ...", with the leading space)
 * before malloc_from, which stays last since it is a path. */
static inline void bench_report_extra(const char *name, double seconds, uint64_t ops, uint64_t checksum,
				      const char *extra)
{
	struct rusage ru;
	double cpu = 0.0;
	long peak = bench_peak_rss_kib();
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
		      (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
	printf("bench=%s seconds=%.6f ops=%llu ops_per_sec=%.0f cpu=%.3f peak_rss_kib=%ld checksum=%016llx%s "
	       "malloc_from=%s\n",
	       name, seconds, (unsigned long long)ops, seconds > 0 ? (double)ops / seconds : 0.0, cpu, peak,
	       (unsigned long long)checksum, extra ? extra : "", bench_malloc_origin());
	fflush(stdout);
}

static inline void bench_report(const char *name, double seconds, uint64_t ops, uint64_t checksum)
{
	bench_report_extra(name, seconds, ops, checksum, NULL);
}

static inline void bench_die(const char *name, const char *what, uint64_t at)
{
	fprintf(stderr, "bench=%s error: %s (at op %llu)\n", name, what, (unsigned long long)at);
	fflush(stderr);
	abort();
}

/* A small block marked where a stray write most likely lands: its tag in the first word and the
 * tag's top byte in the last byte.  Two writes and two reads: cheap enough for a benchmark of
 * small blocks, and they catch an allocator that hands out one block twice or overlaps two. */
typedef struct {
	unsigned char *p;
	uint64_t tag;
	uint32_t size;
} bench_block_t;

/* malloc size bytes (at least 8) and mark them with tag; `at` is the op number for the message. */
static inline bench_block_t bench_block_new(const char *name, uint32_t size, uint64_t tag, uint64_t at)
{
	unsigned char *p = malloc(size);
	if (p == NULL)
		bench_die(name, "malloc returned NULL", at);
	memcpy(p, &tag, sizeof tag);
	p[size - 1] = (unsigned char)(tag >> 56);
	return (bench_block_t){ p, tag, size };
}

/* Dies unless the marks are intact; returns the tag (what the programs add to their checksum). */
static inline uint64_t bench_block_check(const char *name, const bench_block_t *b, uint64_t at)
{
	uint64_t t;
	memcpy(&t, b->p, sizeof t);
	if (t != b->tag || b->p[b->size - 1] != (unsigned char)(b->tag >> 56))
		bench_die(name, "block contents changed while it was allocated", at);
	return t;
}

/* Check, free, and mark the entry empty (p = NULL); returns the tag. */
static inline uint64_t bench_block_free(const char *name, bench_block_t *b, uint64_t at)
{
	uint64_t t = bench_block_check(name, b, at);
	free(b->p);
	b->p = NULL;
	return t;
}

/* A big block is not filled: a memset of megabytes, or a page fault for every page (~50 us each
 * on the project's VM), would be all that was measured.  Instead word i of `points`, at offset
 * step * i rounded down to a word, holds tag + i; the caller chooses step and points so that the
 * words lie inside the block and do not overlap. */
typedef struct {
	unsigned char *p;
	size_t size;
	uint64_t tag;
	size_t step;
	size_t points;
} bench_big_t;

static inline size_t bench_big_offset(const bench_big_t *b, size_t i)
{
	return b->step * i & ~(size_t)7;
}

static inline void bench_big_touch(const bench_big_t *b)
{
	for (size_t i = 0; i < b->points; i++) {
		uint64_t v = b->tag + i;
		memcpy(b->p + bench_big_offset(b, i), &v, sizeof v);
	}
}

/* Check the words, free the block and mark the entry empty; returns the sum of the words (0 for
 * an empty entry). */
static inline uint64_t bench_big_free(const char *name, bench_big_t *b, uint64_t at)
{
	uint64_t sum = 0;
	if (b->p == NULL)
		return 0;
	for (size_t i = 0; i < b->points; i++) {
		uint64_t v;
		memcpy(&v, b->p + bench_big_offset(b, i), sizeof v);
		if (v != b->tag + i)
			bench_die(name, "block contents changed while it was allocated", at);
		sum += v;
	}
	free(b->p);
	b->p = NULL;
	return sum;
}

/* A size distribution as bands: a pick falls in the first band whose `below` exceeds a uniform
 * percentile 0..99, and is then uniform in [lo, hi].  The last band has below = 100. */
typedef struct {
	uint32_t below, lo, hi;
} bench_size_band_t;

static inline uint32_t bench_pick_size(const bench_size_band_t *band, uint64_t r)
{
	uint32_t c = (uint32_t)(r % 100), v = (uint32_t)(r >> 16);
	while (c >= band->below)
		band++;
	return band->lo + v % (band->hi - band->lo + 1);
}

/* pthread_create, or a clear failure. */
static inline void bench_start_thread(const char *name, pthread_t *t, void *(*fn)(void *), void *arg)
{
	if (pthread_create(t, NULL, fn, arg) != 0) {
		fprintf(stderr, "bench=%s error: pthread_create failed\n", name);
		exit(1);
	}
}

#endif /* BENCH_COMMON_H */
