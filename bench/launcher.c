/* launcher: run a program whole and report its wall time, CPU time and peak resident set.
 *
 * tools/bench times the real programs of the suite (python3, gcc, perl, sort) with this, since
 * they print no result line of their own.  It compiles this file itself (it is not one of the
 * *_bench programs, which the runner discovers by name).
 *
 *   launcher [-e NAME=VALUE]... [-o OUT] [-r REPORT] [-T SECONDS] -- PROGRAM [ARG]...
 *
 * -e sets a variable in the child only (LD_PRELOAD goes this way, so that the launcher itself
 * does not run on the allocator under test), -o sends the child's stdout to OUT, -r writes the
 * report to REPORT instead of stderr, -T kills the child's process group after SECONDS.  The
 * report is one line:
 *
 *   launch status=<exit code, or 128+signal> wall=<s> user=<s> sys=<s> maxrss_kib=<k> floor_kib=<k>
 *
 * Peak RSS is the ru_maxrss that wait4 returns for the child: the largest peak of the child and
 * of every descendant it waited for (for gcc that is cc1's), the biggest single process, not a
 * sum.  The kernel also counts into it the peak of the memory image the child had before exec,
 * which fork copied from its parent: from a Python runner that alone is 15+ MiB, which is why
 * the runner does not fork the programs itself.  Here the image is this small program's, and
 * the child resets its peak just before exec (writing 5 to /proc/self/clear_refs), so what is
 * counted from before exec is only the child's resident set at that point, reported as
 * floor_kib: a maxrss_kib not above floor_kib says the real peak was that low or lower.
 * No ptrace, no sampling: the kernel keeps the high-water mark of every process anyway. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t child;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double tv_seconds(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

/* A field of /proc/self/status in KiB ("VmHWM:"), or -1. */
static long status_kib(const char *field)
{
	char line[256];
	long kib = -1;
	size_t len = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, field, len) == 0) {
			kib = strtol(line + len, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kib;
}

/* The whole group: a program that forks (gcc runs cc1 and as) must not leave them running. */
static void on_alarm(int sig)
{
	(void)sig;
	if (child > 0)
		kill(-child, SIGKILL);
}

static void usage(const char *me)
{
	fprintf(stderr, "usage: %s [-e NAME=VALUE]... [-o OUT] [-r REPORT] [-T SECONDS] -- PROGRAM [ARG]...\n", me);
	exit(2);
}

int main(int argc, char **argv)
{
	char **envs = calloc((size_t)argc, sizeof *envs);
	size_t nenv = 0;
	const char *out = NULL, *report = NULL;
	double timeout = 0.0;
	int c;

	if (envs == NULL)
		return 2;
	while ((c = getopt(argc, argv, "+e:o:r:T:h")) != -1) {
		switch (c) {
		case 'e':
			if (strchr(optarg, '=') == NULL)
				usage(argv[0]);
			envs[nenv++] = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'r':
			report = optarg;
			break;
		case 'T':
			timeout = strtod(optarg, NULL);
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind >= argc)
		usage(argv[0]);

	/* The child's resident set at exec, passed back through a shared page. */
	long *floor_kib = mmap(NULL, sizeof(long), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (floor_kib == MAP_FAILED) {
		perror("launcher: mmap");
		return 2;
	}
	*floor_kib = -1;

	double t0 = now();
	child = fork();
	if (child < 0) {
		perror("launcher: fork");
		return 2;
	}
	if (child == 0) {
		setpgid(0, 0);
		for (size_t i = 0; i < nenv; i++)
			putenv(envs[i]);
		if (out != NULL) {
			int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd < 0 || dup2(fd, 1) < 0) {
				perror(out);
				_exit(127);
			}
			close(fd);
		}
		/* Should the reset fail (no /proc, kernel before 4.0), VmHWM is the peak so far and
		 * the floor says so. */
		int fd = open("/proc/self/clear_refs", O_WRONLY);
		if (fd >= 0) {
			ssize_t n = write(fd, "5", 1);
			(void)n;
			close(fd);
		}
		*floor_kib = status_kib("VmHWM:");
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "launcher: cannot run %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	setpgid(child, child); /* also here, so that the alarm cannot come before the child's own call */
	if (timeout > 0.0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_alarm;
		sigaction(SIGALRM, &sa, NULL);
		struct itimerval it = { { 0, 0 }, { (time_t)timeout, (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6) } };
		setitimer(ITIMER_REAL, &it, NULL);
	}

	int status;
	struct rusage ru;
	pid_t r;
	while ((r = wait4(child, &status, 0, &ru)) < 0 && errno == EINTR)
		;
	double wall = now() - t0;
	if (r < 0) {
		perror("launcher: wait4");
		return 2;
	}
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

	FILE *rep = stderr;
	if (report != NULL && (rep = fopen(report, "w")) == NULL) {
		perror(report);
		return 2;
	}
	fprintf(rep, "launch status=%d wall=%.6f user=%.6f sys=%.6f maxrss_kib=%ld floor_kib=%ld\n", code, wall,
		tv_seconds(ru.ru_utime), tv_seconds(ru.ru_stime), ru.ru_maxrss, *floor_kib);
	if (rep != stderr)
		fclose(rep);
	return 0;
}
