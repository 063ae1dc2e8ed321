#!/bin/sh
# test/fuzz/fuzz_test.sh: build the libFuzzer target test/fuzz/fuzz_api.c with clang, linked
# with hmalloc compiled from this tree's sources by clang (with coverage instrumentation, so
# the fuzzer is guided by hmalloc's own branches), and run it for a short while from a seed
# corpus it generates.  Exit 77 (skipped) when clang or its libFuzzer runtime is missing.
#
# Environment (`make check` sets the first three):
#   HMALLOC_SRCDIR, HMALLOC_BUILDDIR  source and build tree (default: this script's ../..)
#   HMALLOC_FUZZ_SECONDS              how long to fuzz (default 15; see test/fuzz/README)
#   HMALLOC_FUZZ_JOBS                 parallel compiler jobs (default 2)
#   CLANG                             the compiler (default: clang)
#   HMALLOC_FUZZ_ARGS                 more libFuzzer options
# Everything goes to $HMALLOC_BUILDDIR/test/fuzz/work: objects, the fuzzer (fuzz_api), the
# replay program (fuzz_api_replay, built with cc against .libs/libhmalloc.a), the seeds, the
# corpus the fuzzer grows (kept between runs), and crash-* files if it finds something.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
: "${HMALLOC_SRCDIR:=$(cd "$here/../.." && pwd)}"
: "${HMALLOC_BUILDDIR:=$HMALLOC_SRCDIR}"
: "${HMALLOC_FUZZ_SECONDS:=15}"
: "${HMALLOC_FUZZ_JOBS:=2}"
: "${CLANG:=clang}"
src=$HMALLOC_SRCDIR
bld=$HMALLOC_BUILDDIR
work=$bld/test/fuzz/work
mkdir -p "$work/obj" "$work/seeds" "$work/corpus"

skip() { echo "fuzz_test: SKIP: $*"; exit 77; }

command -v "$CLANG" >/dev/null 2>&1 || skip "$CLANG not found (apt-get install clang libclang-rt-dev)"
[ -f "$bld/src/config.h" ] || { echo "fuzz_test: $bld/src/config.h missing (configure first)" >&2; exit 1; }
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
	> "$work/probe.c"
"$CLANG" -fsanitize=fuzzer "$work/probe.c" -o "$work/probe" >/dev/null 2>&1 ||
	skip "$CLANG cannot link -fsanitize=fuzzer (install libclang-rt-dev)"
rm -f "$work/probe" "$work/probe.c"

# The library's sources, as Makefile.am lists them.
# shellcheck disable=SC1003 # a backslash, quoted
lib_sources=$(sed -n '/^libhmalloc_la_SOURCES/,/[^\\]$/p' "$src/Makefile.am" |
	tr -d '\\' | sed 's/^libhmalloc_la_SOURCES *= *//' | tr ' \t' '\n\n' | grep '\.c$')
[ -n "$lib_sources" ] || { echo "fuzz_test: no sources found in $src/Makefile.am" >&2; exit 1; }

# Rebuild when any input changed (a checksum of them all, and of the compiler's version).
cflags="-g -O1 -fsanitize=fuzzer-no-link -fvisibility=hidden -ftls-model=initial-exec -pthread"
cppflags="-I$bld/src -I$src/src -I$bld/include"
sum=$( (cat "$src"/src/*.h "$bld/src/config.h" "$bld/include/hmalloc.h" "$here/fuzz_api.c" \
	"$here/../start_background.h" "$0"; for f in $lib_sources; do cat "$src/$f"; done; "$CLANG" --version) | cksum)
if [ ! -x "$work/fuzz_api" ] || [ "$(cat "$work/stamp" 2>/dev/null)" != "$sum" ]; then
	echo "fuzz_test: building hmalloc and the fuzz target with $CLANG"
	rm -f "$work/stamp" "$work/fuzz_api" "$work"/obj/*.o
	for f in $lib_sources; do echo "$f"; done |
		xargs -P "$HMALLOC_FUZZ_JOBS" -I{} sh -c \
			'o="$1/obj/$(basename "$2" .c).o"; exec "$3" $4 $5 -c "$6/$2" -o "$o"' \
			sh "$work" {} "$CLANG" "$cflags" "$cppflags" "$src"
	for f in $lib_sources; do
		[ -f "$work/obj/$(basename "$f" .c).o" ] || { echo "fuzz_test: $f did not compile" >&2; exit 1; }
	done
	# -fno-builtin: the compiler must not assume what malloc returns (clang drops an allocation
	# whose result is only compared with NULL, and takes it to succeed).
	# shellcheck disable=SC2086 # word splitting of the flags is wanted
	"$CLANG" $cflags -fno-builtin $cppflags -c "$here/fuzz_api.c" -o "$work/obj/fuzz_api_main.o"
	objs=$(for f in $lib_sources; do echo "$work/obj/$(basename "$f" .c).o"; done)
	# shellcheck disable=SC2086 # one word per object
	"$CLANG" -fsanitize=fuzzer -pthread "$work/obj/fuzz_api_main.o" $objs -o "$work/fuzz_api"
	echo "$sum" > "$work/stamp"
fi

# The seeds (and a replay program for saved inputs), from the same file built with cc against
# the library `make` built.
lib=$bld/.libs/libhmalloc.a
if [ -f "$lib" ]; then
	${CC:-cc} -g -O1 -fno-builtin -DFUZZ_STANDALONE -I"$bld/include" "$here/fuzz_api.c" "$lib" -lpthread -ldl \
		-o "$work/fuzz_api_replay"
	"$work/fuzz_api_replay" --make-seeds "$work/seeds"
	"$work/fuzz_api_replay" "$work"/seeds/*
else
	echo "fuzz_test: $lib missing: no seeds" >&2
fi

echo "fuzz_test: fuzzing for $HMALLOC_FUZZ_SECONDS s (corpus: $work/corpus)"
# shellcheck disable=SC2086 # HMALLOC_FUZZ_ARGS is a list of options
# libFuzzer's default exit status for a crash is 77, which the test harness reads as "skipped".
exec "$work/fuzz_api" -max_total_time="$HMALLOC_FUZZ_SECONDS" -timeout=20 -rss_limit_mb=2048 \
	-error_exitcode=1 -timeout_exitcode=1 \
	-max_len=4096 -print_final_stats=1 -artifact_prefix="$work/" ${HMALLOC_FUZZ_ARGS:-} \
	"$work/corpus" "$work/seeds"
