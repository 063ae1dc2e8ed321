/* init.c: initialisation, fork handlers, the exit-time statistics and the fatal-error path
 * (see init.h). */
#include "init.h"
#include "arena.h"
#include "background.h"
#include "base.h"
#include "conf.h"
#include "ctl.h"
#include "huge.h"
#include "rtree.h"
#include "stats.h"
#include "tcache.h"
#include "valgrind.h"

#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

int hm_initialized;
bool hm_vg_running;
static hm_mutex_t init_lock = HM_MUTEX_INITIALIZER;
static __thread bool tls_initializing;

/* Where messages go: standard error, or at exit a duplicate of it taken at start-up when
 * statistics are to be printed then (programs such as sort close fd 2 before the destructors
 * run).  The duplicate sits at a high number and is used only if it still refers to the file
 * it was taken from. */
static int hm_stderr_fd = STDERR_FILENO;
static int stats_fd = -1;
static struct stat stats_fd_st;

void hm_write_stderr(const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(hm_stderr_fd, buf, len);
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

static size_t fmt_hex(char *buf, uintptr_t v)
{
    char tmp[2 + 16];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    buf[0] = '0';
    buf[1] = 'x';
    for (size_t i = 0; i < n; i++)
        buf[2 + i] = tmp[n - 1 - i];
    return n + 2;
}

static size_t append(char *buf, size_t at, size_t cap, const char *s)
{
    size_t l = strlen(s);
    if (l > cap - at)
        l = cap - at;
    memcpy(buf + at, s, l);
    return at + l;
}

void hm_fatal(const char *func, const char *what, const void *ptr)
{
    char buf[256];
    size_t n = append(buf, 0, sizeof(buf) - 24, "hmalloc: ");
    n = append(buf, n, sizeof(buf) - 24, func);
    n = append(buf, n, sizeof(buf) - 24, "(): ");
    n = append(buf, n, sizeof(buf) - 24, what);
    buf[n++] = ' ';
    n += fmt_hex(buf + n, (uintptr_t)ptr);
    buf[n++] = '\n';
    hm_write_stderr(buf, n);
    abort();
}

void hm_panic(const char *what)
{
    char buf[256];
    size_t n = append(buf, 0, sizeof(buf) - 1, "hmalloc: internal error: ");
    n = append(buf, n, sizeof(buf) - 1, what);
    buf[n++] = '\n';
    hm_write_stderr(buf, n);
    abort();
}

static void hm_prefork(void)
{
    if (!hm_initialized)
        return;
    hm_mutex_lock(&init_lock);
    ctl_prefork();
    background_prefork();
    tcache_prefork();
    arena_prefork();
    chunk_prefork();
    huge_prefork();
    rtree_prefork();
    base_prefork();
}

static void hm_postfork_parent(void)
{
    if (!hm_initialized)
        return;
    base_postfork_parent();
    rtree_postfork_parent();
    huge_postfork_parent();
    chunk_postfork_parent();
    arena_postfork_parent();
    tcache_postfork_parent();
    background_postfork_parent();
    ctl_postfork_parent();
    hm_mutex_unlock(&init_lock);
}

/* In the child only the forking thread exists: the locks it holds are reset, and the other
 * threads' caches are simply lost (their regions stay lent out). */
static void hm_postfork_child(void)
{
    if (!hm_initialized)
        return;
    base_postfork_child();
    rtree_postfork_child();
    huge_postfork_child();
    chunk_postfork_child();
    arena_postfork_child();
    tcache_postfork_child();
    background_postfork_child();
    ctl_postfork_child();
    hm_mutex_init(&init_lock);
}

static unsigned ncpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

bool hm_init_slow(void)
{
    if (tls_initializing) /* reentered from something hm_init calls */
        return arenas[0] != NULL;
    hm_mutex_lock(&init_lock);
    if (hm_initialized) {
        hm_mutex_unlock(&init_lock);
        return true;
    }
    tls_initializing = true;
    sz_boot();
    conf_boot();
    /* Under valgrind every allocation and free takes the slow paths, which report the blocks
     * to memcheck (see valgrind.h): no thread caches, whatever the options say. */
    if (config_valgrind && vg_detect()) {
        hm_vg_running = true;
        opt_tcache = false;
        opt_background_thread = false; /* a thread of hmalloc's own would be in every report */
        vg_not_a_root(sz_index2size_tab, sizeof(sz_index2size_tab));
    }
    narenas_auto = opt_narenas ? opt_narenas : 4 * ncpus();
    if (narenas_auto > MAX_ARENAS)
        narenas_auto = MAX_ARENAS;
    const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
    uintptr_t secret = (uintptr_t)&secret ^ ((uintptr_t)ncpus() << 48);
    if (rnd)
        memcpy(&secret, rnd + 8, sizeof(secret));
    tcache_secret = secret | 1; /* odd: a tag never equals a pointer-sized zero word */
    if (opt_stats_print) {
        stats_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 900);
        if (stats_fd >= 0 && fstat(stats_fd, &stats_fd_st) != 0)
            stats_fd = -1;
    }
    bool ok = arena_get(0) != NULL && tcache_boot();
    if (ok) {
        pthread_atfork(hm_prefork, hm_postfork_parent, hm_postfork_child);
        __atomic_store_n(&hm_initialized, 1, __ATOMIC_RELEASE);
    }
    tls_initializing = false;
    hm_mutex_unlock(&init_lock);
    return ok;
}

__attribute__((destructor)) static void hm_exit(void)
{
    if (!hm_initialized)
        return;
    background_stop();
    tcache_unload();
    if (!opt_stats_print)
        return;
    struct stat st;
    if (stats_fd >= 0 && fstat(stats_fd, &st) == 0 && st.st_dev == stats_fd_st.st_dev &&
        st.st_ino == stats_fd_st.st_ino)
        hm_stderr_fd = stats_fd;
    stats_print(NULL, NULL, NULL);
    hm_stderr_fd = STDERR_FILENO;
}
