/* plugin_host.c PLUGIN local|deepbind system|preloaded: a host program that dlopen()s
 * plugin.so (RTLD_LOCAL, or RTLD_LOCAL|RTLD_DEEPBIND) and checks that the plugin's private
 * hmalloc stays private: none of its names is visible, the host's malloc is still the one it
 * had (the C library's, or with "preloaded" a drop-in hmalloc of its own), the two allocators'
 * blocks and statistics are apart, and threads of the host can call into the plugin. */
#define _GNU_SOURCE
#include "deploy_test.h"

#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <string.h>

static int (*plugin_run)(char *, size_t);
static void *(*plugin_alloc)(size_t);
static void (*plugin_free)(void *);
static size_t (*plugin_usable_size)(void *);
static size_t (*plugin_allocated)(void);
static char *(*plugin_system_strdup)(const char *);

static void *sym(void *h, const char *name)
{
    void *f = dlsym(h, name);
    CHECK(f != NULL, "dlsym(%s): %s", name, dlerror());
    return f;
}

static void *host_thread(void *arg)
{
    char err[200] = "";
    (void)arg;
    CHECK(plugin_run(err, sizeof err) == 0, "plugin_run in a host thread: %s", err);
    return NULL;
}

/* A thread that starts and ends after dlclose, when the plugin's hmalloc has had threads. */
static void *late_thread(void *arg)
{
    free(malloc(10));
    return arg;
}

static size_t libc_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

int main(int argc, char **argv)
{
    CHECK(argc == 4, "usage: plugin_host PLUGIN local|deepbind system|preloaded");
    int deepbind = strcmp(argv[2], "deepbind") == 0;
    int preloaded = strcmp(argv[3], "preloaded") == 0;

    /* The host's malloc before the plugin: the C library's, unless hmalloc is preloaded. */
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    CHECK(libc != NULL, "libc.so.6 is not loaded: %s", dlerror());
    void *host_malloc = dlsym(RTLD_DEFAULT, "malloc");
    CHECK((host_malloc == dlsym(libc, "malloc")) == !preloaded,
          "the host's malloc is %s the C library's", preloaded ? "still" : "not");

    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL | (deepbind ? RTLD_DEEPBIND : 0));
    CHECK(h != NULL, "dlopen(%s): %s", argv[1], dlerror());
    plugin_run = (int (*)(char *, size_t))sym(h, "plugin_run");
    plugin_alloc = (void *(*)(size_t))sym(h, "plugin_alloc");
    plugin_free = (void (*)(void *))sym(h, "plugin_free");
    plugin_usable_size = (size_t(*)(void *))sym(h, "plugin_usable_size");
    plugin_allocated = (size_t(*)(void))sym(h, "plugin_allocated");
    plugin_system_strdup = (char *(*)(const char *))sym(h, "plugin_system_strdup");

    /* Nothing of the plugin's hmalloc is visible, through the plugin or globally; the host's
     * malloc is unchanged. */
    static const char *private_names[] = {"hm_malloc", "hm_free", "hm_mallctl", "hm_mallocx",
                                          "malloc_conf", "hm_malloc_conf"};
    for (size_t i = 0; i < sizeof private_names / sizeof *private_names; i++) {
        CHECK(dlsym(h, private_names[i]) == NULL, "the plugin exports %s", private_names[i]);
        CHECK(dlsym(RTLD_DEFAULT, private_names[i]) == NULL, "%s is visible globally",
              private_names[i]);
    }
    CHECK(dlsym(RTLD_DEFAULT, "plugin_run") == NULL, "RTLD_LOCAL plugin is visible globally");
    CHECK(dlsym(RTLD_DEFAULT, "malloc") == host_malloc, "loading the plugin changed malloc");

    /* The plugin works, from this thread and from threads of the host's. */
    char err[200] = "";
    CHECK(plugin_run(err, sizeof err) == 0, "plugin_run: %s", err);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, host_thread, NULL) == 0, "pthread_create");
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);

    /* The host's allocations do not move the plugin's statistics... */
    size_t before = plugin_allocated();
    void *hp[100];
    for (int i = 0; i < 100; i++) {
        hp[i] = malloc(i == 0 ? (1 << 20) : 50 * (size_t)i);
        CHECK(hp[i] != NULL, "malloc");
        memset(hp[i], 1, 50);
    }
    CHECK(plugin_allocated() == before, "plugin's stats.allocated moved with the host's malloc");
    for (int i = 0; i < 100; i++)
        free(hp[i]);

    /* ...and the plugin's blocks are not the C library's, though the host may hold them. */
    size_t libc_before = libc_in_use();
    void *pp[100];
    for (int i = 0; i < 100; i++) {
        size_t n = i == 0 ? (1 << 20) : 40 * (size_t)i;
        pp[i] = plugin_alloc(n);
        CHECK(pp[i] != NULL && plugin_usable_size(pp[i]) >= n, "plugin_alloc(%zu)", n);
        memset(pp[i], 2, n);
    }
    CHECK(plugin_allocated() >= before + (1 << 20), "plugin's stats.allocated did not grow");
    if (!preloaded)
        CHECK(libc_in_use() - libc_before < 16384, "the plugin's blocks came from glibc (%zu bytes)",
              libc_in_use() - libc_before);
    for (int i = 0; i < 100; i++)
        plugin_free(pp[i]);

    /* The C library's allocations made in the plugin are the host's malloc's. */
    char *s = plugin_system_strdup("made by strdup in the plugin");
    CHECK(s && strcmp(s, "made by strdup in the plugin") == 0, "plugin_system_strdup");
    free(s);

    CHECK(dlclose(h) == 0, "dlclose: %s", dlerror());
    pthread_t late;
    CHECK(pthread_create(&late, NULL, late_thread, NULL) == 0, "pthread_create");
    pthread_join(late, NULL);
    printf("plugin (%s, host malloc %s): private hmalloc, nothing shared\n", argv[2], argv[3]);
    return 0;
}
