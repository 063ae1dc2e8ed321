#!/bin/bash
# A plugin with a private hmalloc (see plugin.c and plugin_host.c).  plugin.so links the
# position-independent static library of a --with-symbol-prefix=hm_ build and exports none of
# its names (-Wl,--exclude-libs); -z nodelete keeps it mapped after dlclose, since hmalloc's
# thread-exit hook and purging thread live in it.  A host on glibc's malloc loads it with
# RTLD_LOCAL, and again, in another process, with RTLD_DEEPBIND; with the drop-in build at
# hand, a host preloaded with it loads the plugin too: two hmallocs in one process.
. "$(dirname "$0")/common.sh"

d=$(hm_build hm_ hm_)
cc_run -I"$d/include" -fPIC -shared -o "$work/plugin.so" "$here/plugin.c" \
	-Wl,--exclude-libs,libhmalloc.a -Wl,-z,nodelete -Wl,-z,defs "$d/libhmalloc.a" -pthread
cc_run -I"$here" -o "$work/plugin_host" "$here/plugin_host.c" -ldl -pthread

# The plugin exports its own functions and nothing else.
nm -D --defined-only "$work/plugin.so" | awk '{print $3}' | sort > "$work/exports"
printf '%s\n' plugin_alloc plugin_allocated plugin_free plugin_run plugin_system_strdup \
	plugin_usable_size > "$work/exports.want"
if ! cmp -s "$work/exports.want" "$work/exports"; then
	diff "$work/exports.want" "$work/exports" >&2
	fail "plugin.so exports more (or less) than its own functions"
fi

run_ok local "$work/plugin_host" "$work/plugin.so" local system
run_ok deepbind "$work/plugin_host" "$work/plugin.so" deepbind system
# The drop-in library: this tree's, or in a namespaced tree the one symbols_test.sh checks.
dropin=$HMALLOC_LIB
[ -z "$HMALLOC_PREFIX" ] || dropin=$HMALLOC_DEPLOY_OUT/dropin/libhmalloc.so
if [ -f "$dropin" ]; then
	run_ok preloaded env LD_PRELOAD="$dropin" "$work/plugin_host" "$work/plugin.so" local preloaded
else
	note "no drop-in libhmalloc.so at hand: the preloaded host is not tried"
fi
cat "$work"/*.log
exit 0
