#!/usr/bin/env bash
# Fresh Debian 12 → dependencies installed, project built, the whole test suite run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd build
ctest --output-on-failure -j "${JOBS:-$(nproc)}" --timeout 600
