/* static_link_test.c: libhmalloc.a linked into an executable replaces malloc for the whole
 * process: what the C library allocates for the program (strdup, getline, fopen, asprintf,
 * open_memstream, realpath ...) comes from hmalloc and the program frees it with free().
 * Built twice by `make check`: into a dynamically linked executable (static_link_test) and
 * into a fully static one (static_full_test, -all-static). */
#define _GNU_SOURCE
#include "hmalloc.h"
#include "deploy_test.h"

#include <limits.h>
#include <string.h>

static uint64_t allocated(void)
{
    uint64_t v = 0;
    size_t len = sizeof v;
    CHECK(mallctl("thread.allocated", &v, &len, NULL, 0) == 0, "mallctl(thread.allocated)");
    return v;
}

static uint64_t deallocated(void)
{
    uint64_t v = 0;
    size_t len = sizeof v;
    CHECK(mallctl("thread.deallocated", &v, &len, NULL, 0) == 0, "mallctl(thread.deallocated)");
    return v;
}

/* p came from hmalloc: sallocx looks it up in hmalloc's own metadata (it aborts, naming the
 * pointer, for a block that is not hmalloc's), and malloc_usable_size is hmalloc's too. */
static void check_ours(const char *what, void *p, size_t at_least)
{
    CHECK(p != NULL, "%s returned NULL", what);
    size_t usize = sallocx(p, 0);
    CHECK(usize >= at_least, "%s: usable size %zu < %zu", what, usize, at_least);
    CHECK(malloc_usable_size(p) == usize, "%s: malloc_usable_size is not hmalloc's", what);
    CHECK(nallocx(usize, 0) == usize, "%s: %zu is not one of hmalloc's size classes", what, usize);
}

int main(void)
{
    const char *text = "a string the C library copies with malloc";

    uint64_t a = allocated();
    char *s = strdup(text);
    check_ours("strdup", s, strlen(text) + 1);
    CHECK(allocated() - a >= strlen(text) + 1, "strdup did not allocate from hmalloc");
    char *sn = strndup(text, 5);
    check_ours("strndup", sn, 6);

    /* fopen allocates the FILE (and its buffer) with malloc; fclose frees them. */
    a = allocated();
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL, "fopen");
    char *line = NULL;
    size_t cap = 0;
    CHECK(getline(&line, &cap, f) > 0, "getline");
    check_ours("getline", line, strlen(line) + 1);
    CHECK(allocated() - a >= sizeof(FILE) + cap, "fopen and getline did not allocate from hmalloc");
    uint64_t d = deallocated();
    CHECK(fclose(f) == 0, "fclose");
    CHECK(deallocated() - d >= sizeof(FILE), "fclose freed nothing into hmalloc");
    free(line);

    char *fmt = NULL;
    CHECK(asprintf(&fmt, "%s and %d", text, 42) > 0, "asprintf");
    check_ours("asprintf", fmt, strlen(fmt) + 1);

    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    CHECK(m != NULL, "open_memstream");
    for (int i = 0; i < 5000; i++) /* grows its buffer with realloc */
        fprintf(m, "%d ", i);
    CHECK(fclose(m) == 0, "fclose(memstream)");
    check_ours("open_memstream", buf, len + 1);

    char *path = realpath("/proc/self/exe", NULL);
    check_ours("realpath", path, strlen(path) + 1);

    free(s);
    free(sn);
    free(fmt);
    free(buf);
    free(path);
    printf("static link: the C library's allocations came from hmalloc and went back to it\n");
    return 0;
}
