#!/usr/bin/env bash
# Installs everything DFS needs on a fresh Debian machine (run as root): system packages, then a
# virtual environment in .venv with the pinned Python packages. Safe to run again: it only adds what
# is missing. Usage: bash scripts/install.sh [--test]   (--test adds the test and benchmark tools)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(fuse3 libfuse3-3 libfuse2 curl ca-certificates git tar iproute2 procps)
[ "${1:-}" = "--test" ] && packages+=(docker-compose fio chromium chromium-driver)  # chromium: the web page test
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
extra=""; [ "${1:-}" = "--test" ] && extra="[test]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extra}"
