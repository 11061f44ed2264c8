#!/usr/bin/env bash
# The whole test suite, as CI runs it: install, build, then unit and privileged e2e tests.
# `scripts/test.sh -L unit` (any ctest arguments) runs a subset.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
scripts/build.sh
cd build
ctest --output-on-failure --timeout 600 "$@"
