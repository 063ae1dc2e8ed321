#!/bin/bash
# memcheck finds misuse in a program on the hm_static build of hmalloc (see memcheck_common.sh).
. "$(dirname "$0")/memcheck_common.sh" hm_static
