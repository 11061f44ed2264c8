#!/usr/bin/env bash
# Quick start: install dependencies, build, and trace with the embedded defaults.
# Extra arguments go to `ktrail run` (e.g. --duration 10 --format json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
scripts/build.sh
exec ./build/ktrail run "$@"
