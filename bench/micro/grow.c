/* grow.c: what resizing in place saves on a growing buffer (a string builder, a vector).  One
 * iteration builds a buffer from 64 bytes up to a target size, by steps of +64 bytes or x1.5,
 * writing every byte it adds (as the program filling the buffer would), then frees it.  Ways
 * of growing it:
 *
 *   realloc   p = realloc(p, new)
 *   copy      q = malloc(new); memcpy(q, p, old); free(p): what a program does that cannot
 *             rely on realloc (or wraps an allocator without it)
 *   rallocx   p = rallocx(p, new, 0)
 *   xallocx   xallocx(p, new, 0, 0) to grow in place, rallocx when that falls short
 *
 * rallocx and xallocx are weak references: measured where the allocator the program is linked
 * against exports them.  copy is left out of +64-byte growth to 64 MiB, which would copy
 * about 32 TiB.  Each step checks the buffer's first word and the last word it had before
 * the step (both still in cache); the first build-up of each measurement, which is part of
 * the untimed warm-up, checks every word of the finished buffer. */
#include "micro.h"

extern void *rallocx(void *ptr, size_t size, int flags) __attribute__((weak));
extern size_t xallocx(void *ptr, size_t size, size_t extra, int flags) __attribute__((weak));

enum method { M_REALLOC, M_COPY, M_RALLOCX, M_XALLOCX, M_COUNT };
static const char *const method_name[M_COUNT] = {"realloc", "copy", "rallocx", "xallocx"};

#define START 64

struct grow {
	enum method method;
	size_t target;
	int mul; /* x1.5 steps, else +64 bytes */
	uint64_t serial; /* build-ups so far: each writes its own pattern */
	int verify; /* check every word of the next finished buffer */
};

static void fill(uint64_t *w, size_t from, size_t to, uint64_t id)
{
	for (size_t i = from; i < to; i++)
		w[i] = micro_tag(id, i);
}

static uint64_t *resize(enum method m, uint64_t *p, size_t old, size_t new)
{
	void *q;
	switch (m) {
	case M_REALLOC:
		return realloc(p, new);
	case M_COPY:
		q = malloc(new);
		if (q != NULL) {
			memcpy(q, p, old);
			free(p);
		}
		return q;
	case M_RALLOCX:
		return rallocx(p, new, 0);
	case M_XALLOCX:
		if (xallocx(p, new, 0, 0) >= new)
			return p;
		return rallocx(p, new, 0);
	default:
		abort();
	}
}

static void build_up(struct grow *g)
{
	uint64_t id = ++g->serial;
	size_t size = START;
	uint64_t *p = malloc(size);
	if (p == NULL)
		micro_fail("malloc(%d) failed", START);
	fill(p, 0, size / 8, id);
	while (size < g->target) {
		size_t new = g->mul ? ((size + size / 2) + 7) & ~(size_t)7 : size + 64;
		if (new > g->target)
			new = g->target;
		uint64_t *q = resize(g->method, p, size, new);
		if (q == NULL)
			micro_fail("%s to %zu bytes failed", method_name[g->method], new);
		if (q[0] != micro_tag(id, 0) || q[size / 8 - 1] != micro_tag(id, size / 8 - 1))
			micro_fail("%s from %zu to %zu bytes lost the contents", method_name[g->method], size,
				   new);
		fill(q, size / 8, new / 8, id);
		p = q;
		size = new;
	}
	if (g->verify) {
		g->verify = 0;
		for (size_t i = 0; i < size / 8; i++)
			if (p[i] != micro_tag(id, i))
				micro_fail("%s: word %zu of %zu bytes is wrong at the end", method_name[g->method],
					   i, size);
	}
	micro_escape(p);
	free(p);
}

static void body(void *ctx, uint64_t iters)
{
	for (uint64_t i = 0; i < iters; i++)
		build_up(ctx);
}

static const struct {
	const char *name;
	size_t target;
	int mul;
} scenarios[] = {
	{"add64-1M", 1 << 20, 0},
	{"mul1.5-1M", 1 << 20, 1},
	{"add64-64M", 64 << 20, 0},
	{"mul1.5-64M", 64 << 20, 1},
};

int main(int argc, char **argv)
{
	unsigned round = micro_parse_args(argc, argv);
	int have_ext = rallocx != NULL && xallocx != NULL;

	printf("info malloc_from=%s ext=%s\n", micro_malloc_origin(), have_ext ? "rallocx,xallocx" : "none");
	for (size_t s = 0; s < sizeof scenarios / sizeof *scenarios; s++) {
		for (unsigned k = 0; k < M_COUNT; k++) {
			enum method m = (k + round) % M_COUNT;
			if ((m == M_RALLOCX || m == M_XALLOCX) && !have_ext)
				continue;
			if (m == M_COPY && !scenarios[s].mul && scenarios[s].target > (1 << 20))
				continue; /* quadratic: see the top of the file */
			/* The first build-up, part of the untimed warm-up, is checked through. */
			struct grow g = {.method = m, .target = scenarios[s].target, .mul = scenarios[s].mul,
					 .verify = 1};
			micro_measure("grow", method_name[m], scenarios[s].name, body, &g);
		}
	}
	return 0;
}
