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

/* Common command line: [-s SCALE] [-S SEED].  SCALE multiplies the fixed amount of work. */
static inline void bench_parse_args(int argc, char **argv, double *scale, uint64_t *seed)
{
	int c;
	while ((c = getopt(argc, argv, "s:S:h")) != -1) {
		switch (c) {
		case 's':
			*scale = strtod(optarg, NULL);
			if (!(*scale > 0.0)) {
				fprintf(stderr, "%s: bad scale '%s'\n", argv[0], optarg);
				exit(2);
			}
			break;
		case 'S':
			*seed = strtoull(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: %s [-s SCALE] [-S SEED]\n", argv[0]);
			exit(c == 'h' ? 0 : 2);
		}
	}
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

static inline void bench_report(const char *name, double seconds, uint64_t ops, uint64_t checksum)
{
	struct rusage ru;
	double cpu = 0.0;
	long peak = bench_peak_rss_kib();
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
		      (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
	printf("bench=%s seconds=%.6f ops=%llu ops_per_sec=%.0f cpu=%.3f peak_rss_kib=%ld checksum=%016llx "
	       "malloc_from=%s\n",
	       name, seconds, (unsigned long long)ops, seconds > 0 ? (double)ops / seconds : 0.0, cpu, peak,
	       (unsigned long long)checksum, bench_malloc_origin());
	fflush(stdout);
}

static inline void bench_die(const char *name, const char *what, uint64_t at)
{
	fprintf(stderr, "bench=%s error: %s (at op %llu)\n", name, what, (unsigned long long)at);
	fflush(stderr);
	abort();
}

#endif /* BENCH_COMMON_H */
