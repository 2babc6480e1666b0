// The "orpo" algorithm: Odds Ratio Preference Optimization (Hong et al. 2024,
// https://arxiv.org/abs/2403.07691), a loss on the SDK's pair-preference stage
// (rlhf/pair_preference.hpp) — SFT and preference alignment in one stage, no reference model
// (orpo_loss.hpp).
//
//   [[stage]]
//   name = "orpo"
//   algorithm = "orpo"
//   beta = 0.1                     # λ, weight of the odds-ratio term (paper: 0.1)
//   # + every TrainingConfig key (learning_rate, max_steps, …; TRL names and defaults)
//
// eval_only = true: no training; evaluates the eval split (the train split when there is none) in
// one pass, logs eval_* metrics and writes `<stage_dir>/eval_predictions.jsonl`, one line per pair:
// {"index", "source", "chosen_logps", "rejected_logps" (summed), "chosen_avg_logps",
//  "rejected_avg_logps"}, plus `eval_preference_accuracy` (rlhf-host addition): the fraction of
// pairs with log π_θ(y_w|x) > log π_θ(y_l|x).
#pragma once

#include "rlhf/pair_preference.hpp"

namespace rlhf {
class Config;
}

namespace rlhf::orpo {

class OrpoAlgorithm : public PairPreferenceAlgorithm {
 public:
  explicit OrpoAlgorithm(const Config& config);
};

}  // namespace rlhf::orpo
