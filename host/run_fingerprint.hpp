// The fingerprint of a stage: what its checkpoints and result were computed from, stored as
// `output_dir/<stage>/fingerprint.json` when the stage starts. `--resume` compares it with the
// pipeline being run and refuses to continue a stage whose inputs changed, saying what changed
// ("model.path: was "a", now "b""; "stage.dpo.beta: was 0.1, now 0.2"), instead of continuing,
// say, a LoRA adapter on another base model.
//
// It records, for stage i: run.seed; every key of [model], [quantizer] and [adapter] (the adapter
// and quantizer settings); every key of the tables of stages 0..i (a stage continues the policy
// the stages before it trained), except the bookkeeping keys that do not change what is
// computed (logging_steps, save_steps, save_total_limit, eval_steps); and, for every string
// value that names an existing file or folder (model folders, data files), the content: per
// file its size and a 64-bit FNV-1a hash: of the whole file up to 64 MiB; above that (weights),
// of its first and last MiB (the safetensors header) and 32 evenly spread 64 KiB blocks, since a
// retrained or replaced weight file differs throughout. A folder records its regular files (not
// its subfolders). A path whose content is unchanged may move: paths with a content are
// compared by content.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline.hpp"

namespace rlhf::host {

// {"format": "rlhf-host-fingerprint", "version": 1, "keys": {"run.seed": {"value": "1"},
//  "model.path": {"value": "\"m\"", "content": {"config.json": "size 612, fnv1a64 …", …}}, …}}
nlohmann::ordered_json stage_fingerprint(const Pipeline& pipeline, std::size_t stage_index);

// One line per difference ("stage.sft.learning_rate: was 0.001, now 0.002"); empty when the
// current fingerprint matches the recorded one.
std::vector<std::string> fingerprint_differences(const nlohmann::ordered_json& recorded,
                                                 const nlohmann::ordered_json& current);

inline constexpr const char* kFingerprintFile = "fingerprint.json";

void write_fingerprint(const std::filesystem::path& stage_dir,
                       const nlohmann::ordered_json& fingerprint);
// The recorded fingerprint, or nullopt when the stage folder has none. Throws rlhf::Error for a
// file that is not a fingerprint.
std::optional<nlohmann::ordered_json> read_fingerprint(const std::filesystem::path& stage_dir);

}  // namespace rlhf::host
