#!/usr/bin/env bash
# The quickstart: build rlhf-host, make five tiny models and two synthetic tasks, train them
# with ORPO, SimPO, CPO, KTO, SFT→DPO (full fine-tune), QLoRA SFT→DPO (NF4 base + LoRA,
# bfloat16), SFT→DPO on a Llama-3 and a Qwen2 folder (tokenizer.json, their own Jinja chat
# templates), a reward model → SFT → PPO with the learned reward, and SFT → PPO with a rule
# reward, and print held-out preference accuracy / mean reward before and after.
#
#   scripts/quickstart.sh            # everything: on 2 cores ~6 min to build the host and
#                                    # plugins from scratch, then a few minutes of training
#   SKIP_BUILD=1 RLHF_HOST=build-x/rlhf-host scripts/quickstart.sh   # an existing build
#
# Preference accuracy = the fraction of held-out pairs where the policy gives the polite (chosen)
# reply a higher log-probability than the rude (rejected) one; read from the eval_only stages'
# eval_predictions.jsonl. Mean reward = the mean score of one sampled completion per held-out
# prompt, read from the PPO eval_only stages' eval_completions.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${SKIP_BUILD:-}" ]]; then
  RLHF_TARGETS="rlhf-host rlhf_plugins" bash scripts/build.sh  # the tests build with test.sh
fi
HOST=${RLHF_HOST:-build/rlhf-host}  # RLHF_HOST: use another build

echo "== synthetic task: polite vs rude replies (examples/quickstart/make_data.py)"
python3 examples/quickstart/make_data.py --out examples/data
echo "== synthetic verifiable task: the color of made-up objects (examples/quickstart/make_color_data.py)"
python3 examples/quickstart/make_color_data.py --out examples/data

echo "== tiny models + tokenizer (rlhf-host init-model)"
"$HOST" init-model --out examples/models/tiny --corpus examples/data/polite_corpus.txt \
  --vocab-size 512 --hidden-size 64 --intermediate-size 128 --layers 2 --heads 4 --kv-heads 2 \
  --max-position-embeddings 256 --seed 0 --force
"$HOST" init-model --out examples/models/small --corpus examples/data/polite_corpus.txt \
  --vocab-size 512 --hidden-size 256 --intermediate-size 512 --layers 4 --heads 8 --kv-heads 4 \
  --max-position-embeddings 256 --seed 0 --force
"$HOST" init-model --out examples/models/color --corpus examples/data/color_corpus.txt \
  --vocab-size 400 --hidden-size 64 --intermediate-size 128 --layers 2 --heads 4 --kv-heads 2 \
  --max-position-embeddings 128 --seed 0 --force
for family in llama3 qwen2; do  # byte-level BPE tokenizer.json + the family's Jinja template
  "$HOST" init-model --out "examples/models/tiny-$family" --family "$family" \
    --corpus examples/data/polite_corpus.txt --vocab-size 512 --hidden-size 64 \
    --intermediate-size 128 --layers 2 --heads 4 --kv-heads 2 --max-position-embeddings 256 \
    --seed 0 --force
done

accuracy() {  # accuracy <eval_predictions.jsonl>
  python3 - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{sum(r['chosen_logps'] > r['rejected_logps'] for r in rows) / len(rows):.3f} ({len(rows)} pairs)")
PY
}

mean_score() {  # mean_score <eval_completions.jsonl>
  python3 - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{sum(r['score'] for r in rows) / len(rows):.3f} ({len(rows)} prompts)")
PY
}

reward_accuracy() {  # reward_accuracy <eval_predictions.jsonl of a reward eval_only stage>
  python3 - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{sum(r['chosen_reward'] > r['rejected_reward'] for r in rows) / len(rows):.3f} ({len(rows)} pairs)")
PY
}

declare -A RESULT
PREFERENCE="orpo simpo cpo kto sft-dpo qlora-sft-dpo families-sft-dpo families-sft-dpo-qwen2"
PPO="sft-reward-ppo ppo-rule"
for pipeline in $PREFERENCE $PPO; do
  # families-sft-dpo-qwen2: the same pipeline file on the Qwen2 folder
  file=${pipeline%-qwen2}
  args=()
  if [[ "$pipeline" == *-qwen2 ]]; then
    args=(--set model.path=examples/models/tiny-qwen2 --set "run.output_dir=runs/$pipeline")
  fi
  echo "== pipeline examples/$file.toml ${args[*]}"
  rm -rf "runs/$pipeline"
  start=$(date +%s)
  "$HOST" "examples/$file.toml" "${args[@]}"
  end=$(date +%s)
  if [[ " $PPO " == *" $pipeline "* ]]; then
    RESULT[$pipeline]="before $(mean_score "runs/$pipeline/before/eval_completions.jsonl") -> after $(mean_score "runs/$pipeline/after/eval_completions.jsonl") in $((end - start)) s"
  else
    RESULT[$pipeline]="before $(accuracy "runs/$pipeline/before/eval_predictions.jsonl") -> after $(accuracy "runs/$pipeline/after/eval_predictions.jsonl") in $((end - start)) s"
  fi
done

echo
echo "== held-out preference accuracy (polite preferred over rude)"
for pipeline in $PREFERENCE; do
  echo "  $pipeline: ${RESULT[$pipeline]}"
done
echo "== PPO: mean reward of the policy on held-out prompts"
echo "  sft-reward-ppo (learned reward model, held-out pairwise accuracy $(reward_accuracy runs/sft-reward-ppo/reward_heldout/eval_predictions.jsonl)): ${RESULT[sft-reward-ppo]}"
echo "  ppo-rule (1 = exactly the right color): ${RESULT[ppo-rule]}"
echo "metrics: runs/<pipeline>/metrics.jsonl (tensorboard --logdir runs)"
