/* micro.h: timing and reporting shared by the microbenchmarks of bench/micro (see README there).
 *
 * A measurement runs a loop body N times and reports nanoseconds per iteration.  N is
 * calibrated first: the body runs 1, 10, 100 ... (then doubling) iterations until one run takes
 * a tenth of the target time; those runs are the warm-up.  The timed run then does as many
 * iterations as should fill the target (at least one).  Each result is one line on stdout:
 *
 *   result test=<t> variant=<v> param=<p> iters=<n> seconds=<s> ns=<ns per iteration>
 *          cpu_ns=<CPU ns per iteration>
 *
 * and every program starts with a line naming where malloc came from, so tools/bench-micro can
 * tell that the allocator it linked or preloaded is the one running:
 *
 *   info malloc_from=<object> [more key=value pairs]
 *
 * The bodies check what they can (tags written into each block and read back before it goes,
 * buffer contents after every move) and abort with a message when a check fails, so a broken
 * allocator cannot report a fast time. */
#ifndef MICRO_H
#define MICRO_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The body of a measurement: runs iters iterations on ctx. */
typedef void (*micro_body_t)(void *ctx, uint64_t iters);

static double micro_target = 0.2; /* seconds per timed run (-t) */

static inline double micro_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Keeps the compiler from dropping a malloc/free pair whose block it thinks nobody reads. */
static inline void micro_escape(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

__attribute__((noreturn, format(printf, 1, 2))) static void micro_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("micro: check failed: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fflush(stdout);
	abort();
}

static inline double micro_cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Calibrate, warm up and time body on ctx; print the result line.  Besides the wall time
 * (CLOCK_MONOTONIC, the figure reported) the line gives the thread's CPU time (user and
 * system), which leaves out the time the thread waited for a core on a busy machine. */
static inline void micro_measure(const char *test, const char *variant, const char *param,
				 micro_body_t body, void *ctx)
{
	uint64_t n = 1;
	double t;
	for (;;) {
		double t0 = micro_now();
		body(ctx, n);
		t = micro_now() - t0;
		if (t >= micro_target / 10 || n >= (UINT64_C(1) << 40))
			break;
		n *= t < micro_target / 1000 ? 10 : 2;
	}
	double want = (double)n * micro_target / (t > 0 ? t : 1e-9);
	uint64_t iters = want < 1 ? 1 : (uint64_t)want;
	double c0 = micro_cpu_now();
	double t0 = micro_now();
	body(ctx, iters);
	t = micro_now() - t0;
	double c = micro_cpu_now() - c0;
	printf("result test=%s variant=%s param=%s iters=%llu seconds=%.6f ns=%.3f cpu_ns=%.3f\n", test,
	       variant, param, (unsigned long long)iters, t, t * 1e9 / (double)iters, c * 1e9 / (double)iters);
	fflush(stdout);
}

/* The object whose malloc the dynamic linker binds the program's calls to (the executable
 * itself when an allocator is linked in statically). */
static inline const char *micro_malloc_origin(void)
{
	Dl_info info;
	void *sym = dlsym(RTLD_DEFAULT, "malloc");
	if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL || info.dli_fname[0] == '\0')
		return "?";
	return info.dli_fname;
}

/* Common options: -t SECONDS (target time of a timed run), -r ROUND (the driver's repetition
 * number: programs rotate the order of their variants with it, so no variant always runs first
 * after a size change). */
static inline unsigned micro_parse_args(int argc, char **argv)
{
	unsigned round = 0;
	int c;
	while ((c = getopt(argc, argv, "t:r:h")) != -1) {
		switch (c) {
		case 't':
			micro_target = strtod(optarg, NULL);
			if (!(micro_target > 0)) {
				fprintf(stderr, "%s: bad -t '%s'\n", argv[0], optarg);
				exit(2);
			}
			break;
		case 'r':
			round = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: %s [-t SECONDS] [-r ROUND]\n", argv[0]);
			exit(c == 'h' ? 0 : 2);
		}
	}
	return round;
}

/* A tag for the word at index i of a block or buffer: cheap, and different for every index and
 * every block, so a block that overlaps another or lost its contents is noticed. */
static inline uint64_t micro_tag(uint64_t block, uint64_t i)
{
	return (block * UINT64_C(0x9e3779b97f4a7c15)) ^ (i * UINT64_C(0xbf58476d1ce4e5b9)) ^ 0x5bd1e995;
}

#endif /* MICRO_H */
