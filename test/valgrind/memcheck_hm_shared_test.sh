#!/bin/bash
# memcheck finds misuse in a program on the hm_shared build of hmalloc (see memcheck_common.sh).
. "$(dirname "$0")/memcheck_common.sh" hm_shared
