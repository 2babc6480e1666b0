// The "simpo" algorithm: SimPO (Meng et al. 2024, https://arxiv.org/abs/2405.14734), reference-
// free, a loss on the SDK's pair-preference stage (rlhf/pair_preference.hpp); formula, TRL names
// and the one deviation from TRL's defaults in simpo_loss.hpp.
//
//   [[stage]]
//   algorithm = "simpo"
//   beta = 0.1              # β (TRL CPOConfig default; the paper uses 2.0–2.5)
//   simpo_gamma = 0.5       # γ, the target reward margin, ≥ 0
//   label_smoothing = 0.0   # ε in [0, 0.5)
//   cpo_alpha = 0.0         # weight of the chosen NLL (0: plain SimPO; TRL's default 1.0 =
//   CPO-SimPO) # + every TrainingConfig key
//
// eval_only: eval_predictions.jsonl lines hold index, source, chosen_logps, rejected_logps,
// chosen_reward, rejected_reward (β·average log-prob).
#pragma once

#include "rlhf/pair_preference.hpp"

namespace rlhf::simpo {

class SimpoAlgorithm : public PairPreferenceAlgorithm {
 public:
  explicit SimpoAlgorithm(const Config& config);
};

}  // namespace rlhf::simpo
