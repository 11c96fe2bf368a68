#!/usr/bin/env bash
# Installs what fedtl needs, builds it, and runs every test (ctest, each with a timeout).
set -euo pipefail
cd "$(dirname "$0")/.."
launch/setup.sh
launch/build.sh
cd "${FEDTL_BUILD_DIR:-build}"
ctest --output-on-failure -j 2 --timeout 900
