#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then builds a consumer
# against it twice: with find_package(sqlsteward CONFIG) and with pkg-config;
# checks that the installed tool finds the installed extension.
set -euo pipefail
build_dir=$1 source_dir=$2 cxx=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null

cmake -S "$source_dir/tests/install/consumer" -B "$work/cmake-build" -G Ninja \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
[[ $("$work/cmake-build/consumer" "$work/a.db") == 42 ]]

export PKG_CONFIG_PATH="$(dirname "$(find "$work/prefix" -name sqlsteward.pc)")"
# shellcheck disable=SC2046
"$cxx" -o "$work/pc-consumer" "$source_dir/tests/install/consumer/main.cc" \
  $(pkg-config --cflags --libs --static sqlsteward)
[[ $("$work/pc-consumer" "$work/b.db") == 42 ]]

# The installed tool finds the installed extension, not the build tree's,
# and a stock SQLite loads it from there.
ext=$("$work/prefix/bin/sqlsteward" extension-path)
[[ $ext == "$(realpath "$work/prefix")"/lib*/sqlsteward/sqlsteward.so ]] ||
  { echo "extension-path printed $ext, not the installed copy" >&2; exit 1; }
[[ $(sqlite3 :memory: -cmd ".load ${ext%.so}" "SELECT sqlsteward_version()") == "sqlsteward "* ]]
echo "consumer built and ran via CMake package and pkg-config; installed extension found and loaded: 1 passed, 0 failed"
