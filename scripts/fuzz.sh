#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, ASan + UBSan) into ./build-fuzz and runs each one
# over its corpus (docs/reliability.md, "Fuzzing").
#
#   bash scripts/fuzz.sh                  # smoke: every target for 5 s (scripts/test.sh runs this)
#   bash scripts/fuzz.sh 600              # every target for 600 s
#   bash scripts/fuzz.sh -runs=1000000    # every target for 1,000,000 executions
#   TARGETS="jsonl pipeline" bash scripts/fuzz.sh 60
#
# Corpus: build-fuzz/corpus/<target>/ (grows across runs), read together with the seeds of
# fuzz/make_seeds.py and the hand-written ones in fuzz/corpus/<target>/; fuzz/<target>.dict
# holds the target's keywords. A finding is saved as
# build-fuzz/findings/<target>/crash-* (or leak-, timeout-, oom-) and the script exits 1;
# reproduce it with `build-fuzz/fuzz/<target>_fuzz FILE`, and add it to fuzz/corpus/<target>/
# once fixed. Each target's libFuzzer output is in build-fuzz/fuzz-<target>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
limit=${1:-5}
if [[ $limit == -runs=* ]]; then budget=("$limit"); else budget=(-max_total_time="$limit"); fi
targets=${TARGETS:-"safetensors jsonl pipeline chat_template"}

bash scripts/install-deps.sh
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DRLHF_FUZZ=ON -DRLHF_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz -j "${JOBS:-$(nproc)}" --target rlhf_fuzz
python3 fuzz/make_seeds.py build-fuzz/seeds

status=0
printf '%-14s %12s %9s %8s %8s  %s\n' target executions exec/s corpus seconds result
for t in $targets; do
  corpus=$root/build-fuzz/corpus/$t findings=$root/build-fuzz/findings/$t
  log=$root/build-fuzz/fuzz-$t.log
  mkdir -p "$corpus" "$findings"
  dirs=("$corpus" "$root/build-fuzz/seeds/$t")
  [[ -d fuzz/corpus/$t ]] && dirs+=("$root/fuzz/corpus/$t")
  dict=()
  [[ -f fuzz/$t.dict ]] && dict=(-dict="$root/fuzz/$t.dict")
  start=$SECONDS
  result=ok
  # -timeout: one input running 10 s is a hang; -rss_limit_mb leaves room for LibTorch.
  build-fuzz/fuzz/${t}_fuzz "${budget[@]}" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    "${dict[@]}" -artifact_prefix="$findings/" "${dirs[@]}" >"$log" 2>&1 || result=FINDING
  stat() { sed -n "s/^stat::$1: *//p" "$log"; }
  # corpus: libFuzzer's own count at the end (the folder also keeps inputs it later reduced).
  printf '%-14s %12s %9s %8s %8s  %s\n' "$t" "$(stat number_of_executed_units)" \
    "$(stat average_exec_per_sec)" "$(grep -o 'corp: [0-9]*' "$log" | tail -1 | cut -c7-)" \
    $((SECONDS - start)) "$result"
  if [[ $result != ok ]]; then
    status=1
    grep -E -A25 'ERROR|FUZZ FINDING|runtime error|deadly signal' "$log" | head -60 || tail -40 "$log"
    ls "$findings"
  fi
done
exit $status
