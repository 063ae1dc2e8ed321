#!/bin/sh
# manpage_test: doc/hmalloc.3 documents every function the library exports and every option
# HMALLOC_CONF accepts (a function or option added without its documentation fails here).
# A namespaced build exports PREFIXname (HMALLOC_PREFIX): the page documents name.
lib=${HMALLOC_LIB:?HMALLOC_LIB not set}
prefix=${HMALLOC_PREFIX-}
src=${HMALLOC_SRCDIR:?HMALLOC_SRCDIR not set}
man="$src/doc/hmalloc.3"
[ -f "$lib" ] || { echo "no $lib (static-only build)"; exit 77; }
command -v nm >/dev/null || { echo "nm missing"; exit 77; }
# The page as plain words: roff's escaped hyphens become hyphens, font changes go.
text=$(sed 's/\\-/-/g; s/\\f[BIRP]//g' "$man")
fail=0 n=0
for sym in $(nm -D --defined-only "$lib" | awk '$2 ~ /^[TWi]$/ {print $3}'); do
	n=$((n + 1))
	name=${sym#"$prefix"}
	if ! printf '%s\n' "$text" | grep -qw -- "$name"; then
		echo "FAIL: exported function $sym ($name) is not in doc/hmalloc.3"
		fail=1
	fi
done
for opt in $(sed -n 's/^ *{"\([a-z_]*\)", OPT_.*/\1/p' "$src/src/conf.c"); do
	n=$((n + 1))
	if ! printf '%s\n' "$text" | grep -q -- "^\.BI $opt:"; then
		echo "FAIL: option $opt is not in doc/hmalloc.3 (ENVIRONMENT)"
		fail=1
	fi
done
[ "$n" -gt 20 ] || { echo "FAIL: found only $n names to check"; fail=1; }
[ $fail = 0 ] && echo "$n names documented"
exit $fail
