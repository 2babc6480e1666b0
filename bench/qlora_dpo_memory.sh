#!/usr/bin/env bash
# Peak memory of a QLoRA DPO stage after SFT, two ways (issue 13, "QLoRA SFT→DPO stays QLoRA"):
#   merge  — merge_adapter_before = true: the SFT adapter is folded into the base, which
#            dequantizes every NF4 projection to the compute dtype; a fresh adapter trains and the
#            merged model with the adapter off is the reference (the way before ref_adapter);
#   4bit   — ref_adapter = "stage_start": the SFT adapter keeps training (policy) and a frozen
#            copy of it is the reference (TRL's ref_adapter_name); the base stays NF4.
# Both use gradient checkpointing, as PEFT's prepare_model_for_kbit_training turns it on for
# QLoRA (without it the saved activations of a layer-by-layer backward dominate both runs).
# Both start from the same SFT adapter (`[adapter] path`) on the same pre-quantized NF4 checkpoint
# (`rlhf-host quantize`), so loading reads 4-bit tensors in both; each DPO run is its own process,
# measured by GNU time's maximum resident set size.
#
#   bench/qlora_dpo_memory.sh [HOST]     # HOST defaults to build/rlhf-host; ~10 min on 2 cores
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(realpath "${1:-build/rlhf-host}")
work=$(mktemp -d)
[[ -n "${KEEP:-}" ]] || trap 'rm -rf "$work"' EXIT
echo "work folder: $work" >&2
python3 examples/quickstart/make_data.py --out "$work/data" > /dev/null
cd "$work"

# SHAPE: the model's init-model options. Default: TinyLlama-1.1B's shape (H 2048, I 5632, 22
# layers, 32 heads / 4 KV heads; 0.97B parameters in the projections) with a 1,024-token
# vocabulary (what the quickstart corpus can train), so the projections are nearly all of the
# weights, as in a real model. SHAPE="--hidden-size 768 --intermediate-size 2048 --layers 12
# --heads 12 --kv-heads 4" is the 100M bench model's shape (bench/bench_model.hpp).
shape=${SHAPE:---hidden-size 2048 --intermediate-size 5632 --layers 22 --heads 32 --kv-heads 4}
# shellcheck disable=SC2086
"$host" init-model --out dense --corpus data/polite_corpus.txt --vocab-size 1024 $shape \
  --tie-embeddings --max-position-embeddings 512 --dtype bfloat16 --seed 0 > init.log 2>&1
"$host" quantize --model dense --quantizer nf4 --out nf4 > quantize.log 2>&1

common() {  # common <output_dir> [adapter path line]
  cat <<TOML
[run]
output_dir = "$1"
seed = 1
threads = 0
[model]
path = "nf4"
dtype = "bfloat16"
chat_template = "zephyr"
[adapter]
plugin = "lora"
$2
TOML
}
{ common sft "r = 16
alpha = 32
target_modules = \"all-linear\""
  cat <<'TOML'
[[stage]]
name = "sft"
algorithm = "sft"
learning_rate = 1e-3
max_steps = 2
per_device_train_batch_size = 4
max_length = 128
data = { plugin = "jsonl", path = "data/polite_sft.jsonl" }
TOML
} > sft.toml
"$host" sft.toml > sft.log 2>&1

dpo() {  # dpo <name> <reference key line>
  { common "$1" 'path = "sft/sft/adapter"'
    cat <<TOML
[[stage]]
name = "dpo"
algorithm = "dpo"
$2
gradient_checkpointing = true
learning_rate = 1e-3
max_steps = 3
per_device_train_batch_size = 4
max_length = 128
max_prompt_length = 64
data = { plugin = "jsonl", path = "data/polite_train.jsonl" }
TOML
  } > "$1.toml"
  /usr/bin/time -f "%M" -o "$1.rss" "$host" "$1.toml" > "$1.log" 2>&1
  echo "$1: peak RSS $(( $(cat "$1.rss") / 1024 )) MiB ($(grep -o 'reference: .*' "$1.log" | head -1))"
}
dpo merge 'merge_adapter_before = true'
dpo 4bit 'ref_adapter = "stage_start"'
python3 - merge.rss 4bit.rss <<'PY'
import sys
merge, four = (int(open(f).read().split()[-1]) for f in sys.argv[1:])
print(f"4bit / merge = {four / merge:.2f}")
PY
