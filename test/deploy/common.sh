# shellcheck shell=bash
# test/deploy/common.sh: shared by the deployment tests' scripts (sourced, not run).
#
# `make check` exports the build's settings (see test/deploy/Makefile.inc); run by hand from
# a tree configured in place, a script finds them itself (e.g. `test/deploy/plugin_test.sh`).
# Exit status: 0 pass, 1 fail, 77 skip.  HMALLOC_TEST_KEEP=1 keeps the scratch folder.

set -u

me=$(basename "$0" .sh)
here=$(cd "$(dirname "$0")" && pwd)

: "${HMALLOC_SRCDIR:=$(cd "$here/../.." && pwd)}"
: "${HMALLOC_BUILDDIR:=$HMALLOC_SRCDIR}"
: "${HMALLOC_LIB:=$HMALLOC_BUILDDIR/.libs/libhmalloc.so}"
: "${HMALLOC_CC:=cc}"
: "${HMALLOC_CFLAGS:=-Wall -Wextra -fvisibility=hidden -fno-plt -ftls-model=initial-exec -g -O2}"
: "${HMALLOC_CPPFLAGS:=}"
: "${HMALLOC_LDFLAGS:=}"
: "${HMALLOC_DEPLOY_OUT:=$HMALLOC_BUILDDIR/test/deploy/out}"
if [ -z "${HMALLOC_PREFIX+set}" ]; then
	HMALLOC_PREFIX=$(sed -n 's/^#define HMALLOC_PREFIX "\(.*\)"$/\1/p' \
		"$HMALLOC_BUILDDIR/include/hmalloc.h" 2>/dev/null)
fi
export HMALLOC_SRCDIR HMALLOC_BUILDDIR HMALLOC_CC HMALLOC_CFLAGS HMALLOC_CPPFLAGS HMALLOC_LDFLAGS
export LC_ALL=C

note() { echo "$me: $*"; }
fail() { echo "FAIL: $me: $*" >&2; exit 1; }
skip() { echo "SKIP: $me: $*" >&2; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/hmalloc-$me.XXXXXX") || fail "mktemp failed"
if [ "${HMALLOC_TEST_KEEP:-0}" = 1 ]; then
	trap 'echo "$me: scratch files kept in $work"' EXIT
else
	trap 'rm -rf "$work"' EXIT
fi

# hm_build NAME PREFIX: the directory of a build of hmalloc with symbol prefix PREFIX (see
# build_hmalloc.sh): the one `make check` made under $HMALLOC_DEPLOY_OUT/NAME, else one built
# now in the scratch folder.
hm_build() {
	if [ -f "$HMALLOC_DEPLOY_OUT/$1/stamp" ]; then
		echo "$HMALLOC_DEPLOY_OUT/$1"
	else
		note "building hmalloc with prefix '$2' in $work/$1" >&2
		"$HMALLOC_SRCDIR/test/deploy/build_hmalloc.sh" "$work/$1" "$2" >&2 ||
			fail "could not build hmalloc (prefix '$2')"
		echo "$work/$1"
	fi
}

# cc_run COMMAND...: run the C compiler (the build's, with its flags first), failing the test
# when it fails.
cc_run() {
	# shellcheck disable=SC2086 # the flags are lists
	$HMALLOC_CC $HMALLOC_CPPFLAGS $HMALLOC_CFLAGS "$@" $HMALLOC_LDFLAGS ||
		fail "compiler failed: $HMALLOC_CC ... $*"
}

# run_ok NAME COMMAND...: run a test program (stdout and stderr to $work/NAME.log, shown on
# failure), failing the test unless it exits 0.
run_ok() {
	local name=$1 rc
	shift
	timeout -k 10 120 "$@" >"$work/$name.log" 2>&1
	rc=$?
	if [ "$rc" != 0 ]; then
		tail -n 40 "$work/$name.log" >&2
		fail "$name: exit status $rc: $*"
	fi
	note "$name: ok"
}
