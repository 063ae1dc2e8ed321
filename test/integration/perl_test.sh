#!/bin/bash
# perl on hmalloc: hashes of hundreds of thousands of entries, string work, sorts, deletes
# and rebuilds, realloc growth (Debian's perl uses the system malloc, so millions of blocks).
# The output must match a run without hmalloc and end in "OK".
. "$(dirname "$0")/common.sh"

pl=${PERL:-}
if [ -z "$pl" ]; then
	if [ -x /usr/bin/perl ]; then pl=/usr/bin/perl; else pl=perl; fi
fi
need "$pl"

n=${HMALLOC_PERL_N:-200000}
script="$here/perl_workload.pl"

ref_run perl "$pl" "$script" "$n"
hm_ok perl "$pl" "$script" "$n"
same_output perl
[ "$(tail -n 1 "$work/perl.out")" = OK ] || fail "perl: the workload did not finish"
note "perl: $(tr '\n' ' ' < "$work/perl.out")"
exit 0
