#!/bin/bash
# test/valgrind/check_valgrind.sh PROGRAM...: `make check-valgrind`.  Runs each test program
# under valgrind's memcheck (two at a time, HMALLOC_JOBS to change) with hmalloc's own malloc in
# place (--soname-synonyms=somalloc=nouserintercepts: the programs link libhmalloc.a), and
# fails unless every one passes with no memcheck error and no leak.  The reports are kept in
# test/valgrind/logs/PROGRAM.log.
#
# Needs a build configured with --enable-valgrind (the default when valgrind's headers are
# installed): without it memcheck cannot see hmalloc's blocks and the run would prove nothing.
set -u
builddir=${HMALLOC_BUILDDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v valgrind >/dev/null 2>&1 || { echo "check-valgrind: valgrind is not installed" >&2; exit 1; }
grep -q '^#define HM_CONFIG_VALGRIND 1' "$builddir/src/config.h" || {
	echo "check-valgrind: hmalloc is configured without --enable-valgrind" >&2
	exit 1
}
logs="$builddir/test/valgrind/logs"
mkdir -p "$logs"

run_one() {
	local prog=$1 log="$logs/$(basename "$1").log" start=$SECONDS rc
	valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
		--show-leak-kinds=definite,indirect,possible \
		--soname-synonyms=somalloc=nouserintercepts "$prog" >"$log" 2>&1
	rc=$?
	if [ "$rc" = 0 ]; then
		echo "PASS: $prog ($((SECONDS - start)) s under memcheck)"
	else
		echo "FAIL: $prog (exit status $rc; $log)"
		grep -A12 '^==[0-9]*== [A-Z]' "$log" | head -40
		return 1
	fi
}
export -f run_one
export logs
printf '%s\n' "$@" | xargs -P "${HMALLOC_JOBS:-2}" -I{} bash -c 'run_one "$1"' _ {}
