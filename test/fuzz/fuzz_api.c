/* fuzz_api: a libFuzzer target that reads its input as a program of allocator calls over the
 * whole API and checks every result against a shadow model.
 *
 * hmalloc is linked into the fuzzer as the process allocator (libFuzzer's own allocations go
 * through it too), built with clang and coverage instrumentation by test/fuzz/fuzz_test.sh.
 * Up to NSLOTS blocks are live at a time; the shadow of each holds the pointer, the size asked
 * for, the alignment asked for and a seed from which its contents are derived.  Checked:
 *
 *   - every allocation that should succeed does, at the alignment asked, with a usable size
 *     (malloc_usable_size, sallocx) of at least the size asked, equal to nallocx's answer;
 *   - memory promised zero is zero (calloc, MALLOCX_ZERO, the growth of rallocx with it);
 *   - contents survive everything done to other blocks, and realloc/rallocx keep the prefix;
 *   - xallocx never moves a block and returns its usable size;
 *   - requests that must fail (sizes past PTRDIFF_MAX, overflowing calloc/reallocarray, bad
 *     alignments) fail the documented way (NULL and ENOMEM/EINVAL, posix_memalign's return
 *     value with *memptr untouched), leaving the old block of a failed resize intact;
 *   - thread.allocated - thread.deallocated is back where it was once everything is freed.
 * A broken rule prints what broke and aborts, so libFuzzer saves the input.
 *
 * Input format: a byte stream, read by next(); running out reads zeros.  Each operation is one
 * opcode byte followed by its arguments (slot, size selector and bytes, alignment, flags).
 *
 * Built with -DFUZZ_STANDALONE (any compiler, any hmalloc build) this file is a program instead:
 *     fuzz_api --make-seeds DIR     write the seed corpus (a few hand-made programs)
 *     fuzz_api FILE...              run the target on saved inputs (to replay a crash) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memalign, pvalloc, valloc, reallocarray */
#endif
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HMALLOC_UNPREFIXED
#include "hmalloc.h"

#include "../start_background.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define NSLOTS 48
#define MAX_LIVE_BYTES (96 * MiB) /* requests past this budget are skipped */
#define MAX_OPS 2000              /* per input */
#define EDGE 256                  /* bytes checked at each end of a block */
#define NPOINTS 8                 /* more bytes checked inside a block */

/* ---- failing ------------------------------------------------------------------------------ */

static const char *cur_op = "start";
static unsigned cur_step;

__attribute__((noreturn, format(printf, 1, 2))) static void broken(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(buf, sizeof(buf), "fuzz_api: step %u (%s): ", cur_step, cur_op);
    n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    ssize_t unused = write(2, buf, (size_t)n);
    (void)unused;
    abort();
}

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond))                                                                           \
            broken("check failed: " #cond ": " __VA_ARGS__);                                   \
    } while (0)

/* A size the compiler cannot see (it warns about the overflowing ones this file asks for). */
static size_t hide(size_t n)
{
    __asm__ volatile("" : "+r"(n));
    return n;
}

/* ---- reading the input -------------------------------------------------------------------- */

static const uint8_t *in_p;
static size_t in_n;

static uint8_t next(void)
{
    if (!in_n)
        return 0;
    in_n--;
    return *in_p++;
}

static uint32_t next16(void) { return (uint32_t)next() | (uint32_t)next() << 8; }
static uint32_t next24(void) { return next16() | (uint32_t)next() << 16; }

