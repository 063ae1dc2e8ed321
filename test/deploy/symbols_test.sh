#!/bin/bash
# The exported symbols of both builds.  The drop-in build's libhmalloc.so exports exactly the
# malloc family, glibc's aliases and the extended API; a build with --with-symbol-prefix=hm_
# exports the same names with the prefix and nothing else (no alias: glibc's names are the
# drop-in build's business).  In both, libhmalloc.a gives default visibility to those names
# alone (internals are hidden, so a shared library linking it exports no more), and the
# rust_alloc archives define the six rust_* functions and call only the build's names.
# One build is this tree's (whichever it is); the other is built by build_hmalloc.sh.
. "$(dirname "$0")/common.sh"

for p in nm readelf; do
	command -v "$p" >/dev/null 2>&1 || skip "$p is not installed"
done

standard="malloc calloc realloc free reallocarray posix_memalign aligned_alloc memalign valloc
	pvalloc malloc_usable_size free_sized free_aligned_sized"
extended="mallocx rallocx xallocx sallocx dallocx sdallocx nallocx mallctl mallctlnametomib
	mallctlbymib malloc_stats_print"
aliases="__libc_malloc __libc_calloc __libc_realloc __libc_free __libc_memalign __libc_valloc
	__libc_pvalloc __posix_memalign"
rust="rust_alloc rust_alloc_zeroed rust_dealloc rust_realloc rust_realloc_in_place
	rust_usable_size"

# The words of stdin, one a line, sorted.
sorted() { tr -s ' \t' '\n' | sed '/^$/d' | sort -u; }

# expected PREFIX: the names a build with that prefix exports.
expected() {
	if [ -z "$1" ]; then
		# shellcheck disable=SC2086 # lists of names
		echo $standard $extended $aliases | sorted
	else
		for n in $standard $extended; do echo "$1$n"; done | sorted
	fi
}

# same_set WHAT EXPECTED-FILE ACTUAL-FILE
same_set() {
	if ! cmp -s "$2" "$3"; then
		echo "--- $1: missing (<) and unexpected (>) names ---" >&2
		diff "$2" "$3" | grep '^[<>]' >&2
		fail "$1: not the expected symbol list (if a public name was added on purpose, add it to $me.sh)"
	fi
}

# check_build NAME PREFIX DIR SO A RUSTA: the symbols of one build.
check_build() {
	local name=$1 prefix=$2 so=$4 a=$5 rusta=$6
	expected "$prefix" > "$work/$name.expected"

	# The shared library: defined dynamic symbols are the public names; undefined ones are the
	# C library's (versioned), the application's optional malloc_conf, or the toolchain's.
	[ -f "$so" ] || fail "$name: $so not found"
	nm -D --defined-only "$so" | awk '$2 ~ /^[TtWwDdBbVvi]$/ {print $3}' | sed 's/@.*//' | sorted \
		> "$work/$name.so.syms"
	same_set "$name: nm -D $so" "$work/$name.expected" "$work/$name.so.syms"
	nm -D --undefined-only "$so" | awk '{print $2}' |
		grep -v -e '@' -e "^${prefix}malloc_conf\$" -e '^_ITM_' -e '^__gmon_start__$' \
			-e '^__cxa_finalize$' > "$work/$name.so.undef" || true
	if [ -s "$work/$name.so.undef" ]; then
		cat "$work/$name.so.undef" >&2
		fail "$name: $so needs unversioned symbols that are not the C library's"
	fi

	# The static archive: what a shared library linking it would export.
	readelf -sW "$a" | awk '$5 == "GLOBAL" || $5 == "WEAK" { if ($6 == "DEFAULT" && $7 != "UND") print $8 }' |
		sorted > "$work/$name.a.syms"
	same_set "$name: default-visibility symbols of $a" "$work/$name.expected" "$work/$name.a.syms"
	# Position-independent, so the whole of it links into a shared library, which then
	# exports the public names alone.
	cc_run -shared -o "$work/$name.whole.so" -Wl,--whole-archive "$a" -Wl,--no-whole-archive -pthread
	nm -D --defined-only "$work/$name.whole.so" | awk '{print $3}' | sorted > "$work/$name.whole.syms"
	same_set "$name: a shared library made of $a" "$work/$name.expected" "$work/$name.whole.syms"

	# The rust_alloc layer over this build: the six functions, on this build's extended API.
	readelf -sW "$rusta" | awk '$5 == "GLOBAL" && $6 == "DEFAULT" && $7 != "UND" {print $8}' | sorted \
		> "$work/$name.rust.syms"
	echo "$rust" | sorted > "$work/rust.expected"
	same_set "$name: $rusta" "$work/rust.expected" "$work/$name.rust.syms"
	nm -u "$rusta" | awk 'NF == 2 {print $2}' | grep -v '^_GLOBAL_OFFSET_TABLE_$' | sorted \
		> "$work/$name.rust.undef"
	# (sallocx: under valgrind, to tell memcheck the usable size is the program's)
	for n in mallocx sdallocx rallocx xallocx nallocx sallocx; do echo "$prefix$n"; done | sorted \
		> "$work/$name.rust.want"
	same_set "$name: functions $rusta calls" "$work/$name.rust.want" "$work/$name.rust.undef"
	note "$name build (prefix '$prefix'): $(wc -l < "$work/$name.so.syms") exported names, all expected"
}

