// The "dpo" algorithm: Direct Preference Optimization (Rafailov et al. 2023,
// https://arxiv.org/abs/2305.18290) and its loss variants (dpo_loss.hpp), on the SDK Trainer.
//
//   [[stage]]
//   name = "dpo"
//   algorithm = "dpo"
//   beta = 0.1                     # β, typically 0.1–0.5
//   loss_type = "sigmoid"          # sigmoid | robust | hinge | ipo
//   label_smoothing = 0.0          # ε (cDPO / robust), 0 ≤ ε < 0.5
//   reference_free = false         # ref_logratios = 0
//   precompute_ref_log_probs = false
//   ref_model = ""                 # a model directory; default: the policy with adapters off
//   # + every TrainingConfig key (learning_rate, max_steps, …; TRL names and defaults)
//
// Reference policy: a separate `ref_model` when given; else the policy itself with its adapter
// disabled (no second copy of the base weights). Without an adapter and without ref_model the
// policy's own weights change, so the reference log-probs are precomputed before training.
//
// eval_only = true: no training; evaluates the eval split (the train split when there is none),
// logs eval_* metrics and writes `<stage_dir>/eval_predictions.jsonl`, one line per pair:
// {"index", "source", "chosen_logps", "rejected_logps", "ref_chosen_logps", "ref_rejected_logps",
//  "chosen_reward", "rejected_reward"}. It also logs `eval_preference_accuracy` (an rlhf-host
// addition): the fraction of pairs with log π_θ(y_w|x) > log π_θ(y_l|x).
#pragma once

#include <string>

#include "dpo_loss.hpp"
#include "rlhf/algorithm.hpp"
#include "rlhf/training_config.hpp"

namespace rlhf {
class Config;
}

namespace rlhf::dpo {

class DpoAlgorithm : public Algorithm {
 public:
  explicit DpoAlgorithm(const Config& config);
  void run(StageContext& ctx) override;
  // The policy setup, the model's and ref_model's files and every pair tokenised, as run() does
  // first.
  void check(StageContext& ctx) override;

 private:
  TrainingConfig training_;
  double beta_ = 0.1;
  LossType loss_type_ = LossType::sigmoid;
  double label_smoothing_ = 0.0;
  bool reference_free_ = false;
  bool precompute_ref_log_probs_ = false;
  std::string ref_model_;
};

}  // namespace rlhf::dpo
