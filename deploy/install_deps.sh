#!/usr/bin/env bash
# Installs the Debian 12 packages the project builds, tests and demos with. Idempotent and quiet
# when everything is already there: it only calls apt-get for packages that are missing. The
# dashboard's npm packages are installed by the build (`npm ci` in ui/, from its lockfile).
#   deploy/install_deps.sh            (uses sudo when not root)
#   deploy/install_deps.sh --bench    also what `make bench-compare` needs: Debian's Dask
#                                     (python3-distributed, run with /usr/bin/python3); `make test`
#                                     and `make demo` do not need it
set -euo pipefail

packages=(
  build-essential g++ cmake ninja-build pkg-config
  libgrpc++-dev libgrpc-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev
  libabsl-dev librocksdb-dev libssl-dev zlib1g-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libeigen3-dev libpng-dev dataset-fashion-mnist
  libgoogle-perftools-dev libcpp-httplib-dev
  chromium fonts-dejavu-core
)
# The dashboard (ui/) is built with Node.js and npm: Debian's nodejs 18 and npm, unless a node
# and npm are already on the PATH (e.g. a newer Node.js from elsewhere; its npm comes with it).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi
if [[ ${1:-} == --bench ]]; then
  packages+=(python3 python3-distributed)
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--bench]" >&2
  exit 2
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "Installing missing packages: ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "error: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
