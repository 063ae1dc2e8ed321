/* deploy_test.h: what the deployment tests' C programs share.  They are plain C, not cmocka:
 * some are linked fully static or loaded as plugins, and some count every allocation the
 * process makes, which a test framework's own would disturb.  CHECK prints the failed
 * condition with a message and exits 1. */
#ifndef DEPLOY_TEST_H
#define DEPLOY_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);       \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

/* Fill n bytes with a pattern that depends on seed and position; pattern_ok checks it. */
static inline void pattern_fill(void *p, size_t n, unsigned seed)
{
    unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        c[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 8));
}

static inline int pattern_ok(const void *p, size_t n, unsigned seed)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != (unsigned char)(seed * 131u + i * 7u + (i >> 8)))
            return 0;
    return 1;
}

/* A small deterministic generator (xorshift), so a failure replays. */
static inline uint64_t rnd_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

#endif
