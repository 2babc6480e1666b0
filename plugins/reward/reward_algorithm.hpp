// The "reward" algorithm: trains a reward model — a scalar head `score` on the policy's final
// hidden state at the last real token (rlhf/toolkit/sequence_classifier.hpp) — on preference
// pairs with the Bradley–Terry loss (reward_loss.hpp), on the SDK's stage helpers
// (rlhf/stage.hpp). TRL's RewardTrainer with AutoModelForSequenceClassification(num_labels=1).
//
//   [[stage]]
//   name = "reward"
//   algorithm = "reward"
//   data = { plugin = "jsonl", path = "prefs.jsonl" }   # prompt/chosen/rejected (+ margin)
//   center_rewards_coefficient = 0.0   # c·mean((r_w + r_l)²) added to the loss; 0 = off
//   # + every TrainingConfig key (HF/TRL names; TRL RewardConfig defaults: max_length 1024)
//   # a `reward_model` table is an error here (nothing is scored with one)
//
// What trains: the head (always, full, float32) and the adapter's parameters with an adapter,
// else every model parameter. The head is drawn normal(0, 0.02) (transformers' init) the first
// time a stage needs it, from the generator the host seeds, and stays on the policy for the
// following stages: an `eval_only` reward stage after a training one evaluates the trained
// head; a policy loaded from a reward model folder ([model].path = ".../reward/model") comes
// with its head. Checkpoints hold it as "score.weight".
//
// Result (rlhf/sequence_classifier_result.hpp): `<stage_dir>/model/` as transformers'
// LlamaForSequenceClassification (+ `adapter/`, PEFT SEQ_CLS, with an adapter). The lm_head is
// not saved: a SequenceClassification model has none, and no gradient reaches it here.
//
// Metrics: loss, accuracy (eval: eval_loss, eval_accuracy). eval_only = true writes
// `<stage_dir>/eval_predictions.jsonl`: {"index", "source", "chosen_reward", "rejected_reward"}
// (+ "margin" when the evaluated data has margins) per pair; it needs a head (a reward training
// stage before it, or a reward model folder as [model].path).
#pragma once

#include "rlhf/algorithm.hpp"
#include "rlhf/training_config.hpp"

namespace rlhf {
class Config;
}

namespace rlhf::reward {

class RewardAlgorithm : public Algorithm {
 public:
  explicit RewardAlgorithm(const Config& config);
  void run(StageContext& ctx) override;
  // The stage helpers check instead of running under --check (ctx.check_only).
  void check(StageContext& ctx) override { run(ctx); }

 private:
  TrainingConfig training_;
  double center_rewards_coefficient_ = 0;
};

}  // namespace rlhf::reward
