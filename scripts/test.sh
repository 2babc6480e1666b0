#!/usr/bin/env bash
# Fresh Debian 12 → dependencies installed, project built, the whole test suite run, then a
# short smoke of the fuzz targets. Exits non-zero when either fails (both always run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
status=0
# ctest runs tests side by side, each with its own OpenMP threads: more threads than cores, where
# libgomp's spinning waits slow a run many times over (bench/README.md, "OpenMP wait policy").
# Sleeping waits change no result, only the time.
(cd build && OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" \
  ctest --output-on-failure -j "${JOBS:-$(nproc)}" --timeout 600) || status=$?
# Fuzz smoke: every libFuzzer target of fuzz/ over its seeds for a few seconds (clang build in
# ./build-fuzz; scripts/fuzz.sh runs them longer).
bash scripts/fuzz.sh "${FUZZ_SECONDS:-5}" || status=1
exit "$status"
