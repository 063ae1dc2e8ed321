/* fastpath: malloc(32)+free pairs, warm, for counting the fast path's instructions.
 *
 *   fastpath N [free|sdallocx]
 *
 * tools/bench --callgrind runs this under valgrind --tool=callgrind --toggle-collect=fastpath_loop
 * twice, with two values of N, and takes (Ir(N2) - Ir(N1)) / (N2 - N1) as the instructions of
 * one pair: the difference cancels the loop's entry and whatever one-off work (a cache refill,
 * a flush) falls inside it.  The runner compiles this file itself, with -O2 and default PLT
 * calls (not -fno-plt), and it is not one of the *_bench programs.
 *
 * malloc and free are called through the PLT, as a program with the allocator preloaded calls
 * them.  sdallocx is looked up with dlsym and called through the pointer (an indirect call in
 * place of the PLT's indirect jump: the same cost give or take the jump); only allocators that
 * export it have it.  Before the loop, WARMUP pairs fill the thread cache and resolve the lazy
 * PLT entries.  The pointer goes through a volatile store so the compiler cannot pair the
 * malloc with the free and drop both.
 *
 * Prints one line: fastpath mode=<m> n=<N> malloc_from=<object> sdallocx_from=<object or ->,
 * so the runner can check that valgrind did not put its own malloc in place of the preloaded
 * one (callgrind does not; memcheck and massif do). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WARMUP 10000
#define SIZE 32

typedef void (*sdallocx_fn)(void *, size_t, int);

static void *volatile sink;

static const char *origin(void *sym)
{
	Dl_info info;
	if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL || info.dli_fname[0] == '\0')
		return "-";
	return info.dli_fname;
}

static inline void pairs(long n, sdallocx_fn sized)
{
	if (sized != NULL) {
		for (long i = 0; i < n; i++) {
			void *p = malloc(SIZE);
			sink = p;
			sized(p, SIZE, 0);
		}
	} else {
		for (long i = 0; i < n; i++) {
			void *p = malloc(SIZE);
			sink = p;
			free(p);
		}
	}
}

__attribute__((noinline)) void fastpath_warmup(sdallocx_fn sized)
{
	pairs(WARMUP, sized);
}

/* The measured loop: callgrind collects only inside this function (and what it calls). */
__attribute__((noinline)) void fastpath_loop(long n, sdallocx_fn sized)
{
	pairs(n, sized);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s N [free|sdallocx]\n", argv[0]);
		return 2;
	}
	long n = strtol(argv[1], NULL, 10);
	const char *mode = argc > 2 ? argv[2] : "free";
	sdallocx_fn sized = NULL;
	void *sym = dlsym(RTLD_DEFAULT, "sdallocx");
	if (strcmp(mode, "sdallocx") == 0) {
		if (sym == NULL) {
			fprintf(stderr, "%s: no sdallocx in this process\n", argv[0]);
			return 3;
		}
		sized = (sdallocx_fn)sym;
	} else if (strcmp(mode, "free") != 0) {
		fprintf(stderr, "%s: unknown mode '%s'\n", argv[0], mode);
		return 2;
	}

	fastpath_warmup(sized);
	fastpath_loop(n, sized);

	printf("fastpath mode=%s n=%ld malloc_from=%s sdallocx_from=%s\n", mode, n,
	       origin(dlsym(RTLD_DEFAULT, "malloc")), origin(sym));
	return 0;
}