/* Sizes that sit on the edges of the size classes and of what can be asked for. */
static const size_t edge_sizes[] = {
    0, 1, 7, 8, 9, 15, 16, 17, 127, 128, 129, 4096, 4097, 14336, 14337, 16384, 16385,
    2 * 1024 * 1024 - 1, 2 * 1024 * 1024, 2 * 1024 * 1024 + 1, 4 * 1024 * 1024,
    (size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX + 1, SIZE_MAX - 4095, SIZE_MAX};

/* A size: one selector byte, then what it needs.  Mostly small, sometimes large or huge. */
static size_t next_size(void)
{
    uint8_t sel = next();
    switch (sel >> 5) {
    case 0:
        return edge_sizes[sel % (sizeof(edge_sizes) / sizeof(edge_sizes[0]))];
    case 1:
    case 2:
        return next();                    /* 0 .. 255 */
    case 3:
    case 4:
        return next16() % 4096;           /* up to a page */
    case 5:
        return next16() % (14336 + 2048); /* small, crossing into large */
    case 6:
        return next24() % (2 * MiB + 64 * KiB); /* large, crossing into huge */
    default:
        return 2 * MiB + (size_t)next() * 16 * KiB; /* huge, up to ~6 MiB */
    }
}

static bool size_sane(size_t n) { return n <= 64 * MiB; }

/* An alignment: a power of two from 1 to 8 MiB, or (rarely) one that is not valid. */
static size_t next_align(bool *valid)
{
    uint8_t b = next();
    *valid = true;
    if (b >= 248) {
        static const size_t bad[] = {0, 3, 24, 1000, 48, 12, (size_t)1 << 63 | 1, 6};
        *valid = false;
        return bad[b & 7];
    }
    static const unsigned lg[] = {0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 10, 12, 12, 13, 14, 16, 20, 21, 22, 23};
    return (size_t)1 << lg[b % (sizeof(lg) / sizeof(lg[0]))];
}

/* Flags of the extended API: zero, a cache (the thread's, none, or an explicit one), an arena
 * (the thread's or a created one), an alignment. */
static unsigned explicit_tc[2];
static unsigned pool_arena[2];
static bool have_tc, have_arenas;

static int next_flags(size_t *align)
{
    uint8_t b = next();
    int flags = 0;
    if (b & 1)
        flags |= MALLOCX_ZERO;
    switch ((b >> 1) & 3) {
    case 1: flags |= MALLOCX_TCACHE_NONE; break;
    case 2: if (have_tc) flags |= MALLOCX_TCACHE(explicit_tc[0]); break;
    case 3: if (have_tc) flags |= MALLOCX_TCACHE(explicit_tc[1]); break;
    }
    if (have_arenas && ((b >> 3) & 3) >= 2)
        flags |= MALLOCX_ARENA(pool_arena[(b >> 3) & 1]);
    static const unsigned lg[] = {0, 4, 6, 8, 12, 13, 16, 21};
    unsigned la = lg[b >> 5];
    *align = la ? (size_t)1 << la : 0;
    if (la)
        flags |= MALLOCX_LG_ALIGN(la);
    return flags;
}

/* ---- the shadow --------------------------------------------------------------------------- */

typedef struct {
    unsigned char *p; /* NULL: free slot */
    size_t size;      /* bytes asked for (contents defined up to here) */
    size_t align;     /* alignment asked for (0: none), for sized frees and resizes */
    uint32_t seed;
} slot_t;

static slot_t slots[NSLOTS];
static size_t live_bytes;
static uint32_t seed_counter;

static unsigned char pat(uint32_t seed, size_t i)
{
    uint32_t z = seed ^ (uint32_t)i * 0x9e3779b1u ^ (uint32_t)(i >> 12) * 0x85ebca6bu;
    z ^= z >> 15;
    return (unsigned char)(z * 0x2c1b3c6du >> 24);
}

/* The byte offsets of a block of `size` bytes that are filled and checked: its first and last
 * EDGE bytes and NPOINTS bytes spread between (so a multi-MiB block costs a dozen pages). */
#define FOR_EACH_POINT(size, i, body)                                                          \
    do {                                                                                       \
        size_t size_ = (size);                                                                 \
        size_t head_ = size_ < EDGE ? size_ : EDGE;                                            \
        for (size_t i = 0; i < head_; i++)                                                     \
            body;                                                                              \
        if (size_ > EDGE) {                                                                    \
            size_t tail_ = size_ - EDGE > EDGE ? size_ - EDGE : EDGE;                          \
            for (size_t i = tail_; i < size_; i++)                                             \
                body;                                                                          \
            for (size_t k_ = 1; k_ <= NPOINTS && size_ > 4 * EDGE; k_++) {                     \
                size_t i = size_ / (NPOINTS + 1) * k_;                                         \
                body;                                                                          \
            }                                                                                  \
        }                                                                                      \
    } while (0)

static void fill(const slot_t *s) { FOR_EACH_POINT(s->size, i, s->p[i] = pat(s->seed, i)); }

/* Check the first `upto` bytes of s's pattern. */
static void check_contents(const slot_t *s, const unsigned char *p, size_t upto, const char *what)
{
    FOR_EACH_POINT(s->size, i, {
        if (i < upto && p[i] != pat(s->seed, i))
            broken("%s: block %p (%zu bytes) byte %zu is %#x, not %#x", what, (void *)p, s->size,
                   i, p[i], pat(s->seed, i));
    });
}

static void check_zero(const unsigned char *p, size_t from, size_t to, const char *what)
{
    if (to <= from)
        return;
    FOR_EACH_POINT(to - from, j, {
        if (p[from + j] != 0)
            broken("%s: byte %zu of %p is %#x, not 0", what, from + j, (void *)p, p[from + j]);
    });
}

static slot_t *pick(void) { return &slots[next() % NSLOTS]; }

/* Known hmalloc bugs, left unchecked (so that `make check` stays green) unless
 * HMALLOC_TEST_KNOWN_MISSES=1 is set.  None at present: MALLOCX_ZERO growth in place of a
 * huge block reusing a longer cached mapping (malloc(8 MiB), fill, free; q = malloc(6 MiB);
 * xallocx(q, 7 MiB, 0, MALLOCX_ZERO) showed the old bytes) is fixed and checked again. */
static __attribute__((unused)) bool skip_known_miss(void)
{
    static int known = -1;
    if (known < 0) {
        const char *e = getenv("HMALLOC_TEST_KNOWN_MISSES");
        known = !(e && strcmp(e, "1") == 0);
    }
    return known;
}

static bool huge_zero_growth_miss(const void *old_p, const void *new_p, size_t old_usize)
{
    (void)old_p;
    (void)new_p;
    (void)old_usize;
    return false;
}

/* Check a new block and put it in slot s (which is free). */
static void adopt(slot_t *s, void *p, size_t size, size_t align, bool zero, size_t expect_usize)
{
    CHECK(p != NULL, "size %zu align %zu", size, align);
    size_t usize = malloc_usable_size(p);
    CHECK(usize >= size, "usable %zu < size %zu", usize, size);
    CHECK(sallocx(p, 0) == usize, "sallocx %zu != malloc_usable_size %zu", sallocx(p, 0), usize);
    CHECK(expect_usize == 0 || usize == expect_usize, "usable %zu, nallocx said %zu (size %zu, align %zu)",
          usize, expect_usize, size, align);
    CHECK(align <= 1 || ((uintptr_t)p & (align - 1)) == 0, "%p not aligned to %zu", p, align);
    CHECK(size < 16 || ((uintptr_t)p & 15) == 0, "%p of %zu bytes not 16-byte aligned", p, size);
    if (zero)
        check_zero(p, 0, size, "new zeroed block");
    s->p = p;
    s->size = size;
    s->align = align;
    s->seed = ++seed_counter * 0x01000193u;
    live_bytes += size;
    fill(s);
}

/* Take slot s's block out of the model (after checking it), for a free. */
static void *release(slot_t *s)
{
    check_contents(s, s->p, s->size, "before free");
    void *p = s->p;
    s->p = NULL;
    live_bytes -= s->size;
    return p;
}

static bool budget(size_t size) { return size_sane(size) && live_bytes + size <= MAX_LIVE_BYTES; }

static size_t usize_of(size_t size, size_t align)
{
    return nallocx(size, align > 1 ? MALLOCX_ALIGN(align) : 0);
}

/* A size a sized free may pass for s: anything from what was asked to the usable size. */
static size_t sized_free_size(const slot_t *s)
{
    size_t usize = malloc_usable_size(s->p);
    uint8_t b = next();
    return b < 128 ? s->size : b < 192 ? usize : s->size + (usize - s->size) * (b - 192) / 63;
}

/* ---- operations --------------------------------------------------------------------------- */

enum {
    OP_MALLOC, OP_CALLOC, OP_REALLOC, OP_FREE, OP_POSIX_MEMALIGN, OP_ALIGNED_ALLOC, OP_MEMALIGN,
    OP_VALLOC, OP_PVALLOC, OP_REALLOCARRAY, OP_USABLE, OP_FREE_SIZED, OP_FREE_ALIGNED_SIZED,
    OP_MALLOCX, OP_RALLOCX, OP_XALLOCX, OP_SALLOCX, OP_DALLOCX, OP_SDALLOCX, OP_NALLOCX,
    OP_FLUSH, OP_TCACHE_TOGGLE, OP_CHECK, OP_BAD_SIZES, OP_PURGE, NOPS
};
static const char *const op_names[NOPS] = {
    "malloc", "calloc", "realloc", "free", "posix_memalign", "aligned_alloc", "memalign",
    "valloc", "pvalloc", "reallocarray", "malloc_usable_size", "free_sized",
    "free_aligned_sized", "mallocx", "rallocx", "xallocx", "sallocx", "dallocx", "sdallocx",
    "nallocx", "flush", "tcache toggle", "check", "bad sizes", "purge"};

static void expect_fail(void *p, int err, const char *what)
{
    CHECK(p == NULL, "%s succeeded", what);
    CHECK(errno == err, "%s: errno %d, not %d", what, errno, err);
}

/* Resize s to size with realloc (how 0), reallocarray (1) or rallocx with flags (2). */
static void do_resize(slot_t *s, int how, size_t size, int flags, size_t align)
{
    size_t old_usize = malloc_usable_size(s->p);
    errno = 0;
    void *q;
    if (how == 0)
        q = realloc(s->p, size);
    else if (how == 1)
        q = reallocarray(s->p, size / 8, 8), size = size / 8 * 8;
    else
        q = rallocx(s->p, size, flags);
    if (how < 2 && size == 0) { /* realloc(p, 0) frees, as glibc's does */
        CHECK(q == NULL, "realloc(p, 0) returned %p", q);
        live_bytes -= s->size;
        s->p = NULL;
        return;
    }
    if (!q) {
        CHECK(!size_sane(size) || (how == 2 && align > 4 * MiB), "resize to %zu failed", size);
        if (how < 2)
            CHECK(errno == ENOMEM, "failed realloc: errno %d", errno);
        check_contents(s, s->p, s->size, "after a failed resize");
        return;
    }
    size_t keep = s->size < size ? s->size : size;
    check_contents(s, q, keep, "moved by a resize");
    size_t usize = malloc_usable_size(q);
    CHECK(usize >= size, "resized to %zu, usable %zu", size, usize);
    if (how == 2) {
        CHECK(usize == usize_of(size ? size : 1, align), "rallocx usable %zu, nallocx %zu", usize,
              usize_of(size ? size : 1, align));
        CHECK(align <= 1 || ((uintptr_t)q & (align - 1)) == 0, "rallocx %p not aligned to %zu", q,
              align);
        if ((flags & MALLOCX_ZERO) && !huge_zero_growth_miss(s->p, q, old_usize))
            check_zero(q, old_usize, size, "rallocx growth with MALLOCX_ZERO");
    } else {
        CHECK(usize == usize_of(size, 0), "realloc usable %zu, nallocx %zu", usize,
              usize_of(size, 0));
    }
    live_bytes = live_bytes - s->size + size;
    s->p = q;
    s->size = size;
    s->align = how == 2 ? align : 0;
    fill(s);
}

static void step(void)
{
    unsigned op = next() % NOPS;
    cur_op = op_names[op];
    slot_t *s = pick();
    size_t size, align;
    bool valid;
    int flags;
    errno = 0;
    switch (op) {
    case OP_MALLOC:
        size = next_size();
        if (s->p)
            break;
        if (!size_sane(size)) {
            expect_fail(malloc(size), ENOMEM, "malloc of an impossible size");
        } else if (budget(size)) {
            void *p = malloc(size);
            adopt(s, p, size, 0, false, usize_of(size, 0));
        }
        break;
    case OP_CALLOC: {
        size_t n = next() + 1u, m = next_size();
        if (s->p)
            break;
        size_t total;
        if (__builtin_mul_overflow(n, m, &total) || !size_sane(total)) {
            if (total > PTRDIFF_MAX || __builtin_mul_overflow(n, m, &total))
                expect_fail(calloc(n, m), ENOMEM, "calloc overflowing");
        } else if (budget(total)) {
            adopt(s, calloc(n, m), total, 0, true, usize_of(total, 0));
        }
        break;
    }
    case OP_REALLOC:
        size = next_size();
        if (!s->p) {
            if (budget(size) && size_sane(size))
                adopt(s, realloc(NULL, size), size, 0, false, usize_of(size, 0));
        } else if (!size_sane(size) || budget(size)) {
            do_resize(s, 0, size, 0, 0);
        }
        break;
    case OP_REALLOCARRAY:
        size = next_size();
        if (s->p && next() == 0xff) { /* an overflowing count: fails, leaves the block */
            errno = 0;
            void *q = reallocarray(s->p, hide(SIZE_MAX / 4), 8);
            expect_fail(q, ENOMEM, "reallocarray overflowing");
            check_contents(s, s->p, s->size, "after a failed reallocarray");
        } else if (s->p && (!size_sane(size) || budget(size))) {
            do_resize(s, 1, size, 0, 0);
        }
        break;
    case OP_FREE:
        if (s->p)
            free(release(s));
        else
            free(NULL);
        break;
    case OP_POSIX_MEMALIGN: {
        align = next_align(&valid);
        size = next_size();
        if (s->p)
            break;
        void *p = (void *)&p;
        if (!valid || align < sizeof(void *)) {
            CHECK(posix_memalign(&p, align, size) == EINVAL, "alignment %zu accepted", align);
            CHECK(p == (void *)&p, "*memptr changed on failure");
        } else if (!size_sane(size)) {
            CHECK(posix_memalign(&p, align, size) == ENOMEM, "size %zu accepted", size);
            CHECK(p == (void *)&p, "*memptr changed on failure");
        } else if (budget(size + align)) {
            int r = posix_memalign(&p, align, size);
            CHECK(r == 0, "posix_memalign(%zu, %zu) = %d", align, size, r);
            adopt(s, p, size, align, false, usize_of(size, align));
        }
        break;
    }
    case OP_ALIGNED_ALLOC:
    case OP_MEMALIGN: {
        align = next_align(&valid);
        size = next_size();
        if (s->p)
            break;
        void *(*fn)(size_t, size_t) = op == OP_ALIGNED_ALLOC ? aligned_alloc : memalign;
        size_t real = align;
        if (op == OP_MEMALIGN && (align & (align - 1))) { /* rounded up to a power of two */
            if (align > ((size_t)1 << 40))
                break; /* (1 << 63) | 1: fails with EINVAL, nothing to check here */
            real = 1;
            while (real < align)
                real <<= 1;
            valid = true;
        }
        if (!valid || (op == OP_ALIGNED_ALLOC && align == 0)) {
            if (op == OP_ALIGNED_ALLOC && align != 0)
                expect_fail(fn(align, size), EINVAL, "aligned_alloc with a bad alignment");
        } else if (!size_sane(size)) {
            expect_fail(fn(real, size), ENOMEM, "aligned allocation of an impossible size");
        } else if (budget(size + real)) {
            adopt(s, fn(align, size), size, real, false, usize_of(size, real));
        }
        break;
    }
    case OP_VALLOC:
    case OP_PVALLOC:
        size = next_size();
        if (!s->p && size_sane(size) && budget(size + 4096)) {
            if (op == OP_VALLOC) {
                adopt(s, valloc(size), size, 4096, false, usize_of(size, 4096));
            } else {
                size_t rounded = (size + 4095) & ~(size_t)4095;
                if (rounded == 0)
                    rounded = 4096;
                void *p = pvalloc(size);
                CHECK(malloc_usable_size(p) >= rounded, "pvalloc(%zu) usable %zu", size,
                      malloc_usable_size(p));
                adopt(s, p, size, 4096, false, 0);
            }
        }
        break;
    case OP_USABLE:
        if (s->p) {
            size_t u = malloc_usable_size(s->p);
            CHECK(u >= s->size, "usable %zu < %zu", u, s->size);
            /* All of it may be used: write the slack, then check the block. */
            if (u > s->size)
                s->p[u - 1] = 0x5a;
            check_contents(s, s->p, s->size, "after writing the slack");
        } else {
            CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) != 0");
        }
        break;
    case OP_FREE_SIZED:
    case OP_FREE_ALIGNED_SIZED:
    case OP_SDALLOCX:
        if (!s->p)
            break;
        size = sized_free_size(s);
        if (op == OP_SDALLOCX) {
            int f = s->align > 1 ? MALLOCX_ALIGN(s->align) : 0;
            size_t dummy;
            int extra = next_flags(&dummy) & ~0x3f & ~MALLOCX_ZERO; /* cache and arena bits */
            sdallocx(release(s), size, f | extra);
        } else if (s->align > 1) {
            free_aligned_sized(release(s), s->align, size);
        } else if (op == OP_FREE_SIZED) {
            free_sized(release(s), size);
        } else {
            free_aligned_sized(release(s), 0, size);
        }
        break;
    case OP_MALLOCX:
        size = next_size();
        flags = next_flags(&align);
        if (s->p)
            break;
        if (!size_sane(size)) {
            CHECK(mallocx(size, flags) == NULL, "mallocx of an impossible size");
        } else if (budget(size + align)) {
            void *p = mallocx(size, flags);
            adopt(s, p, size, align, (flags & MALLOCX_ZERO) != 0, nallocx(size, flags));
        }
        break;
    case OP_RALLOCX:
        size = next_size();
        flags = next_flags(&align);
        if (!s->p)
            break;
        if (!size_sane(size)) {
            CHECK(rallocx(s->p, size, flags) == NULL, "rallocx to an impossible size");
            check_contents(s, s->p, s->size, "after a failed rallocx");
        } else if (budget(size + align)) {
            do_resize(s, 2, size, flags, align);
        }
        break;
    case OP_XALLOCX: {
        size = next_size();
        size_t extra = next() < 200 ? next16() : SIZE_MAX - 100;
        if (!s->p || (size_sane(size) && !budget(size + (extra < 4 * MiB ? extra : 0))))
            break;
        int f = (next() & 1) ? MALLOCX_ZERO : 0;
        if (s->align > 1)
            f |= MALLOCX_ALIGN(s->align);
        size_t old_usize = malloc_usable_size(s->p);
        size_t got = xallocx(s->p, size, extra, f);
        CHECK(got == malloc_usable_size(s->p), "xallocx returned %zu, usable is %zu", got,
              malloc_usable_size(s->p));
        size_t keep = s->size < got ? s->size : got;
        check_contents(s, s->p, keep, "in place after xallocx");
        if ((f & MALLOCX_ZERO) && got > old_usize && !huge_zero_growth_miss(s->p, s->p, old_usize))
            check_zero(s->p, old_usize, got, "xallocx growth with MALLOCX_ZERO");
        /* The block is now `got` bytes, all usable: a sized free must name a size of that
         * class, not the one asked before (which may be of a smaller one). */
        live_bytes = live_bytes - s->size + got;
        s->size = got;
        fill(s);
        break;
    }
    case OP_SALLOCX:
        if (s->p)
            CHECK(sallocx(s->p, 0) == malloc_usable_size(s->p), "sallocx != malloc_usable_size");
        break;
    case OP_DALLOCX:
        if (s->p) {
            size_t dummy;
            int f = next_flags(&dummy) & ~MALLOCX_ZERO;
            dallocx(release(s), f);
        }
        break;
    case OP_NALLOCX:
        size = next_size();
        flags = next_flags(&align);
        if (size_sane(size)) {
            size_t u = nallocx(size, flags);
            CHECK(u >= size && u != 0, "nallocx(%zu, %#x) = %zu", size, flags, u);
            CHECK(nallocx(u, flags) == u, "nallocx(%zu) = %zu is not a fixed point", size, u);
        } else if (size > PTRDIFF_MAX) {
            CHECK(nallocx(size, flags) == 0, "nallocx(%zu) = %zu", size, nallocx(size, flags));
        }
        break;
    case OP_FLUSH:
        if (next() & 1) {
            CHECK(mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == 0, "flush");
        } else if (have_tc) {
            unsigned id = explicit_tc[next() & 1];
            CHECK(mallctl("tcache.flush", NULL, NULL, &id, sizeof(id)) == 0, "tcache.flush");
        }
        break;
    case OP_TCACHE_TOGGLE: {
        bool on = next() & 1;
        CHECK(mallctl("thread.tcache.enabled", NULL, NULL, &on, sizeof(on)) == 0, "enabled");
        break;
    }
    case OP_PURGE: {
        static const char *const names[] = {"arena.4096.purge", "arena.4096.decay",
                                            "arena.0.purge", "arena.0.decay"};
        const char *name = names[next() & 3];
        CHECK(mallctl(name, NULL, NULL, NULL, 0) == 0, "mallctl %s", name);
        break;
    }
    case OP_CHECK:
        for (int i = 0; i < NSLOTS; i++)
            if (slots[i].p)
                check_contents(&slots[i], slots[i].p, slots[i].size, "full check");
        break;
    case OP_BAD_SIZES: {
        errno = 0;
        expect_fail(calloc(hide(SIZE_MAX / 2), 3), ENOMEM, "calloc overflow");
        errno = 0;
        expect_fail(malloc(hide((size_t)PTRDIFF_MAX + 1)), ENOMEM, "malloc above PTRDIFF_MAX");
        errno = 0;
        expect_fail(aligned_alloc(24, 100), EINVAL, "aligned_alloc(24)");
        void *p = (void *)&p;
        CHECK(posix_memalign(&p, 4, 100) == EINVAL && p == (void *)&p, "posix_memalign(4)");
        CHECK(nallocx(SIZE_MAX, 0) == 0, "nallocx(SIZE_MAX)");
        if (s->p) {
            size_t u = malloc_usable_size(s->p);
            CHECK(xallocx(s->p, SIZE_MAX, 0, 0) == u, "xallocx to SIZE_MAX moved the goalposts");
            errno = 0;
            expect_fail(realloc(s->p, hide(SIZE_MAX - 100)), ENOMEM, "realloc to SIZE_MAX");
            check_contents(s, s->p, s->size, "after realloc to SIZE_MAX");
        }
        break;
    }
    }
}

