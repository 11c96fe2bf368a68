#!/usr/bin/env bash
# Configures and builds fedtl into build/ (Release with debug info, Ninja, -j2 by default).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${FEDTL_BUILD_DIR:-build}
JOBS=${FEDTL_JOBS:-2}
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" "$@"
fi
cmake --build "$BUILD_DIR" -j "$JOBS"
