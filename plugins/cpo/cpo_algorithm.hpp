// The "cpo" algorithm: Contrastive Preference Optimization (Xu et al. 2024,
// https://arxiv.org/abs/2401.08417), reference-free, a loss on the SDK's pair-preference stage
// (rlhf/pair_preference.hpp); formula and TRL names in cpo_loss.hpp.
//
//   [[stage]]
//   algorithm = "cpo"
//   beta = 0.1              # β
//   label_smoothing = 0.0   # ε in [0, 0.5)
//   cpo_alpha = 1.0         # weight of the chosen NLL (behaviour cloning), ≥ 0
//   # + every TrainingConfig key
//
// eval_only: eval_predictions.jsonl lines hold index, source, chosen_logps, rejected_logps,
// chosen_reward, rejected_reward (β·summed log-prob).
#pragma once

#include "rlhf/pair_preference.hpp"

namespace rlhf::cpo {

class CpoAlgorithm : public PairPreferenceAlgorithm {
 public:
  explicit CpoAlgorithm(const Config& config);
};

}  // namespace rlhf::cpo
