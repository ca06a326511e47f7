#!/usr/bin/env bash
# Installs the Debian packages listed in the given files (default: what the daemon needs to build and
# run its mediasoup worker). Runs apt-get itself as root, through sudo otherwise; `apt-get update` runs
# first only when a package is missing. Lists: one package per line, # comments.
#
#   scripts/apt-install.sh                                   # scripts/mediasoup/apt-packages.txt
#   scripts/apt-install.sh test/apt-packages.txt             # what the tests need (npm test does this)
set -euo pipefail
cd "$(dirname "$0")/.."
lists=("$@")
[ "${#lists[@]}" -gt 0 ] || lists=(scripts/mediasoup/apt-packages.txt)
packages=()
for list in "${lists[@]}"; do
  [ -f "$list" ] || { echo "apt-install: no package list $list" >&2; exit 2; }
  mapfile -t -O "${#packages[@]}" packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$')
done
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
[ "${#missing[@]}" -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "apt-install: these Debian packages are missing and this system has no apt-get: ${missing[*]}" >&2
  exit 1
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "apt-install: run as root (no sudo here): apt-get install ${missing[*]}" >&2; exit 1; }
  as_root=(sudo)
fi
echo "apt-install: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
