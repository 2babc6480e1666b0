// Reporting helpers shared by the algorithms' `eval_only` mode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "rlhf/trainer.hpp"

namespace rlhf {

struct StageContext;

// Writes one JSON object per line to `path` through `path.tmp` + rename, so a reader never
// sees a half-written file.
void write_jsonl(const std::filesystem::path& path, const std::vector<std::string>& lines);

// Sends `values` to ctx.metrics at `step` and prints them on one console line after `what`.
void report_metrics(StageContext& ctx, std::int64_t step, const Metrics& values,
                    const std::string& what);

// What `predict` returns for one batch of an `eval_only` run: one JSON object per example
// (the lines of eval_predictions.jsonl) and, for preference pairs, how many the policy ranked
// right (chosen log-prob above rejected).
struct EvalPredictions {
  std::vector<std::string> lines;
  std::size_t correct = 0;
};
using PredictFn = std::function<EvalPredictions(const std::vector<std::size_t>& eval_indices)>;

// The `eval_only` mode every algorithm shares: runs `predict` over the eval split in batches of
// per_device_eval_batch_size without gradients (task.set_training(false)), writes
// ctx.stage_dir/eval_predictions.jsonl, and logs trainer.evaluate(task) at step 0, plus
// eval_preference_accuracy when `pairs` is true.
void run_eval_only(StageContext& ctx, Trainer& trainer, const TrainingTask& task, bool pairs,
                   const PredictFn& predict);

}  // namespace rlhf
