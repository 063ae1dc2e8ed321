#!/bin/bash
# GNU sort and tsort on hmalloc.  sort, on a generated input of 700,000 lines (a few of
# them kilobytes long), in several modes: one big in-memory buffer, a 1 MiB buffer with temp
# files and merge passes, two threads, unique/reverse, input from a pipe (a growing buffer).
# Each output is checked with `sort -c`, its line count, and against sort without hmalloc.
# tsort, on a shuffled chain of hundreds of thousands of pairs (a few malloc'd blocks a
# node, so millions of blocks): its output must be the chain, in order.
. "$(dirname "$0")/common.sh"

need sort tsort perl cmp

# sort and tsort close their stderr (gnulib's close_stdout) before the exit handlers run;
# hmalloc keeps a duplicate of it for the exit-time statistics, which this test requires.

lines=${HMALLOC_SORT_LINES:-700000}
pairs=${HMALLOC_TSORT_PAIRS:-500000}
in="$work/input.txt"

# The input: a word, an integer, a signed decimal, and every 97th line a long tail.
perl -e '
	my $n = shift; srand(12345); my @c = ("a" .. "z");
	for my $i (1 .. $n) {
		my $w = join("", map { $c[rand 26] } 1 .. (3 + int rand 22));
		printf("%s\t%d\t%.3f\t%s\n", $w, int(rand 1e6), rand() * 1000 - 500,
		       $i % 97 ? "" : "x" x int(rand 3000));
	}' "$lines" > "$in" || fail "could not generate the input"
[ "$(wc -l < "$in")" -eq "$lines" ] || fail "short input"

tab=$(printf '\t')
# check_sort NAME SORT-ARGS...: NAME's output is sorted by SORT-ARGS, has the right number of
# lines and is byte for byte what sort without hmalloc prints.
check_sort() {
	local name=$1 want
	shift
	sort -c "$@" "$work/$name.out" || fail "$name: output is not sorted (sort -c $*)"
	want=$lines
	case " $* " in *" -u "*) want=$(wc -l < "$work/$name.ref.out") ;; esac
	[ "$(wc -l < "$work/$name.out")" -eq "$want" ] || fail "$name: wrong line count"
	same_output "$name"
}

# run_sort NAME SORT-ARGS...: sort the input file under hmalloc and without.
run_sort() {
	local name=$1
	shift
	ref_run "$name" sort "$@" "$in"
	hm_ok "$name" sort "$@" "$in"
	check_sort "$name" "$@"
}

run_sort plain
run_sort merge -S 1M -T "$work"
run_sort threads --parallel=2 -S 32M -t "$tab" -k2,2n -k1,1
run_sort unique -u -r

# From a pipe, the buffer grows as the input comes.  (cat runs outside hmalloc.)
ref_run pipe sort -t "$tab" -k3,3n < <(cat "$in")
hm_ok pipe sort -t "$tab" -k3,3n < <(cat "$in")
check_sort pipe -t "$tab" -k3,3n

# tsort: the chain n0 -> n1 -> ... under scrambled names, the pairs shuffled.
perl -e '
	my $n = shift; srand(777);
	my @name = map { sprintf("v%x", ($_ * 2654435761) % 4294967291) } 0 .. $n;
	open(my $chain, ">", shift) or die; print $chain "$_\n" for @name; close $chain;
	my @p = map { "$name[$_] $name[$_ + 1]" } 0 .. $n - 1;
	for (my $i = $#p; $i > 0; $i--) { my $j = int rand($i + 1); @p[$i, $j] = @p[$j, $i]; }
	print "$_\n" for @p;' "$pairs" "$work/chain.txt" > "$work/pairs.txt" ||
	fail "could not generate the tsort input"
hm_ok tsort tsort "$work/pairs.txt"
cmp -s "$work/chain.txt" "$work/tsort.out" || fail "tsort: output is not the chain"

note "sort: $lines lines in 5 modes, tsort: $pairs pairs: all correct"
exit 0
