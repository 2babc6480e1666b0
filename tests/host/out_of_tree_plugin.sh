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
plugin=$work/build/librlhf_data_stats.so
test -f "$plugin"
# It was compiled against the installed headers, not the source tree.
grep -q "$work/prefix/include" "$work/build/build.ninja"

mkdir -p "$work/run/model"
echo '{}' > "$work/run/model/config.json"
cat > "$work/run/pipeline.toml" <<TOML
[run]
output_dir = "out"
[model]
path = "model"
[[stage]]
name = "inspect"
algorithm = "data_stats"
max_examples = 3
data = { plugin = "test_numbers", count = 12, prefix = "abc" }
TOML
cd "$work/run"
"$host" --list-plugins --plugin-path "$work/build" | grep -E "^algorithm +data_stats +0\.1\.0 +ok +$plugin$"
"$host" --plugin-path "$work/build" --plugin-path "$test_plugins/good" pipeline.toml
# 3 examples: prompts "abc0".."abc2" (4 chars), completions "seed42" (6 chars, default seed).
expected='{"examples": 3, "prompt_chars_mean": 4, "completion_chars_mean": 6}'
actual=$(cat out/inspect/data_stats.json)
if [[ "$actual" != "$expected" ]]; then
  echo "data_stats.json: expected $expected, got $actual" >&2
  exit 1
fi
grep -q '"stage":"inspect","step":0,"epoch":0.0,"examples":3.0' out/metrics.jsonl
echo "out-of-tree plugin built against the installed SDK and ran: ok"