static uint64_t thread_counter(const char *name)
{
    uint64_t v = 0;
    size_t len = sizeof(v);
    CHECK(mallctl(name, &v, &len, NULL, 0) == 0, "mallctl %s", name);
    return v;
}

static void setup_once(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    /* The background thread's creation allocates in the thread that starts it (glibc's TLS
     * vector), which the per-input accounting check would count: get it over with. */
    start_background_thread();
    size_t len = sizeof(unsigned);
    have_tc = mallctl("tcache.create", &explicit_tc[0], &len, NULL, 0) == 0 &&
              mallctl("tcache.create", &explicit_tc[1], &len, NULL, 0) == 0;
    have_arenas = mallctl("arenas.create", &pool_arena[0], &len, NULL, 0) == 0 &&
                  mallctl("arenas.create", &pool_arena[1], &len, NULL, 0) == 0;
}

/* Each input starts with nothing cached (thread caches flushed, free pages and huge mappings
 * given back), so that what it finds does not depend on the inputs run before it. */
static void reset_caches(void)
{
    CHECK(mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == 0, "thread.tcache.flush");
    for (int i = 0; have_tc && i < 2; i++)
        CHECK(mallctl("tcache.flush", NULL, NULL, &explicit_tc[i], sizeof(unsigned)) == 0,
              "tcache.flush");
    CHECK(mallctl("arena.4096.purge", NULL, NULL, NULL, 0) == 0, "arena.<all>.purge");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setup_once();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    reset_caches();
    in_p = data;
    in_n = size;
    uint64_t a0 = thread_counter("thread.allocated"), d0 = thread_counter("thread.deallocated");
    for (cur_step = 0; in_n && cur_step < MAX_OPS; cur_step++)
        step();
    cur_op = "freeing everything";
    for (int i = 0; i < NSLOTS; i++)
        if (slots[i].p)
            free(release(&slots[i]));
    bool on = true;
    mallctl("thread.tcache.enabled", NULL, NULL, &on, sizeof(on));
    uint64_t a1 = thread_counter("thread.allocated"), d1 = thread_counter("thread.deallocated");
    CHECK(a1 - a0 == d1 - d0, "thread.allocated grew by %llu, thread.deallocated by %llu",
          (unsigned long long)(a1 - a0), (unsigned long long)(d1 - d0));
    CHECK(live_bytes == 0, "live bytes %zu after freeing everything", live_bytes);
    return 0;
}

