#!/usr/bin/env bash
# The main job on the packaged data: installs, builds, pretrains each scenario's backbone
# (cached after the first run) and fine-tunes every strategy, printing the transfer table.
#   launch/quickstart.sh [--rows quick|full] [other 'fedtl table' flags]
set -euo pipefail
cd "$(dirname "$0")/.."
launch/setup.sh
launch/build.sh
mkdir -p runs
exec "${FEDTL_BUILD_DIR:-build}"/launch/fedtl table --out runs/transfer-table.md --summary-json runs/transfer-table.json "$@"
