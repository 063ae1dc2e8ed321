#!/bin/bash
# tools/hmalloc-run: runs the program on hmalloc (LD_PRELOAD), passes its output and exit
# status through, adds stats_print:true to HMALLOC_CONF with --stats (after what is there).
. "$(dirname "$0")/common.sh"

run="$HMALLOC_SRCDIR/tools/hmalloc-run"
[ -x "$run" ] || fail "$run is missing or not executable"
need sh printenv perl

# --lib: use the library under test and never build (make check is building already).
hr() { "$run" --lib "$HMALLOC_LIB" "$@"; }

out=$(hr --help) || fail "--help failed"
case "$out" in *"--stats"*) ;; *) fail "--help does not describe --stats" ;; esac

hr >/dev/null 2>&1
[ $? = 2 ] || fail "no program: want exit status 2"

# Output and exit status pass through; with --stats hmalloc prints its statistics.
# (perl, not sh: dash leaves through _exit, which skips the exit handlers that print them.)
hr --stats -- perl -e 'print "out  put\n"; exit 7' >"$work/status.out" 2>"$work/status.err"
rc=$?
[ "$rc" = 7 ] || fail "want the program's exit status 7, got $rc"
[ "$(cat "$work/status.out")" = "out  put" ] || fail "the program's output was changed"
hm_check_stats status

# A signal death is the program's too (exec: no shell in between).
hr -- sh -c 'kill -TERM $$' >/dev/null 2>&1
rc=$?
[ "$rc" = 143 ] || fail "killed by SIGTERM: want status 143, got $rc"

# The environment the program gets.
lib_env=$(hr -- printenv LD_PRELOAD) || fail "printenv LD_PRELOAD failed"
[ "$lib_env" = "$HMALLOC_LIB" ] || fail "LD_PRELOAD is '$lib_env'"
conf=$(env -u HMALLOC_CONF "$run" --lib "$HMALLOC_LIB" --stats -- printenv HMALLOC_CONF 2>/dev/null)
[ "$conf" = "stats_print:true" ] || fail "--stats: HMALLOC_CONF is '$conf'"
conf=$(HMALLOC_CONF=stats_print:false "$run" --lib "$HMALLOC_LIB" --stats -- printenv HMALLOC_CONF 2>/dev/null)
[ "$conf" = "stats_print:false,stats_print:true" ] || fail "--stats did not append: '$conf'"
conf=$(env -u HMALLOC_CONF "$run" --lib "$HMALLOC_LIB" -- printenv HMALLOC_CONF 2>/dev/null)
[ -z "$conf" ] || fail "without --stats HMALLOC_CONF should stay unset, is '$conf'"

note "tools/hmalloc-run: ok"
exit 0
