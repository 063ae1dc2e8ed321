# test/integration/common.sh: shared by the integration tests (sourced, not run).
#
# Each test runs real programs with the built libhmalloc.so preloaded and
# HMALLOC_CONF=stats_print:true, checks that their output is right, and checks that hmalloc
# really was their malloc: its statistics, printed to stderr at exit, must be there.
#
# `make check` exports HMALLOC_LIB, HMALLOC_BUILDDIR and HMALLOC_SRCDIR; run by hand, the
# test finds the in-tree build (e.g. `test/integration/sort_test.sh`).
# Exit status: 0 pass, 1 fail, 77 skip (a program the test needs is not installed).
# HMALLOC_TEST_TIMEOUT (seconds, default 300) bounds each program run; HMALLOC_TEST_KEEP=1
# keeps the scratch folder.

set -u

me=$(basename "$0" .sh)
here=$(cd "$(dirname "$0")" && pwd)

# The first line of hmalloc's statistics report (see malloc_stats_print).
HM_STATS_HEADER='___ Begin hmalloc statistics ___'

: "${HMALLOC_SRCDIR:=$(cd "$here/../.." && pwd)}"
: "${HMALLOC_BUILDDIR:=$HMALLOC_SRCDIR}"
: "${HMALLOC_LIB:=$HMALLOC_BUILDDIR/.libs/libhmalloc.so}"
HM_TIMEOUT=${HMALLOC_TEST_TIMEOUT:-300}
export LC_ALL=C

note() { echo "$me: $*"; }
fail() { echo "FAIL: $me: $*" >&2; exit 1; }
skip() { echo "SKIP: $me: $*" >&2; exit 77; }

# need PROGRAM...: skip the test when a program it runs is not installed.
need() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null 2>&1 || skip "$p is not installed"
	done
}

need timeout

if [ ! -f "$HMALLOC_LIB" ]; then
	# A --disable-shared build has no .so to preload: libtool records an empty dlname then.
	if grep -q "^dlname=''" "$HMALLOC_BUILDDIR/libhmalloc.la" 2>/dev/null; then
		skip "no shared library in this build (--disable-shared)"
	fi
	fail "$HMALLOC_LIB not found (build hmalloc first)"
