// The "sft" algorithm: supervised fine-tuning on completions (sft_loss.hpp), on the SDK's stage
// helpers (rlhf/stage.hpp).
//
//   [[stage]]
//   name = "sft"
//   algorithm = "sft"
//   data = { plugin = "jsonl", path = "…" }   # prompt+completion, messages, text — or
//                                              # preference data, whose `chosen` is the target
//   # + every TrainingConfig key (TRL SFTConfig defaults: learning_rate 2e-5, max_length 1024)
//
// Metrics: loss, mean_token_accuracy (eval: eval_loss, eval_mean_token_accuracy).
// eval_only = true writes `<stage_dir>/eval_predictions.jsonl`: {"index", "source",
// "completion_logps", "completion_tokens"} per example.
#pragma once

#include "rlhf/algorithm.hpp"
#include "rlhf/training_config.hpp"

namespace rlhf {
class Config;
}

namespace rlhf::sft {

class SftAlgorithm : public Algorithm {
 public:
  explicit SftAlgorithm(const Config& config);
  void run(StageContext& ctx) override;
  // The stage helpers check instead of running under --check (ctx.check_only).
  void check(StageContext& ctx) override { run(ctx); }

 private:
  TrainingConfig training_;
};

}  // namespace rlhf::sft
