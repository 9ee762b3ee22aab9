#!/bin/sh
printf '%s\n' "$(basename "$0") $*" >> "$STUB_LOG"
