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

/* pthread_create, or a clear failure. */
static inline void bench_start_thread(const char *name, pthread_t *t, void *(*fn)(void *), void *arg)
{
	if (pthread_create(t, NULL, fn, arg) != 0) {
		fprintf(stderr, "bench=%s error: pthread_create failed\n", name);
		exit(1);
	}
}

#endif /* BENCH_COMMON_H */
