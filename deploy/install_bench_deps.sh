#!/usr/bin/env bash
# Installs what `make bench-compare` needs beyond the build: Debian's Dask (python3-distributed),
# run with /usr/bin/python3. Only the comparison bench needs it; `make test` and `make demo` do
# not. Idempotent and quiet when it is already there.
#   deploy/install_bench_deps.sh      (uses sudo when not root)
set -euo pipefail

packages=(python3 python3-distributed)

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