fi
case "$HMALLOC_LIB" in /*) ;; *) HMALLOC_LIB="$PWD/$HMALLOC_LIB" ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/hmalloc-$me.XXXXXX") || fail "mktemp failed"
if [ "${HMALLOC_TEST_KEEP:-0}" = 1 ]; then
	trap 'echo "$me: scratch files kept in $work"' EXIT
else
	trap 'rm -rf "$work"' EXIT
fi

# Say what an exit status means.
describe_status() {
	local rc=$1
	if [ "$rc" = 124 ]; then
		echo "timed out after ${HM_TIMEOUT}s"
	elif [ "$rc" -gt 128 ]; then
		echo "killed by signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"
	else
		echo "exit status $rc"
	fi
}

# hm_run NAME COMMAND...: run COMMAND with hmalloc preloaded and its statistics on, stdout to
# $work/NAME.out, stderr to $work/NAME.err (stdin is the caller's).  Returns its exit status.
# The dynamic linker also logs its symbol bindings, one file a process, to $work/NAME.ld.PID:
# hm_check_bound reads them.  timeout runs outside hmalloc, so a hang is caught even if
# hmalloc itself hangs.
hm_run() {
	local name=$1 t0=$SECONDS rc
	shift
	rm -f "$work/$name.ld".*
	timeout -k 10 "$HM_TIMEOUT" env \
		LD_PRELOAD="$HMALLOC_LIB${LD_PRELOAD:+:$LD_PRELOAD}" \
		HMALLOC_CONF="${HMALLOC_CONF:+$HMALLOC_CONF,}stats_print:true" \
		LD_DEBUG=bindings LD_DEBUG_OUTPUT="$work/$name.ld" \
		"$@" >"$work/$name.out" 2>"$work/$name.err"
	rc=$?
	note "$name: $(describe_status "$rc") in $((SECONDS - t0))s under hmalloc: $*"
	return "$rc"
}

# ref_run NAME COMMAND...: the same without hmalloc (the reference), to $work/NAME.ref.out.
ref_run() {
	local name=$1 rc
	shift
	timeout -k 10 "$HM_TIMEOUT" env -u LD_PRELOAD -u HMALLOC_CONF \
		"$@" >"$work/$name.ref.out" 2>"$work/$name.ref.err"
	rc=$?
	if [ "$rc" != 0 ]; then
		tail -n 20 "$work/$name.ref.err" >&2
		fail "$name: reference run without hmalloc failed ($(describe_status "$rc")): $*"
	fi
}

# show_err NAME: the end of a run's stderr, for a failure report.
show_err() {
	echo "--- last lines of $1's stderr ---" >&2
	tail -n 40 "$work/$1.err" >&2
	echo "---" >&2
}

# hm_ok NAME COMMAND...: hm_run, and fail unless the command exited 0 and ran on hmalloc
# (hm_check_bound and hm_check_stats).
hm_ok() {
	local name=$1 rc
	hm_run "$@"
	rc=$?
	if [ "$rc" != 0 ]; then
		show_err "$name"
		fail "$name: $(describe_status "$rc"): ${*:2}"
	fi
	hm_check_bound "$name"
	hm_check_stats "$name"
}

# hm_check_bound NAME: fail unless, in every process of NAME's run, the dynamic linker bound
# malloc to libhmalloc.so, and bound no malloc-family function to another shared library.
# (reallocarray is not checked: glibc's only calls realloc, which is hmalloc's.
# A binding to the program itself is fine: a non-PIE program that takes the address of free
# gets a canonical PLT entry that everyone binds to, and which itself jumps to hmalloc.)
hm_check_bound() {
	local f n=0 lib bad
	local family="symbol \`(malloc|calloc|realloc|free|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|malloc_usable_size)'"
	lib=$(basename "$HMALLOC_LIB")
	for f in "$work/$1.ld".*; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		grep -q "to [^ ]*/$lib \\[.*symbol \`malloc'" "$f" ||
			fail "$1: process ${f##*.} did not bind malloc to $lib (see $f)"
		bad=$(grep -E "$family" "$f" |
			sed -n 's/.* to \([^ ]*\) \[.*/\1/p' | grep '\.so' | grep -v "/$lib\$" | sort -u)
		if [ -n "$bad" ]; then
			grep -F " to $(echo "$bad" | head -n 1) [" "$f" | grep -E "$family" | head -n 5 >&2
			fail "$1: process ${f##*.} bound part of the malloc family to ${bad//$'\n'/ }"
		fi
	done
	[ "$n" -gt 0 ] || fail "$1: no dynamic linker log (LD_DEBUG) to check"
}

# hm_check_stats NAME: fail unless NAME's stderr has hmalloc's statistics header.
# Some programs (GNU coreutils) close their stderr before the exit handlers run: for those,
# HM_STATS_MAY_BE_LOST=1 turns a missing header into a note.
hm_check_stats() {
	local n
	n=$(grep -cF -- "$HM_STATS_HEADER" "$work/$1.err")
	if [ "$n" -eq 0 ]; then
		if [ "${HM_STATS_MAY_BE_LOST:-0}" = 1 ]; then
			note "$1: no statistics (the program closed its stderr before exiting)"
			return 0
		fi
		show_err "$1"
		fail "$1: no '$HM_STATS_HEADER' on stderr: hmalloc's statistics were not printed"
	fi
}

# same_output NAME: fail unless NAME's stdout under hmalloc equals the reference run's.
same_output() {
	if ! cmp -s "$work/$1.ref.out" "$work/$1.out"; then
		echo "--- diff reference hmalloc (first lines) ---" >&2
		diff "$work/$1.ref.out" "$work/$1.out" | head -n 20 >&2
		fail "$1: output under hmalloc differs from the output without it"
	fi
}
