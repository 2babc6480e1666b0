#!/usr/bin/env bash
# Configures and builds rlhf-host into ./build (Release with debug info, Ninja, ccache).
# RLHF_TARGETS="rlhf-host rlhf_plugins" builds only those targets (the quickstart does: host and
# plugins from scratch take ~6 min on 2 cores, everything with tests and benches ~14 min).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
JOBS=${JOBS:-$(nproc)}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
cmake --build build -j "$JOBS" ${RLHF_TARGETS:+--target $RLHF_TARGETS}
