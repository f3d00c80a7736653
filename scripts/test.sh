#!/usr/bin/env bash
# Installs everything, then runs the whole test suite (what CI runs: .ci/run calls this and nothing else).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
exec .venv/bin/python -m pytest "$@"
