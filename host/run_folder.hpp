// What a new run does with an output_dir that a previous run wrote into (docs/reliability.md,
// family "run folder ownership"). Results are: a non-empty metrics.jsonl, and in any stage folder a
// stage_complete.json, model/, adapter/, eval_predictions.jsonl or checkpoint-<step>/.
//
//   no flag      a folder with results is refused (exit 1): appending a new run's metrics and
//                later resuming from another run's stage_complete.json mixes two runs.
//   --resume     continues them (each stage's fingerprint is checked, run_fingerprint.hpp).
//   --overwrite  removes what rlhf-host wrote there first: run.log, metrics.jsonl, pipeline.toml,
//                TensorBoard event files of earlier versions (today each stage's TensorBoard run
//                is in its folder, <stage>/runs/) and every stage folder (a folder holding a
//                stage's files). Anything else is kept, and nothing is followed through a symbolic
//                link: a link is removed as a link, never what it points to.
//
// In every case the leftovers of interrupted writes are then removed
// (rlhf/toolkit/replace_dir.hpp).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace rlhf::host {

enum class ExistingResults { refuse, resume, overwrite };

// The results of a previous run in `output_dir`, as paths relative to it ("metrics.jsonl",
// "sft/checkpoint-2", …); empty when there are none.
std::vector<std::string> previous_results(const std::filesystem::path& output_dir);

// True when `stage_dir` holds a result or a checkpoint of its stage.
bool stage_has_results(const std::filesystem::path& stage_dir);

// Applies `mode` to `output_dir` (which exists and is locked by this process): refuses, removes
// or keeps the previous results, then removes leftovers. Returns one line per action for the
// log; throws rlhf::Error when refusing.
std::vector<std::string> prepare_run_folder(const std::filesystem::path& output_dir,
                                            ExistingResults mode);

}  // namespace rlhf::host
