# Allocation-heavy Perl workload for test/integration/perl_test.sh.
#
# Debian's perl uses the system malloc, so every scalar, string buffer, array and hash here is
# a malloc'd block: this builds hashes of millions of entries, does string work (sprintf,
# concatenation, substr, split/join, regexes, reverse), sorts, deletes and rebuilds, and
# grows strings and arrays (realloc).  Each phase checks itself and prints a checksum; the
# last line is "OK".  The output depends only on the argument (the size), so it must be the
# same with and without hmalloc.
use strict;
use warnings;

my $n = shift // 200000;
$n++ while $n % 7919 == 0;   # keys are ($i * 7919) % $n: that must be a permutation

sub check { my ($ok, $what) = @_; unless ($ok) { print "CHECK FAILED: $what\n"; exit 1; } }
# A 32-bit checksum of a string, done by perl itself (no module needed).
sub sum32 { return unpack("%32C*", $_[0]); }

# 1. A big hash of strings and array refs.
my %h;
for my $i (0 .. $n - 1) {
	my $key = sprintf("key%07d", ($i * 7919) % $n);
	$h{$key} = [$i, sprintf("%08x", ($i * 2654435761) % 4294967296), "v" x ($i % 23), reverse("$i")];
}
check(scalar(keys %h) == $n, "hash size");   # 7919 is prime and does not divide $n
my $ids = 0;
$ids += $_->[0] for values %h;
check($ids == $n * ($n - 1) / 2, "sum of ids");
print "hash $n $ids\n";

# 2. Sorting: keys as strings, values numerically, and by a computed field.
my @keys = sort keys %h;
check($keys[0] eq "key0000000" && $keys[-1] eq sprintf("key%07d", $n - 1), "key sort");
# (Sorts without a comparator block, or with a plain numeric one, run at C speed.)
my @by_hex = map { substr($_, 8) } sort map { $h{$_}[1] . $_ } @keys;
my @by_id = sort { $b <=> $a } map { $h{$_}[0] } @keys;
check($by_id[0] == $n - 1 && $by_id[-1] == 0, "numeric sort");
my $cat = join(",", @by_hex[0 .. 99]);
print "sort ", scalar(@by_hex), " ", sum32($cat), " ", sum32(join("", map { $h{$_}[1] } @by_hex)), "\n";
undef @by_hex;
undef @by_id;

# 3. String work: build one long line per record, split it back, transform with regexes.
my $total = 0;
my @lines;
for my $k (@keys) {
	my $r = $h{$k};
	my $line = join("|", $k, @$r[0, 1], length($r->[2]), $r->[3]);
	(my $up = uc $line) =~ s/KEY(\d+)/K-$1-/;
	my @f = split /\|/, $up;
	check(@f == 5 && $f[1] == $r->[0], "split of $line");
	$total += length($up) + substr($f[2], 0, 2) =~ tr/0-9//;
	push @lines, $up if $r->[0] % 3 == 0;
}
my $text = join("\n", @lines);
my $count = () = $text =~ /K-\d+-/g;
check($count == @lines, "regex count");
print "strings $total ", scalar(@lines), " ", length($text), " ", sum32($text), "\n";
undef @lines;
undef $text;

# 4. Churn: delete two thirds of the hash in key order, insert other shapes, rebuild.
my $del = 0;
for my $k (@keys) {
	if ($h{$k}[0] % 3) { delete $h{$k}; $del++; }
}
check(scalar(keys %h) == $n - $del, "after delete");
for my $i (0 .. $n - 1) {
	next if $i % 3 == 0;
	$h{"new$i"} = { map { ($_ => $i * $_) } 1 .. ($i % 5) };
}
my $nested = 0;
for my $k (sort keys %h) {
	my $v = $h{$k};
	if (ref $v eq "HASH") { $nested += $_ for values %$v; } else { $nested += $v->[0]; }
}
print "churn ", scalar(keys %h), " $nested\n";
%h = ();
undef @keys;

# 5. Growing: a string appended to a million times (realloc), an array pushed and shifted,
# and big strings made by repetition.
my $s = "";
$s .= chr(65 + $_ % 26) x ($_ % 5) for 0 .. $n * 2;
my @q;
for my $i (0 .. $n * 3) { push @q, "q$i"; shift @q if $i % 4 == 0; }
my @big = map { my $u = "x" . chr(97 + $_ % 26); $u x (($_ % 13 + 1) * 40000) } 0 .. 49;
my $bigsum = 0;
$bigsum += length($_) for @big;
print "grow ", length($s), " ", sum32($s), " ", scalar(@q), " $q[0] $q[-1] $bigsum\n";

print "OK\n";