#ifdef FUZZ_STANDALONE
/* ---- seeds and replay --------------------------------------------------------------------- */

typedef struct {
    uint8_t b[4096];
    size_t n;
} seed_t;

static void put(seed_t *s, int count, ...)
{
    va_list ap;
    va_start(ap, count);
    for (int i = 0; i < count && s->n < sizeof(s->b); i++)
        s->b[s->n++] = (uint8_t)va_arg(ap, int);
    va_end(ap);
}

static int write_seed(const char *dir, const char *name, const seed_t *s)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(s->b, 1, s->n, f) != s->n || fclose(f) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}

/* Encoders for the input format (see step() and next_size()). */
static void op(seed_t *s, int code, int slot) { put(s, 2, code, slot); }
static void byte(seed_t *s, int b) { put(s, 1, b); }
static void sz_tiny(seed_t *s, int n) { put(s, 2, 0x20, n); }
static void sz_page(seed_t *s, int n) { put(s, 3, 0x60, n & 0xff, n >> 8); }
static void sz_large(seed_t *s, long n) { put(s, 4, 0xc0, (int)(n & 0xff), (int)(n >> 8 & 0xff), (int)(n >> 16 & 0xff)); }
static void sz_huge(seed_t *s, int k) { put(s, 2, 0xe0, k); }
static void sz_edge(seed_t *s, int i) { put(s, 1, i); }

