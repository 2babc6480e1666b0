#!/usr/bin/env bash
# The quickstart: build rlhf-host, make two tiny models and a synthetic preference task, train
# them with ORPO, SimPO, CPO, KTO, SFT→DPO (full fine-tune) and QLoRA SFT→DPO (NF4 base + LoRA,
# bfloat16), and
# print held-out preference accuracy before and after.
#
#   scripts/quickstart.sh            # everything: on 2 cores ~6 min to build the host and
#                                    # plugins from scratch, then under a minute of training
#   SKIP_BUILD=1 RLHF_HOST=build-x/rlhf-host scripts/quickstart.sh   # an existing build
#
# Preference accuracy = the fraction of held-out pairs where the policy gives the polite (chosen)
# reply a higher log-probability than the rude (rejected) one; read from the eval_only stages'
# eval_predictions.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${SKIP_BUILD:-}" ]]; then
  RLHF_TARGETS="rlhf-host rlhf_plugins" bash scripts/build.sh  # the tests build with test.sh
fi
HOST=${RLHF_HOST:-build/rlhf-host}  # RLHF_HOST: use another build

echo "== synthetic task: polite vs rude replies (examples/quickstart/make_data.py)"
python3 examples/quickstart/make_data.py --out examples/data

echo "== tiny models + tokenizer (rlhf-host init-model)"
"$HOST" init-model --out examples/models/tiny --corpus examples/data/polite_corpus.txt \
  --vocab-size 512 --hidden-size 64 --intermediate-size 128 --layers 2 --heads 4 --kv-heads 2 \
  --max-position-embeddings 256 --seed 0 --force
"$HOST" init-model --out examples/models/small --corpus examples/data/polite_corpus.txt \
  --vocab-size 512 --hidden-size 256 --intermediate-size 512 --layers 4 --heads 8 --kv-heads 4 \
  --max-position-embeddings 256 --seed 0 --force

accuracy() {  # accuracy <eval_predictions.jsonl>
  python3 - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{sum(r['chosen_logps'] > r['rejected_logps'] for r in rows) / len(rows):.3f} ({len(rows)} pairs)")
PY
}

declare -A RESULT
for pipeline in orpo simpo cpo kto sft-dpo qlora-sft-dpo; do
  echo "== pipeline examples/$pipeline.toml"
  rm -rf "runs/$pipeline"
  start=$(date +%s)
  "$HOST" "examples/$pipeline.toml"
  end=$(date +%s)
  RESULT[$pipeline]="before $(accuracy "runs/$pipeline/before/eval_predictions.jsonl") -> after $(accuracy "runs/$pipeline/after/eval_predictions.jsonl") in $((end - start)) s"
done

echo
echo "== held-out preference accuracy (polite preferred over rude)"
for pipeline in orpo simpo cpo kto sft-dpo qlora-sft-dpo; do
  echo "  $pipeline: ${RESULT[$pipeline]}"
done
echo "metrics: runs/<pipeline>/metrics.jsonl (tensorboard --logdir runs)"
