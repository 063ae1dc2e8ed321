#!/bin/sh
# hardened_suite.sh: the API and stress tests that do not depend on when a freed block is
# reused, run again with HMALLOC_CONF=hardened:true (no thread caches, quarantine, random
# region order, guard pages after huge blocks): every path must still give right answers.
# (std_api_test and ext_flags_test are left out: they check that freed memory is reused at
# once, or counted as freed at once, which the quarantine delays on purpose.)
set -u
b=${HMALLOC_BUILDDIR:-.}
HMALLOC_CONF=hardened:true
export HMALLOC_CONF
logs=$(mktemp -d "${TMPDIR:-/tmp}/hardened_suite.XXXXXX") || exit 99
trap 'rm -rf "$logs"' EXIT
rc=0
for t in test/api/align_test test/api/ext_alloc_test test/api/ext_mallctl_test \
	test/api/too_large_test test/stress/shadow_stress_test test/stress/thread_exit_test \
	test/stress/fork_stress_test test/fault/oom_test; do
	if [ ! -x "$b/$t" ]; then
		echo "hardened_suite: $t is not built" >&2
		rc=1
		continue
	fi
	log=$logs/$(basename "$t").log
	if "$b/$t" >"$log" 2>&1; then
		echo "PASS: $t (hardened)"
	else
		echo "FAIL: $t (hardened)"
		tail -40 "$log"
		rc=1
	fi
done
exit $rc
