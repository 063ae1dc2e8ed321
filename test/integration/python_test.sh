#!/bin/bash
# python3 on hmalloc: millions of dicts, lists, strings and floats (PYTHONMALLOC=malloc sends
# every object to malloc), a json round trip, realloc growth, big objects, several threads.
# The output must match a run without hmalloc and end in "OK".
. "$(dirname "$0")/common.sh"

# Debian's python3 (tools/setup installs it) rather than a wrapper script ahead in PATH.
py=${PYTHON:-}
if [ -z "$py" ]; then
	if [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; else py=python3; fi
fi
need "$py"

n=${HMALLOC_PYTHON_N:-200000}
export PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
script="$here/python_workload.py"

ref_run python "$py" "$script" "$n"
hm_ok python "$py" "$script" "$n"
same_output python
[ "$(tail -n 1 "$work/python.out")" = OK ] || fail "python: the workload did not finish"
note "python: $(tr '\n' ' ' < "$work/python.out")"
exit 0
