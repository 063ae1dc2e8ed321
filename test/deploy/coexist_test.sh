#!/bin/bash
# A namespaced hmalloc and the system malloc in one process (see coexist_test.c): the program
# is linked with the static library of a --with-symbol-prefix=hm_ build, and keeps using glibc's
# malloc for everything it does not send to hm_malloc.
. "$(dirname "$0")/common.sh"

d=$(hm_build hm_ hm_)
cc_run -I"$d/include" -I"$here" -o "$work/coexist" "$here/coexist_test.c" "$d/libhmalloc.a" -pthread
# The program's own malloc is the C library's: it defines none.
if nm "$work/coexist" | grep -Eq ' T (malloc|free)$'; then
	fail "the program defines malloc: the namespaced library leaked an unprefixed name"
fi
run_ok coexist "$work/coexist"
cat "$work/coexist.log"
exit 0
