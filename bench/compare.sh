#!/usr/bin/env bash
# Side by side: rlhf-host (build/bench/compare_bench, the SDK and plugin functions a step calls)
# and PyTorch eager (bench/compare_torch.py: transformers' Llama + TRL's losses in plain torch,
# Debian's python3-torch), same checkpoint, same batches, same thread count, interleaved
# (C++, Python, C++, … for each workload), each run its own process. Issue 18; numbers and
# what each side computes: bench/README.md, "Side by side with PyTorch eager (issue 18)".
#
#   bash bench/compare.sh [THREADS]          # default 2 intra-op threads
#
# Environment: REPEATS (3) runs of each side per workload; STEPS (1) timed steps per run after
# one warm-up step; PAIRS (2) preference pairs per step; QUICK=1 a smoke run (2 layers, short
# sequences, 1 repeat); KEEP=1 keeps the work folder (checkpoints, batches, raw results);
# RESULTS (/tmp/rlhf-compare-results.txt) where the raw RESULT/CHECK lines are copied;
# WORKLOADS ("logps sft dpo_live dpo_precomputed orpo dpo_nf4") and DTYPES ("float32 bfloat16")
# to run a subset.
# Needs: cmake --build build --target compare_bench (BUILD=dir for another build folder).
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=${1:-${THREADS:-2}}
REPEATS=${REPEATS:-3}
STEPS=${STEPS:-1}
PAIRS=${PAIRS:-2}
ITERS=10
SMALL=()
if [[ "${QUICK:-0}" == 1 ]]; then
  REPEATS=1
  ITERS=3
  SMALL=(--small)
fi
CPP=${BUILD:-build}/bench/compare_bench
PY=(/usr/bin/python3 bench/compare_torch.py)
RESULTS=${RESULTS:-/tmp/rlhf-compare-results.txt}
if [[ ! -x "$CPP" ]]; then
  echo "compare.sh: $CPP not found: cmake --build ${BUILD:-build} --target compare_bench" >&2
  exit 1
fi
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "compare.sh: /usr/bin/python3 cannot import torch (apt-get install python3-torch)" >&2
  exit 1
fi

# Both sides: the same intra-op thread count (at::set_num_threads / torch.set_num_threads, and
# OpenMP's own for the BLAS) and the same OpenMP wait policy.
export OMP_NUM_THREADS=$THREADS
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

WORK=$(mktemp -d /tmp/rlhf-compare.XXXXXX)
if [[ "${KEEP:-0}" != 1 ]]; then trap 'rm -rf "$WORK"' EXIT; fi
LOG=$WORK/results.txt
began=$(date +%s)
{
  echo "# $(date -u '+%Y-%m-%d %H:%M UTC') $(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
    "threads=$THREADS repeats=$REPEATS steps=$STEPS pairs=$PAIRS quick=${QUICK:-0}" \
    "OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
  echo "# $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$LOG"

"$CPP" setup "$WORK" "${SMALL[@]}" --pairs "$PAIRS"

# One process; its RESULT/CHECK lines go to the log, a failure is logged and the run goes on.
side() {
  local out
  if out=$("$@" 2>&1); then
    grep -E '^(RESULT|CHECK) ' <<<"$out" | tee -a "$LOG"
  else
    echo "FAILED: $* :: $(tail -n 3 <<<"$out" | tr '\n' ' ')" | tee -a "$LOG"
  fi
}

for ((r = 1; r <= REPEATS; r++)); do
  for dtype in float32 bfloat16; do
    side "$CPP" matmul "$dtype" --threads "$THREADS" --iters "$ITERS"
    side "${PY[@]}" matmul "$dtype" --threads "$THREADS" --iters "$ITERS"
  done
  side "$CPP" copy --threads "$THREADS" --iters "$ITERS"
  side "${PY[@]}" copy --threads "$THREADS" --iters "$ITERS"
done

for workload in ${WORKLOADS:-logps sft dpo_live dpo_precomputed orpo dpo_nf4}; do
  for dtype in ${DTYPES:-float32 bfloat16}; do
    for ((r = 1; r <= REPEATS; r++)); do
      side "$CPP" run "$workload" "$dtype" "$WORK" --threads "$THREADS" --steps "$STEPS"
      side "${PY[@]}" run "$workload" "$dtype" "$WORK" --threads "$THREADS" --steps "$STEPS"
    done
  done
done

echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); $(($(date +%s) - began)) s" |
  tee -a "$LOG"
cp "$LOG" "$RESULTS"
# Exit status 1 when a run failed or the two sides computed different numbers.
status=0
"${PY[@]}" summarize "$LOG" "$WORK" || status=1
echo
echo "raw lines: $RESULTS${KEEP:+; work folder: $WORK}"
exit $status