static int make_seeds(const char *dir)
{
    int bad = 0;
    seed_t s;
    /* Small blocks in and out of every slot, sized frees, a full check. */
    memset(&s, 0, sizeof(s));
    for (int i = 0; i < 40; i++)
        op(&s, OP_MALLOC, i), sz_tiny(&s, i * 5);
    op(&s, OP_CHECK, 0);
    for (int i = 0; i < 40; i += 2) {
        op(&s, i % 4 ? OP_FREE : OP_FREE_SIZED, i);
        if (i % 4 == 0)
            byte(&s, 0x10);
    }
    for (int i = 1; i < 40; i += 2)
        op(&s, OP_SDALLOCX, i), byte(&s, 0x80), byte(&s, 0x02);
    bad |= write_seed(dir, "small", &s);
    /* realloc growing one block from tiny to huge and back. */
    memset(&s, 0, sizeof(s));
    op(&s, OP_MALLOC, 3), sz_tiny(&s, 10);
    op(&s, OP_REALLOC, 3), sz_page(&s, 2048);
    op(&s, OP_REALLOC, 3), put(&s, 3, 0xa0, 0x00, 0x30);
    op(&s, OP_REALLOC, 3), sz_large(&s, 300000);
    op(&s, OP_REALLOC, 3), sz_large(&s, 2000000);
    op(&s, OP_REALLOC, 3), sz_huge(&s, 10);
    op(&s, OP_REALLOC, 3), sz_huge(&s, 200);
    op(&s, OP_REALLOC, 3), sz_page(&s, 16);
    op(&s, OP_REALLOC, 3), sz_tiny(&s, 0);
    bad |= write_seed(dir, "realloc_chain", &s);
    /* Aligned allocations of every kind, with bad alignments among them. */
    memset(&s, 0, sizeof(s));
    for (int i = 0; i < 21; i++)
        op(&s, OP_POSIX_MEMALIGN + i % 3, i), byte(&s, i * 13 % 20), sz_tiny(&s, 100 + i);
    op(&s, OP_POSIX_MEMALIGN, 30), byte(&s, 250), sz_tiny(&s, 50);
    op(&s, OP_ALIGNED_ALLOC, 31), byte(&s, 251), sz_tiny(&s, 50);
    op(&s, OP_MEMALIGN, 32), byte(&s, 252), sz_tiny(&s, 50);
    op(&s, OP_POSIX_MEMALIGN, 33), byte(&s, 17), sz_large(&s, 100000);
    op(&s, OP_VALLOC, 34), sz_tiny(&s, 1);
    op(&s, OP_PVALLOC, 35), sz_tiny(&s, 0);
    for (int i = 0; i < 21; i++)
        op(&s, OP_FREE_ALIGNED_SIZED, i), byte(&s, 0xc0);
    bad |= write_seed(dir, "aligned", &s);
    /* The extended API with flags: zero, caches, arenas, alignment; resizes in place. */
    memset(&s, 0, sizeof(s));
    for (int i = 0; i < 16; i++)
        op(&s, OP_MALLOCX, i), sz_page(&s, i * 250), byte(&s, i * 17);
    for (int i = 0; i < 16; i++)
        op(&s, OP_RALLOCX, i), sz_large(&s, 20000 + i * 40000), byte(&s, i * 33);
    for (int i = 0; i < 16; i++)
        op(&s, OP_XALLOCX, i), sz_large(&s, 200000), byte(&s, 0), put(&s, 2, 0x00, 0x10),
            byte(&s, 1);
    op(&s, OP_FLUSH, 0), byte(&s, 1);
    op(&s, OP_FLUSH, 0), byte(&s, 0), byte(&s, 1);
    for (int i = 0; i < 16; i++) {
        op(&s, i & 1 ? OP_DALLOCX : OP_SDALLOCX, i);
        if (!(i & 1))
            byte(&s, 0x40);
        byte(&s, i * 3);
    }
    op(&s, OP_BAD_SIZES, 1);
    bad |= write_seed(dir, "extended", &s);
    /* calloc reusing freed blocks, with the cache on and off. */
    memset(&s, 0, sizeof(s));
    for (int i = 0; i < 10; i++)
        op(&s, OP_MALLOC, i), sz_page(&s, 1024), op(&s, OP_FREE, i);
    op(&s, OP_TCACHE_TOGGLE, 0), byte(&s, 0);
    for (int i = 0; i < 10; i++)
        op(&s, OP_CALLOC, i), byte(&s, 3), sz_page(&s, 1024);
    op(&s, OP_TCACHE_TOGGLE, 0), byte(&s, 1);
    for (int i = 0; i < 10; i++)
        op(&s, OP_FREE, i);
    for (int i = 0; i < 4; i++)
        op(&s, OP_CALLOC, i), byte(&s, 0), sz_huge(&s, 20 * i);
    bad |= write_seed(dir, "calloc_reuse", &s);
    /* A freed huge mapping reused by a smaller block, grown in place with MALLOCX_ZERO. */
    memset(&s, 0, sizeof(s));
    op(&s, OP_MALLOC, 0), sz_huge(&s, 0x80);          /* 4 MiB */
    op(&s, OP_FREE, 0);
    op(&s, OP_MALLOC, 1), sz_huge(&s, 0x40);          /* 3 MiB, from the same mapping */
    op(&s, OP_XALLOCX, 1), sz_huge(&s, 0x80), byte(&s, 0), put(&s, 2, 0, 0), byte(&s, 1);
    op(&s, OP_FREE, 1);
    op(&s, OP_MALLOC, 2), sz_huge(&s, 0x40);
    op(&s, OP_RALLOCX, 2), sz_huge(&s, 0x80), byte(&s, 1);
    bad |= write_seed(dir, "huge_zero_growth", &s);
    /* Edge sizes through every allocator. */
    memset(&s, 0, sizeof(s));
    for (int i = 0; i < 25; i++) {
        op(&s, OP_MALLOC, i), sz_edge(&s, i);
        op(&s, OP_MALLOCX, 25 + i % 20), sz_edge(&s, i), byte(&s, 0);
        op(&s, OP_NALLOCX, 0), sz_edge(&s, i), byte(&s, i * 32);
    }
    op(&s, OP_BAD_SIZES, 0);
    bad |= write_seed(dir, "edges", &s);
    return bad;
}

static int replay(const char *path)
{
    static uint8_t buf[1 << 20];
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--make-seeds") == 0)
        return make_seeds(argv[2]);
    if (argc < 2) {
        fprintf(stderr, "usage: %s --make-seeds DIR | FILE...\n", argv[0]);
        return 2;
    }
    LLVMFuzzerInitialize(&argc, &argv);
    int bad = 0;
    for (int i = 1; i < argc; i++)
        bad |= replay(argv[i]);
    if (!bad)
        printf("fuzz_api: %d input(s) ran clean\n", argc - 1);
    return bad;
}
#endif
