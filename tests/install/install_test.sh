#!/usr/bin/env bash
# cmake --install into a temporary prefix, then build and run a consumer with find_package(fedtl).
set -euo pipefail
BUILD_DIR=${1:?usage: install_test.sh BUILD_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cmake --install "$BUILD_DIR" --prefix "$WORK/prefix" > "$WORK/install.log"
test -x "$WORK/prefix/bin/fedtl" || { echo "fedtl binary not installed"; exit 1; }
test -f "$WORK/prefix/include/fedtl/protocols/checkpoint_format.h" || { echo "headers not installed"; exit 1; }
cmake -S "$HERE/consumer" -B "$WORK/build" -G Ninja -DCMAKE_PREFIX_PATH="$WORK/prefix" > "$WORK/configure.log" ||
  { cat "$WORK/configure.log"; exit 1; }
cmake --build "$WORK/build" > "$WORK/build.log" || { cat "$WORK/build.log"; exit 1; }
"$WORK/build/consumer"
