#!/usr/bin/env bash
# Runs Debian's sqlite3 shell (3.40.1) on DB, with sqlsteward loaded first
# if --ext is given, and executes the SQL on stdin (stopping at the first
# error). Usage: run_shell.sh [--ext EXT] DB [SHELL_OPTION...] < SQL
#
# The exact invocation:
#   sqlite3 -bail [SHELL_OPTION...] :memory: -cmd '.load EXT' \
#           -cmd '.open DB' -cmd '.timeout MS' -cmd "$tripwire"
# Why this order: the shell opens its database argument before running any
# -cmd if that file exists (and lazily, on the first command, if it does
# not), so naming DB there would open it before the extension makes its VFS
# the default. Opening ':memory:', loading into it, then '.open DB' sends DB
# through sqlsteward. But a failed '.open' is not an error to the shell: it
# prints "unable to open database", falls back to an in-memory database and
# would run stdin there and exit 0 (even with -bail). The tripwire fails
# (exit 1) when 'main' is not a file, i.e. when '.open' did not take.
# The busy timeout (SQLSTEWARD_SHELL_TIMEOUT_MS, default 5000; the shell's
# own default is none) is set right after '.open', before the tripwire's
# first read: it belongs to the connection '.open' made.
set -euo pipefail

ext=
timeout_ms=${SQLSTEWARD_SHELL_TIMEOUT_MS:-5000}
if [[ ${1:-} == --ext ]]; then
  ext=${2:?--ext needs a path}
  shift 2
fi
db=${1:?usage: run_shell.sh [--ext EXT] DB [SHELL_OPTION...] < SQL}
shift
[[ $db != *"'"* && $ext != *"'"* ]] || { echo "run_shell.sh: no quotes in paths" >&2; exit 2; }

tripwire="SELECT 1 FROM pragma_database_list WHERE name = 'main'
  AND json(CASE WHEN file = '' THEN 'DB did not open' ELSE '0' END)"
cmds=()
[[ -z $ext ]] || cmds+=(-cmd ".load '$ext'")
cmds+=(-cmd ".open '$db'" -cmd ".timeout $timeout_ms" -cmd "$tripwire")
exec sqlite3 -bail "$@" :memory: "${cmds[@]}"
