#!/usr/bin/env bash
# Third-party proof: install rlhf-host into a temporary prefix, build templates/plugin/ as a
# separate CMake project against the *installed* SDK (find_package(rlhf_sdk)), then run the
# plugin with --plugin-path in a pipeline through the *already built* host.
#   out_of_tree_plugin.sh BUILD_DIR SOURCE_DIR HOST_BINARY TEST_PLUGIN_DIR
set -euo pipefail
build_dir=$1 source_dir=$2 host=$3 test_plugins=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build_dir" --prefix "$work/prefix" > "$work/install.log"
test -f "$work/prefix/lib/cmake/rlhf_sdk/rlhf_sdkConfig.cmake" ||
  test -n "$(find "$work/prefix" -name rlhf_sdkConfig.cmake)"

cmake -S "$source_dir/templates/plugin" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log"
cmake --build "$work/build" > "$work/build.log"
plugin=$work/build/librlhf_norm_pref.so
test -f "$plugin"
# It was compiled against the installed headers, not the source tree.
grep -q "$work/prefix/include" "$work/build/build.ninja"

# A tiny model + tokenizer and six preference pairs; two optimizer steps at learning rate 0 so
# the logged numbers are the starting model's, then evaluate: the plugin trains, saves and
# reports like a built-in algorithm.
mkdir -p "$work/run"
cd "$work/run"
"$host" init-model --out model --corpus "$source_dir/examples/tokenizer/corpus.txt" \
  --vocab-size 512 --hidden-size 32 --intermediate-size 64 --layers 1 --heads 2 --kv-heads 1 \
  --seed 0 > init.log 2>&1
for i in 1 2 3 4 5 6; do
  echo "{\"prompt\": \"What is $i + $i?\", \"chosen\": \"It is $((i + i)).\", \"rejected\": \"No idea, go away.\"}"
done > pairs.jsonl
cat > pipeline.toml <<TOML
[run]
output_dir = "out"
[model]
path = "model"
chat_template = "zephyr"
[[stage]]
name = "pref"
algorithm = "norm_pref"
beta = 2.0
max_steps = 2
per_device_train_batch_size = 3
logging_steps = 1
learning_rate = 0.0
data = { plugin = "jsonl", path = "pairs.jsonl" }
[[stage]]
name = "eval"
algorithm = "norm_pref"
eval_only = true
data = { plugin = "jsonl", path = "pairs.jsonl" }
TOML
"$host" --list-plugins --plugin-path "$work/build" | grep -E "^algorithm +norm_pref +0\.1\.0 +ok +$plugin$"
"$host" --check --plugin-path "$work/build" pipeline.toml | grep -q "pipeline.toml: ok"
"$host" --plugin-path "$work/build" pipeline.toml > run.log 2>&1 || { cat run.log >&2; exit 1; }
test -f out/pref/stage_complete.json
test -f out/pref/model/config.json
# The step-1 loss is −log σ(β·(a_w − a_l)) averaged over the batch; the eval predictions hold
# the rewards β·a_w, β·a_l of every pair, so recompute the mean loss over all six from them and
# compare with the logged eval_loss (learning rate 0: the model never changed).
python3 - <<'PY'
import json, math
rows = [json.loads(l) for l in open("out/eval/eval_predictions.jsonl")]
assert len(rows) == 6, rows
loss = sum(-math.log(1 / (1 + math.exp(-(r["chosen_reward"] - r["rejected_reward"])))) for r in rows) / 6
metrics = [json.loads(l) for l in open("out/metrics.jsonl")]
eval_loss = [m["eval_loss"] for m in metrics if m["stage"] == "eval"][0]
assert abs(loss - eval_loss) < 1e-4 * max(1, abs(loss)), (loss, eval_loss)
assert [m["step"] for m in metrics if m["stage"] == "pref" and "loss" in m] == [1, 2], metrics
PY
echo "out-of-tree plugin built against the installed SDK, trained and evaluated: ok"
