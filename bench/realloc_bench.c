/* realloc_bench: realloc-heavy growth: string builders and vectors.
 *
 * ACTIVE builders grow in turns, each step appending a piece.  Four kinds, chosen at random:
 *   string, exact:   pieces of 1..32 bytes, realloc to the exact new length at every append
 *                    (final length 256 B..64 KiB);
 *   string, doubled: pieces of 1..64 bytes into a buffer whose capacity doubles (1 KiB..1 MiB);
 *   vector, x1.5:    32-byte structs pushed 1..16 at a time, capacity grown by half (1 KiB..4 MiB);
 *   vector, +2 KiB:  the same with capacity grown by 64 elements at a time (1 KiB..256 KiB).
 * Final lengths are log-uniform in the ranges given.  Vectors start from realloc(NULL, ..).
 * A finished builder is shrunk to fit with realloc, checked in full, then either freed or kept
 * for a while in a small pool of results (replacing a random older one).  Between steps, blocks
 * of 16..2048 bytes in a pool of NOISE_SLOTS are replaced at random, so the neighbours of a
 * growing block change and growth in place is not always possible.
 *
 * Every byte (or element) has a value given by its position and the builder's key; after each
 * realloc the first, middle and last of the old contents are checked, and everything is
 * checked when the builder finishes.  Pool blocks carry tags checked before they are freed.
 *
 * ops = realloc calls (growth, realloc(NULL, ..) and the shrinks). */
#include "bench_common.h"

#define NAME "realloc"
#define BASE_BUILDS 3000   /* builders finished at scale 1 */
#define ACTIVE 4           /* builders growing at once, in turns */
#define NOISE_SLOTS 256    /* other live blocks, replaced between growth steps */
#define KEEP_SLOTS 32      /* finished results kept for a while */

enum kind { STR_EXACT, STR_DOUBLE, VEC_HALF, VEC_STEP };

typedef struct {
	uint64_t index, key, a, b;
} elem_t;

typedef struct {
	enum kind kind;
	unsigned char *p;
	size_t len;     /* bytes in use */
	size_t cap;     /* bytes allocated */
	size_t target;  /* grow until len reaches this */
	uint64_t key;
} builder_t;

typedef struct {
	unsigned char *p;
	uint64_t tag;
	size_t size;
} block_t;

static uint64_t ops;
static uint64_t serial; /* builders and blocks made: the source of keys and tags */

static inline unsigned char str_byte(uint64_t key, size_t k)
{
	return (unsigned char)((key >> (8 * (k & 7))) ^ (k >> 3));
}

static inline elem_t vec_elem(uint64_t key, uint64_t i)
{
	return (elem_t){ i, key ^ i, key + i * 0x9e3779b97f4a7c15ULL, i * 31 + (key >> 7) };
}

static inline int is_vector(const builder_t *b)
{
	return b->kind == VEC_HALF || b->kind == VEC_STEP;
}

/* Log-uniform in [lo, hi) for powers of two lo < hi: an octave at random, then a size in it. */
static size_t log_uniform(bench_rng_t *rng, size_t lo, size_t hi)
{
	unsigned octaves = 0;
	while ((lo << octaves) < hi)
		octaves++;
	uint64_t r = bench_rng_next(rng);
	size_t base = lo << (r % octaves);
	return base + (size_t)((r >> 16) % base);
}

/* Is the content at byte offset k (a string byte, or the element holding it) what it must be? */
static inline int content_ok(const builder_t *b, size_t k)
{
	if (!is_vector(b))
		return b->p[k] == str_byte(b->key, k);
	elem_t e = vec_elem(b->key, k / sizeof(elem_t));
	return memcmp(b->p + k / sizeof(elem_t) * sizeof(elem_t), &e, sizeof e) == 0;
}

static void resize(builder_t *b, size_t cap)
{
	size_t old = b->len;
	unsigned char *p = realloc(b->p, cap);
	ops++;
	if (p == NULL)
		bench_die(NAME, "realloc returned NULL", ops);
	b->p = p;
	b->cap = cap;
	if (old > 0 && (!content_ok(b, 0) || !content_ok(b, old / 2) || !content_ok(b, old - 1)))
		bench_die(NAME, "contents did not survive realloc", ops);
}

static void builder_start(builder_t *b, bench_rng_t *rng)
{
	uint64_t r = bench_rng_next(rng);
	unsigned c = (unsigned)(r % 20);
	b->kind = c < 8 ? STR_EXACT : c < 13 ? STR_DOUBLE : c < 17 ? VEC_HALF : VEC_STEP;
	b->key = bench_tag(serial++);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	switch (b->kind) {
	case STR_EXACT:
		b->target = log_uniform(rng, 256, 64 << 10);
		break;
	case STR_DOUBLE:
		b->target = log_uniform(rng, 1 << 10, 1 << 20);
		b->p = malloc(16);
		if (b->p == NULL)
			bench_die(NAME, "malloc returned NULL", ops);
		b->cap = 16;
		break;
	case VEC_HALF:
		b->target = log_uniform(rng, 1 << 10, 4 << 20);
		resize(b, 4 * sizeof(elem_t));
		break;
	case VEC_STEP:
		b->target = log_uniform(rng, 1 << 10, 256 << 10);
		resize(b, 64 * sizeof(elem_t));
		break;
	}
}