# This tree's build.
b=$HMALLOC_BUILDDIR
[ -f "$b/.libs/libhmalloc.a" ] || fail "$b/.libs/libhmalloc.a not found (build hmalloc first)"
if grep -q "^dlname=''" "$b/libhmalloc.la" 2>/dev/null; then
	skip "no shared library in this build (--disable-shared)"
fi
check_build configured "$HMALLOC_PREFIX" "$b" "$b/.libs/libhmalloc.so" "$b/.libs/libhmalloc.a" \
	"$b/libhmalloc_rust_hmalloc.a"

# The other one: hm_ when this tree is the drop-in build, the drop-in build otherwise.
if [ -z "$HMALLOC_PREFIX" ]; then
	d=$(hm_build hm_ hm_)
	check_build namespaced hm_ "$d" "$d/libhmalloc.so" "$d/libhmalloc.a" "$d/libhmalloc_rust_hmalloc.a"
else
	d=$(hm_build dropin "")
	check_build drop-in "" "$d" "$d/libhmalloc.so" "$d/libhmalloc.a" "$d/libhmalloc_rust_hmalloc.a"
fi

# The namespaced build's hmalloc.h declares the prefixed names, and HMALLOC_UNPREFIXED lets a
# program write the plain ones for them.
if [ -z "$HMALLOC_PREFIX" ]; then
	ns_prefix=hm_ ns_include=$d/include ns_lib=$d/libhmalloc.a
else
	ns_prefix=$HMALLOC_PREFIX ns_include=$b/include ns_lib=$b/.libs/libhmalloc.a
fi
cat > "$work/unprefixed.c" <<'END'
#define HMALLOC_UNPREFIXED
#include "hmalloc.h"
int main(void)
{
    char *p = malloc(10);
    void *q = mallocx(100, MALLOCX_ALIGN(64));
    int ok = p && q && malloc_usable_size(p) >= 10 && sallocx(q, 0) >= 100 &&
             ((unsigned long)q & 63) == 0;
    dallocx(q, 0);
    free(p);
    return !ok;
}
END
cc_run -I"$ns_include" -c -o "$work/unprefixed.o" "$work/unprefixed.c"
nm -u "$work/unprefixed.o" | awk '{print $2}' | grep -v '^_GLOBAL_OFFSET_TABLE_$' | sorted \
	> "$work/unprefixed.undef"
for n in malloc mallocx malloc_usable_size sallocx dallocx free; do echo "$ns_prefix$n"; done |
	sorted > "$work/unprefixed.want"
same_set "what a program with HMALLOC_UNPREFIXED calls" "$work/unprefixed.want" "$work/unprefixed.undef"
cc_run -o "$work/unprefixed" "$work/unprefixed.o" "$ns_lib" -pthread
"$work/unprefixed" || fail "a program written with HMALLOC_UNPREFIXED failed"
note "namespaced hmalloc.h: HMALLOC_UNPREFIXED maps the plain names to ${ns_prefix}*"

# The system layer names no hmalloc function at all, in any build.
nm -u "$b/libhmalloc_rust_system.a" | awk 'NF == 2 {print $2}' | grep -v '^_GLOBAL_OFFSET_TABLE_$' |
	sorted > "$work/system.undef"
printf '%s\n' calloc free malloc memcpy memset posix_memalign realloc | sorted > "$work/system.want"
same_set "functions libhmalloc_rust_system.a calls" "$work/system.want" "$work/system.undef"
readelf -sW "$b/libhmalloc_rust_system.a" | awk '$5 == "GLOBAL" && $6 == "DEFAULT" && $7 != "UND" {print $8}' |
	sorted > "$work/system.syms"
same_set "libhmalloc_rust_system.a" "$work/rust.expected" "$work/system.syms"
note "rust_alloc archives: the six functions each, on the expected allocator"
exit 0
