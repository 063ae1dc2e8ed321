#!/bin/bash
# memcheck finds misuse in a program on the dropin build of hmalloc (see memcheck_common.sh).
. "$(dirname "$0")/memcheck_common.sh" dropin
