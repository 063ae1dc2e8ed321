/* ext_conf_test.c: options, which are read once at start-up, so each case runs this very
 * executable again (/proc/self/exe) as a child with the option string in HMALLOC_CONF and
 * reads back what the child reports through mallctl:
 *  - valid options are in force (opt.narenas, opt.tcache, opt.dirty_decay_ms, opt.junk,
 *    opt.zero, ...), silently; HMALLOC_CONF wins over the program's own malloc_conf string,
 *    which this program defines as "narenas:5";
 *  - an unknown option or a malformed one prints exactly one line on stderr naming the
 *    allocator and the option, is ignored, and the rest of the string still applies;
 *  - with abort_conf:true such an option aborts the process (SIGABRT), wherever it stands;
 *  - stats_print:true prints the statistics at exit; junk:alloc fills new blocks with 0xa5,
 *    zero:true zeroes them. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "ext_test.h"

/* The program's own options; HMALLOC_CONF is read after them and wins. */
const char *malloc_conf = "narenas:5";

#define CHILD_FLAG "--ext-conf-child"

/* ---- the child: report the options in force ---- */

static void report(const char *name, char kind)
{
    union {
        unsigned u;
        size_t z;
        ssize_t s;
        bool b;
        const char *c;
        uint64_t q;
    } v;
    size_t len = kind == 'u' ? sizeof v.u : kind == 'z' ? sizeof v.z : kind == 's' ? sizeof v.s
               : kind == 'b' ? sizeof v.b : sizeof v.c;
    size_t sz = len;
    memset(&v, 0, sizeof v);
    int r = mallctl(name, &v, &sz, NULL, 0);
    if (r != 0) {
        printf("%s=ERR%d\n", name, r);
        return;
    }
    switch (kind) {
    case 'u': printf("%s=%u\n", name, v.u); break;
    case 'z': printf("%s=%zu\n", name, v.z); break;
    case 's': printf("%s=%zd\n", name, v.s); break;
    case 'b': printf("%s=%d\n", name, v.b ? 1 : 0); break;
    default: printf("%s=%s\n", name, v.c ? v.c : "(null)"); break;
    }
}

static int child_main(const char *mode)
{
    /* The allocator works whatever the options. */
    for (int i = 0; i < 1000; i++) {
        void *p = malloc(16 + (size_t)i * 97);
        if (p == NULL)
            return 3;
        memset(p, 1, 16);
        free(p);
    }
    if (strcmp(mode, "report") == 0) {
        report("opt.narenas", 'u');
        report("arenas.narenas", 'u');
        report("opt.tcache", 'b');
        report("thread.tcache.enabled", 'b');
        report("opt.tcache_max", 'z');
        report("opt.abort_conf", 'b');
        report("opt.stats_print", 'b');
        report("opt.dirty_decay_ms", 's');
        report("opt.junk", 'c');
        report("opt.zero", 'b');
        report("opt.background_thread", 'b');
        report("opt.percpu_arena", 'c');
        report("opt.check_sized", 'b');
        report("opt.purge", 'c');
        report("opt.retain", 'b');
    } else if (strcmp(mode, "junk") == 0) {
        /* junk:alloc: new blocks (not zeroed ones) are filled with 0xa5. */
        static const size_t sizes[] = {24, 1000, 20000, 300000};
        int ok = 1;
        for (size_t k = 0; k < EXT_COUNT(sizes); k++) {
            unsigned char *p = malloc(sizes[k]);
            if (p == NULL || ext_first_not(p, 0, sizes[k], 0xa5) != sizes[k])
                ok = 0;
            free(p);
        }
        printf("junk_filled=%d\n", ok);
    } else if (strcmp(mode, "zero") == 0) {
        /* zero:true: malloc'ed blocks are zero, also reused ones. */
        static const size_t sizes[] = {24, 1000, 20000, 300000};
        int ok = 1;
        for (int round = 0; round < 3; round++)
            for (size_t k = 0; k < EXT_COUNT(sizes); k++) {
                unsigned char *p = malloc(sizes[k]);
                if (p == NULL || ext_first_not(p, 0, sizes[k], 0) != sizes[k])
                    ok = 0;
                if (p)
                    memset(p, 0xff, sizes[k]);
                free(p);
            }
        printf("zeroed=%d\n", ok);
    } else if (strcmp(mode, "tcache_max") == 0) {
        /* How many of 200 malloc+free pairs of each size went to the arena (not served by
         * the thread cache): tcache_max sets which classes the cache keeps. */
        static const size_t sizes[] = {48, 1000};
        unsigned a;
        size_t sz = sizeof a;
        if (mallctl("thread.arena", &a, &sz, NULL, 0) != 0)
            return 4;
        char name[64];
        snprintf(name, sizeof name, "stats.arenas.%u.small.nmalloc", a);
        for (size_t k = 0; k < EXT_COUNT(sizes); k++) {
            uint64_t before, after, epoch = 1;
            mallctl("epoch", NULL, NULL, &epoch, sizeof epoch);
            sz = sizeof before;
            if (mallctl(name, &before, &sz, NULL, 0) != 0)
                return 4;
            for (int i = 0; i < 200; i++) {
                void *p = malloc(sizes[k]);
                if (p == NULL)
                    return 3;
                memset(p, 1, sizes[k]);
                free(p);
            }
            mallctl("epoch", NULL, NULL, &epoch, sizeof epoch);
            sz = sizeof after;
            if (mallctl(name, &after, &sz, NULL, 0) != 0)
                return 4;
            printf("arena_mallocs_%zu=%" PRIu64 "\n", sizes[k], after - before);
        }
    } else if (strcmp(mode, "exit") != 0) {
        return 2;
    }
    fflush(stdout);
    return 0;
}

