#!/bin/bash
# gcc on hmalloc: compile a generated C file of hundreds of functions at -O2 (cc1 makes
# millions of allocations; as, collect2 and ld run on hmalloc too), then run the program,
# also on hmalloc, and check it prints exactly what the generator computed.
. "$(dirname "$0")/common.sh"

cc=${CC_FOR_INTEGRATION:-gcc}
need "$cc" perl

nfuncs=${HMALLOC_GCC_FUNCS:-800}
perl "$here/gcc_gen.pl" "$nfuncs" "$work/big.c" > "$work/expected.txt" ||
	fail "could not generate the C file"

hm_ok compile "$cc" -O2 -o "$work/big" "$work/big.c"
[ -x "$work/big" ] || fail "compile: no program was made"
procs=$(find "$work" -maxdepth 1 -name 'compile.ld.*' | wc -l)
stats=$(grep -cF -- "$HM_STATS_HEADER" "$work/compile.err")
note "compile: $procs processes ran on hmalloc, $stats printed statistics"

hm_ok run "$work/big"
if ! cmp -s "$work/expected.txt" "$work/run.out"; then
	diff "$work/expected.txt" "$work/run.out" >&2
	fail "run: the compiled program printed the wrong result"
fi
note "run: $(tr '\n' ' ' < "$work/run.out")"
exit 0