/* Append one piece; returns 1 when the builder has reached its length. */
static int builder_step(builder_t *b, bench_rng_t *rng)
{
	uint64_t r = bench_rng_next(rng);
	size_t n;
	switch (b->kind) {
	case STR_EXACT:
		n = 1 + r % 32;
		resize(b, b->len + n);
		break;
	case STR_DOUBLE:
		n = 1 + r % 64;
		while (b->len + n > b->cap)
			resize(b, b->cap * 2);
		break;
	case VEC_HALF:
		n = (1 + r % 16) * sizeof(elem_t);
		while (b->len + n > b->cap)
			resize(b, (b->cap / sizeof(elem_t) + b->cap / sizeof(elem_t) / 2) * sizeof(elem_t));
		break;
	default:
		n = (1 + r % 16) * sizeof(elem_t);
		if (b->len + n > b->cap)
			resize(b, b->cap + 64 * sizeof(elem_t));
		break;
	}
	if (is_vector(b)) {
		for (size_t i = b->len / sizeof(elem_t); i < (b->len + n) / sizeof(elem_t); i++) {
			elem_t e = vec_elem(b->key, i);
			memcpy(b->p + i * sizeof(elem_t), &e, sizeof e);
		}
	} else {
		for (size_t k = b->len; k < b->len + n; k++)
			b->p[k] = str_byte(b->key, k);
	}
	b->len += n;
	return b->len >= b->target;
}

/* Check everything; returns a digest of the contents. */
static uint64_t builder_check(const builder_t *b)
{
	uint64_t sum = b->len;
	if (is_vector(b)) {
		for (size_t i = 0; i < b->len / sizeof(elem_t); i++) {
			elem_t e = vec_elem(b->key, i), got;
			memcpy(&got, b->p + i * sizeof(elem_t), sizeof got);
			if (memcmp(&got, &e, sizeof e) != 0)
				bench_die(NAME, "vector element changed", ops);
			sum += got.a;
		}
	} else {
		for (size_t k = 0; k < b->len; k++) {
			if (b->p[k] != str_byte(b->key, k))
				bench_die(NAME, "string byte changed", ops);
			sum += (uint64_t)b->p[k] << (k & 31);
		}
	}
	return sum;
}

static void block_new(block_t *blk, size_t size)
{
	uint64_t tag = bench_tag(serial++);
	unsigned char *p = malloc(size);
	if (p == NULL)
		bench_die(NAME, "malloc returned NULL", ops);
	memcpy(p, &tag, sizeof tag);
	p[size - 1] = (unsigned char)(tag >> 56);
	*blk = (block_t){ p, tag, size };
}

static uint64_t block_free(block_t *blk)
{
	uint64_t t;
	if (blk->p == NULL)
		return 0;
	memcpy(&t, blk->p, sizeof t);
	if (t != blk->tag || blk->p[blk->size - 1] != (unsigned char)(blk->tag >> 56))
		bench_die(NAME, "block contents changed while it was allocated", ops);
	free(blk->p);
	blk->p = NULL;
	return t;
}

int main(int argc, char **argv)
{
	static block_t noise[NOISE_SLOTS];
	static builder_t kept[KEEP_SLOTS];  /* finished results; p == NULL when empty */
	builder_t active[ACTIVE];
	int running[ACTIVE];
	bench_rng_t rng;
	uint64_t builds = bench_start(argc, argv, BASE_BUILDS, ACTIVE, &rng);
	uint64_t checksum = 0, started = 0, finished = 0;

	double t0 = bench_now();
	for (size_t i = 0; i < NOISE_SLOTS; i++)
		block_new(&noise[i], 16 + bench_rng_next(&rng) % 2033);
	for (size_t i = 0; i < ACTIVE; i++, started++) {
		builder_start(&active[i], &rng);
		running[i] = 1;
	}

	for (size_t turn = 0; finished < builds; turn = (turn + 1) % ACTIVE) {
		builder_t *b = &active[turn];
		if (!running[turn])
			continue;
		if (builder_step(b, &rng)) {
			resize(b, b->len);  /* shrink to fit */
			checksum += builder_check(b);
			finished++;
			uint64_t r = bench_rng_next(&rng);
			if (r & 1) {
				builder_t *k = &kept[(r >> 8) % KEEP_SLOTS];
				if (k->p != NULL) {
					checksum ^= builder_check(k);
					free(k->p);
				}
				*k = *b;
			} else {
				free(b->p);
			}
			if (started < builds) {
				builder_start(b, &rng);
				started++;
			} else {
				running[turn] = 0;
			}
		}
		uint64_t r = bench_rng_next(&rng);
		if ((r & 3) == 0) {
			block_t *blk = &noise[(r >> 8) % NOISE_SLOTS];
			checksum += block_free(blk);
			block_new(blk, 16 + (r >> 20) % 2033);
		}
	}

	for (size_t i = 0; i < KEEP_SLOTS; i++) {
		if (kept[i].p != NULL) {
			checksum ^= builder_check(&kept[i]);
			free(kept[i].p);
		}
	}
	for (size_t i = 0; i < NOISE_SLOTS; i++)
		checksum += block_free(&noise[i]);
	double t1 = bench_now();

	bench_report(NAME, t1 - t0, ops, checksum);
	return 0;
}
