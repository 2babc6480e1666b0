#!/usr/bin/env bash
# Installs every build and run dependency of rlhf-host from Debian 12's archive.
# Idempotent: packages already present are left alone.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev                # LibTorch 1.13.1 (CPU)
  libgloo-dev                 # Gloo's headers, for c10d's ProcessGroupGloo (data parallel)
  libopenblas0-openmp         # without it LibTorch falls back to reference BLAS (~30x slower)
  libboost-dev libboost-filesystem-dev libboost-program-options-dev libboost-system-dev
  libtomlplusplus-dev libspdlog-dev libfmt-dev
  libsentencepiece-dev        # includes libsentencepiece_train
  libgtest-dev libgmock-dev
  nlohmann-json3-dev
  libicu-dev                  # Unicode classes and NFC for tokenizer.json (byte-level BPE)
  python3                     # the quickstart's data generator and accuracy readout
  python3-jinja2              # tests/jinja: Jinja2 renders the expected chat-template strings
  clang-format                # ctest format.clang_format
  clang libclang-rt-14-dev libfuzzer-14-dev   # scripts/fuzz.sh: libFuzzer, ASan, UBSan (fuzz/)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