/* ---- the parent: run a child and collect what it says ---- */

struct run {
    int status;
    char out[16384];
    char err[16384];
};

extern char **environ;

static void run_child(const char *conf, const char *mode, struct run *res)
{
    /* Build everything before fork: the child only execs. */
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof *env);
    CHECK(env != NULL, "calloc failed");
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], EXT_CONF_ENV "=", strlen(EXT_CONF_ENV) + 1) != 0)
            env[m++] = environ[i];
    char *var = NULL;
    if (conf != NULL) {
        size_t l = strlen(EXT_CONF_ENV) + strlen(conf) + 2;
        var = malloc(l);
        CHECK(var != NULL, "malloc failed");
        snprintf(var, l, "%s=%s", EXT_CONF_ENV, conf);
        env[m++] = var;
    }
    env[m] = NULL;
    char *argv[] = {(char *)"ext_conf_test", (char *)CHILD_FLAG, (char *)mode, NULL};

    int po[2], pe[2];
    CHECK(pipe(po) == 0 && pipe(pe) == 0, "pipe failed");
    for (int i = 0; i < 2; i++) {
        fcntl(po[i], F_SETFD, FD_CLOEXEC);
        fcntl(pe[i], F_SETFD, FD_CLOEXEC);
    }
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork failed");
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        execve("/proc/self/exe", argv, env);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    free(var);
    free(env);

    memset(res, 0, sizeof *res);
    size_t lo = 0, le = 0;
    struct pollfd fds[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
    int open_fds = 2;
    while (open_fds > 0) {
        int r = poll(fds, 2, 30000);
        if (r <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char *buf = i == 0 ? res->out : res->err;
            size_t *len = i == 0 ? &lo : &le;
            char tmp[4096];
            ssize_t got = read(fds[i].fd, tmp, sizeof tmp);
            if (got <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
                continue;
            }
            size_t room = sizeof res->out - 1 - *len;
            size_t take = (size_t)got < room ? (size_t)got : room;
            memcpy(buf + *len, tmp, take);
            *len += take;
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    CHECK(waitpid(pid, &res->status, 0) == pid, "waitpid failed");
}

static bool exited_ok(const struct run *r)
{
    return WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
}

static void describe(const struct run *r, const char *conf)
{
    print_error("child with %s=\"%s\": %s %d\n--- stdout:\n%s--- stderr:\n%s---\n", EXT_CONF_ENV,
                conf ? conf : "(unset)", WIFEXITED(r->status) ? "exit" : "signal",
                WIFEXITED(r->status) ? WEXITSTATUS(r->status) : WTERMSIG(r->status), r->out,
                r->err);
}

/* The value the child reported for name ("" if none). */
static const char *value(const struct run *r, const char *name, char *buf, size_t n)
{
    size_t l = strlen(name);
    for (const char *line = r->out; line && *line; line = strchr(line, '\n'), line += !!line) {
        if (strncmp(line, name, l) == 0 && line[l] == '=') {
            const char *v = line + l + 1;
            size_t vl = strcspn(v, "\n");
            snprintf(buf, n, "%.*s", (int)(vl < n ? vl : n - 1), v);
            return buf;
        }
    }
    snprintf(buf, n, "%s", "");
    return buf;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Run with conf and require a clean run: exit 0, nothing on stderr. */
static void run_clean(const char *conf, struct run *r)
{
    run_child(conf, "report", r);
    if (!exited_ok(r) || r->err[0] != '\0')
        describe(r, conf);
    CHECK(exited_ok(r), "the child with \"%s\" did not exit 0", conf ? conf : "(unset)");
    CHECK(r->err[0] == '\0', "the child with valid options \"%s\" wrote to stderr",
          conf ? conf : "(unset)");
}

static void expect(const struct run *r, const char *conf, const char *name, const char *want)
{
    char buf[128];
    const char *got = value(r, name, buf, sizeof buf);
    if (strcmp(got, want) != 0)
        describe(r, conf);
    CHECK(strcmp(got, want) == 0, "with \"%s\", %s is \"%s\", want \"%s\"",
          conf ? conf : "(unset)", name, got, want);
}

/* ---- tests ---- */

static void test_defaults(void **state)
{
    struct run *r = malloc(sizeof *r);
    run_clean(NULL, r);
    expect(r, NULL, "opt.narenas", "5"); /* from malloc_conf */
    expect(r, NULL, "opt.tcache", "1");
    expect(r, NULL, "thread.tcache.enabled", "1");
    expect(r, NULL, "opt.abort_conf", "0");
    expect(r, NULL, "opt.stats_print", "0");
    expect(r, NULL, "opt.zero", "0");
    expect(r, NULL, "opt.percpu_arena", "disabled");
    expect(r, NULL, "opt.purge", "dontneed");
    expect(r, NULL, "opt.retain", "0");
    char buf[64];
    CHECK(strtoul(value(r, "arenas.narenas", buf, sizeof buf), NULL, 10) >= 5,
          "arenas.narenas %s with opt.narenas 5", buf);
    free(r);
}

static void test_valid_options_are_in_force(void **state)
{
    static const struct {
        const char *conf, *name, *want;
    } cases[] = {
        {"narenas:3", "opt.narenas", "3"},
        {"narenas:1", "opt.narenas", "1"},
        {"tcache:false", "opt.tcache", "0"},
        {"tcache:false", "thread.tcache.enabled", "0"},
        {"tcache:false", "opt.narenas", "5"}, /* malloc_conf still applies */
        {"tcache:true", "opt.tcache", "1"},
        {"abort_conf:true", "opt.abort_conf", "1"},
        {"abort_conf:false", "opt.abort_conf", "0"},
        {"dirty_decay_ms:5000", "opt.dirty_decay_ms", "5000"},
        {"dirty_decay_ms:0", "opt.dirty_decay_ms", "0"},
        {"dirty_decay_ms:-1", "opt.dirty_decay_ms", "-1"},
        {"junk:alloc", "opt.junk", "alloc"},
        {"junk:free", "opt.junk", "free"},
        {"junk:true", "opt.junk", "true"},
        {"junk:false", "opt.junk", "false"},
        {"zero:true", "opt.zero", "1"},
        {"tcache_max:4096", "opt.tcache_max", "4096"},
        {"percpu_arena:disabled", "opt.percpu_arena", "disabled"},
        {"background_thread:false", "opt.background_thread", "0"},
        {"background_thread:true", "opt.background_thread", "1"},
        {"check_sized:true", "opt.check_sized", "1"},
        {"check_sized:false", "opt.check_sized", "0"},
        {"purge:free", "opt.purge", "free"},
        {"purge:dontneed", "opt.purge", "dontneed"},
        {"retain:true", "opt.retain", "1"},
        {"retain:false", "opt.retain", "0"},
    };
    struct run *r = malloc(sizeof *r);
    for (size_t i = 0; i < EXT_COUNT(cases); i++) {
        run_clean(cases[i].conf, r);
        expect(r, cases[i].conf, cases[i].name, cases[i].want);
    }

    const char *all = "narenas:2,tcache:false,dirty_decay_ms:1000,zero:true,abort_conf:true";
    run_clean(all, r);
    expect(r, all, "opt.narenas", "2");
    expect(r, all, "opt.tcache", "0");
    expect(r, all, "opt.dirty_decay_ms", "1000");
    expect(r, all, "opt.zero", "1");
    expect(r, all, "opt.abort_conf", "1");
    /* A later value of the same option wins. */
    run_clean("narenas:2,narenas:7", r);
    expect(r, "narenas:2,narenas:7", "opt.narenas", "7");
    free(r);
}

/* One line on stderr naming the allocator (and the option when there is one), exit 0. */
static void expect_one_complaint(const struct run *r, const char *conf, const char *option)
{
    bool ok = exited_ok(r) && count_lines(r->err) == 1 && r->err[strlen(r->err) - 1] == '\n' &&
              strstr(r->err, EXT_NAME) != NULL && (option == NULL || strstr(r->err, option));
    if (!ok)
        describe(r, conf);
    CHECK(exited_ok(r), "the child with \"%s\" did not exit 0", conf);
    CHECK(count_lines(r->err) == 1, "with \"%s\" stderr has %zu lines, want 1", conf,
          count_lines(r->err));
    CHECK(strstr(r->err, EXT_NAME) != NULL, "with \"%s\" the message does not name %s", conf,
          EXT_NAME);
    CHECK(option == NULL || strstr(r->err, option) != NULL,
          "with \"%s\" the message does not name the option \"%s\"", conf, option);
}

static void test_unknown_option_is_ignored(void **state)
{
    struct run *r = malloc(sizeof *r);
    run_child("bogus:1", "report", r);
    expect_one_complaint(r, "bogus:1", "bogus");
    expect(r, "bogus:1", "opt.narenas", "5");
    expect(r, "bogus:1", "opt.tcache", "1");

    /* The options around it still apply. */
    run_child("bogus:1,narenas:3", "report", r);
    expect_one_complaint(r, "bogus:1,narenas:3", "bogus");
    expect(r, "bogus:1,narenas:3", "opt.narenas", "3");
    run_child("tcache:false,no_such_option:true", "report", r);
    expect_one_complaint(r, "tcache:false,no_such_option:true", "no_such_option");
    expect(r, "tcache:false,no_such_option:true", "opt.tcache", "0");
    free(r);
}

static void test_malformed_options_are_ignored(void **state)
{
    static const struct {
        const char *conf, *option;
    } cases[] = {
        {"narenas", "narenas"},
        {"narenas:abc", "narenas"},
        {"narenas:99999999999999999999999", "narenas"},
        {"narenas:", "narenas"},
        {"tcache:maybe", "tcache"},
        {"tcache:", "tcache"},
        {"dirty_decay_ms:fast", "dirty_decay_ms"},
        {"junk:sometimes", "junk"},
        {"purge:lazy", "purge"},
        {"retain:yes", "retain"},
        {":", NULL},
        {",,,", NULL},
    };
    struct run *r = malloc(sizeof *r);
    for (size_t i = 0; i < EXT_COUNT(cases); i++) {
        run_child(cases[i].conf, "report", r);
        expect_one_complaint(r, cases[i].conf, cases[i].option);
        /* Nothing changed. */
        expect(r, cases[i].conf, "opt.narenas", "5");
        expect(r, cases[i].conf, "opt.tcache", "1");
    }
    /* A bad value does not stop the options after it. */
    run_child("narenas:abc,tcache:false", "report", r);
    expect_one_complaint(r, "narenas:abc,tcache:false", "narenas");
    expect(r, "narenas:abc,tcache:false", "opt.narenas", "5");
    expect(r, "narenas:abc,tcache:false", "opt.tcache", "0");
    free(r);
}

static void expect_abort(const char *conf, const char *option)
{
    struct run *r = malloc(sizeof *r);
    run_child(conf, "report", r);
    bool ok = WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGABRT &&
              strstr(r->err, option) != NULL;
    if (!ok)
        describe(r, conf);
    CHECK(WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGABRT,
          "with \"%s\" the child was not killed by SIGABRT", conf);
    CHECK(strstr(r->err, option) != NULL, "with \"%s\" stderr does not name \"%s\"", conf, option);
    CHECK(strstr(r->out, "opt.narenas=") == NULL, "with \"%s\" the program ran before aborting",
          conf);
    free(r);
}

static void test_abort_conf_aborts(void **state)
{
    expect_abort("abort_conf:true,bogus:1", "bogus");
    expect_abort("abort_conf:true,narenas:abc", "narenas");
    expect_abort("abort_conf:true,tcache:maybe", "tcache");
    /* Wherever abort_conf stands in the string. */
    expect_abort("bogus:1,abort_conf:true", "bogus");
}

static void test_stats_print_at_exit(void **state)
{
    struct run *r = malloc(sizeof *r);
    run_child("stats_print:true", "exit", r);
    bool ok = exited_ok(r) && strstr(r->err, EXT_NAME) != NULL && count_lines(r->err) >= 3;
    if (!ok)
        describe(r, "stats_print:true");
    CHECK(exited_ok(r), "the child with stats_print:true did not exit 0");
    CHECK(strstr(r->err, EXT_NAME) != NULL && count_lines(r->err) >= 3,
          "stats_print:true printed no statistics at exit (%zu lines)", count_lines(r->err));
    run_child("stats_print:false", "exit", r);
    CHECK(exited_ok(r) && r->err[0] == '\0', "stats_print:false printed something");
    free(r);
}

/* tcache_max: classes above it are not cached (every malloc of them goes to the arena, as
 * every free), classes up to it are. */
static void test_tcache_max_bounds_the_cache(void **state)
{
    struct run *r = malloc(sizeof *r);
    char buf[64];
    static const char *confs[] = {NULL, "tcache_max:64"};
    for (size_t i = 0; i < EXT_COUNT(confs); i++) {
        run_child(confs[i], "tcache_max", r);
        if (!exited_ok(r))
            describe(r, confs[i]);
        CHECK(exited_ok(r), "the tcache_max child failed");
        unsigned long small = strtoul(value(r, "arena_mallocs_48", buf, sizeof buf), NULL, 10);
        unsigned long big = strtoul(value(r, "arena_mallocs_1000", buf, sizeof buf), NULL, 10);
        CHECK(small < 100, "with %s, %lu of 200 mallocs of 48 bytes went to the arena",
              confs[i] ? confs[i] : "defaults", small);
        if (confs[i])
            CHECK(big == 200, "with %s, %lu of 200 mallocs of 1000 bytes went to the arena, want 200",
                  confs[i], big);
        else
            CHECK(big < 100, "with defaults, %lu of 200 mallocs of 1000 bytes went to the arena",
                  big);
    }
    free(r);
}

static void test_junk_and_zero_fill(void **state)
{
    struct run *r = malloc(sizeof *r);
    run_child("junk:alloc", "junk", r);
    if (!exited_ok(r) || r->err[0])
        describe(r, "junk:alloc");
    CHECK(exited_ok(r) && r->err[0] == '\0', "the child with junk:alloc failed");
    expect(r, "junk:alloc", "junk_filled", "1");
    run_child("zero:true", "zero", r);
    if (!exited_ok(r) || r->err[0])
        describe(r, "zero:true");
    CHECK(exited_ok(r) && r->err[0] == '\0', "the child with zero:true failed");
    expect(r, "zero:true", "zeroed", "1");
    free(r);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], CHILD_FLAG) == 0)
        return child_main(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_valid_options_are_in_force),
        cmocka_unit_test(test_unknown_option_is_ignored),
        cmocka_unit_test(test_malformed_options_are_ignored),
        cmocka_unit_test(test_abort_conf_aborts),
        cmocka_unit_test(test_stats_print_at_exit),
        cmocka_unit_test(test_junk_and_zero_fill),
        cmocka_unit_test(test_tcache_max_bounds_the_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
