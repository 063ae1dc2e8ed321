#!/bin/sh
# test/deploy/build_hmalloc.sh OUTDIR [PREFIX]: build hmalloc once more from this tree's
# sources, with the symbol prefix PREFIX (none: the drop-in build), without running configure:
# the deployment tests need the configuration the tree was not configured with.
#
# Writes OUTDIR/libhmalloc.a (position-independent, internals hidden, as `make` builds it),
# OUTDIR/libhmalloc.so, OUTDIR/libhmalloc_rust_hmalloc.a, OUTDIR/include/hmalloc.h and
# OUTDIR/include/hmalloc/rust_alloc.h, then OUTDIR/stamp.  The sources are copied first: a
# quoted #include "config.h" would otherwise find the configured tree's own config.h.
#
# Environment (`make check` sets it; the defaults suit a tree configured in place):
#   HMALLOC_SRCDIR, HMALLOC_BUILDDIR   source and build tree (default: this script's ../..)
#   HMALLOC_CC, HMALLOC_CFLAGS         compiler and flags (default: cc, configure's flags)
#   HMALLOC_CPPFLAGS, HMALLOC_LDFLAGS  the user's CPPFLAGS and LDFLAGS
#   HMALLOC_LIB_SOURCES                libhmalloc_la_SOURCES (default: read from Makefile.am)
set -eu

out=${1:?usage: build_hmalloc.sh OUTDIR [PREFIX]}
prefix=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
: "${HMALLOC_SRCDIR:=$(cd "$here/../.." && pwd)}"
: "${HMALLOC_BUILDDIR:=$HMALLOC_SRCDIR}"
: "${HMALLOC_CC:=cc}"
: "${HMALLOC_CFLAGS:=-Wall -Wextra -fvisibility=hidden -fno-plt -ftls-model=initial-exec -g -O2}"
: "${HMALLOC_CPPFLAGS:=}"
: "${HMALLOC_LDFLAGS:=}"
if [ -z "${HMALLOC_LIB_SOURCES:-}" ]; then
	# shellcheck disable=SC1003 # a backslash, quoted
	HMALLOC_LIB_SOURCES=$(sed -n '/^libhmalloc_la_SOURCES/,/[^\\]$/p' "$HMALLOC_SRCDIR/Makefile.am" |
		tr -d '\\' | sed 's/^libhmalloc_la_SOURCES *= *//')
fi
config="$HMALLOC_BUILDDIR/src/config.h"
[ -f "$config" ] || { echo "build_hmalloc.sh: $config not found (run configure first)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/src" "$out/obj" "$out/include/hmalloc"

# The sources, and every header of src/ (a source may include one that is not listed).
cp "$HMALLOC_SRCDIR"/src/*.h "$HMALLOC_SRCDIR/src/rust_alloc_hmalloc.c" "$out/src/"
objs=""
for f in $HMALLOC_LIB_SOURCES; do
	case "$f" in
	*.c) cp "$HMALLOC_SRCDIR/$f" "$out/src/"; objs="$objs $(basename "$f" .c).o" ;;
	*.h) cp "$HMALLOC_SRCDIR/$f" "$out/src/" ;;
	esac
done

# config.h: the configured one, with this build's prefix.
sed -e '/^#define HM_PREFIX\( \|$\)/d' -e '/^#define HM_DROPIN\( \|$\)/d' "$config" > "$out/src/config.h"
echo "#define HM_PREFIX $prefix" >> "$out/src/config.h"
dropin=0
if [ -z "$prefix" ]; then
	echo "#define HM_DROPIN 1" >> "$out/src/config.h"
	dropin=1
fi

# hmalloc.h as configure would write it.
version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$config")
sed -e "s/@HM_PREFIX@/$prefix/g" -e "s/@HM_DROPIN_FLAG@/$dropin/g" \
	-e "s/@PACKAGE_VERSION@/$version/g" "$HMALLOC_SRCDIR/include/hmalloc.h.in" > "$out/include/hmalloc.h"
if grep -n '@[A-Za-z_]*@' "$out/include/hmalloc.h" >&2; then
	echo "build_hmalloc.sh: hmalloc.h.in has a substitution this script does not know" >&2
	exit 1
fi
cp "$HMALLOC_SRCDIR/include/hmalloc/rust_alloc.h" "$out/include/hmalloc/"

# Two compilers at a time.
cd "$out/obj"
compile() {
	# shellcheck disable=SC2086 # the flags are lists
	$HMALLOC_CC $HMALLOC_CPPFLAGS -I../src -I../include $HMALLOC_CFLAGS -fPIC -pthread \
		-c "../src/$1.c" -o "$1.o"
}
# shellcheck disable=SC2086 # a list
set -- $objs rust_alloc_hmalloc.o
while [ $# -gt 0 ]; do
	a=${1%.o}
	shift
	if [ $# -gt 0 ]; then
		b=${1%.o}
		shift
		compile "$a" & pid=$!
		compile "$b" || { wait "$pid"; exit 1; }
		wait "$pid"
	else
		compile "$a"
	fi
done

rm -f ../libhmalloc.a ../libhmalloc_rust_hmalloc.a
# shellcheck disable=SC2086
ar cr ../libhmalloc.a $objs
ar cr ../libhmalloc_rust_hmalloc.a rust_alloc_hmalloc.o
# shellcheck disable=SC2086
$HMALLOC_CC -shared -o ../libhmalloc.so $objs $HMALLOC_LDFLAGS -Wl,-soname,libhmalloc.so \
	-Wl,-z,nodelete -Wl,-Bsymbolic-functions -pthread
touch ../stamp
