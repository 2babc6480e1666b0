// The reward model's pairwise loss (docs/algorithms.md, "Reward modelling"): Bradley–Terry on
// the scalar scores of the chosen and rejected completions, as TRL's RewardTrainer.compute_loss,
//
//   loss = mean(−logσ(r_w − r_l − m)) + c·mean((r_w + r_l)²)
//
// with m the pair's margin (the data's optional `margin` field, 0 when absent) and c =
// `center_rewards_coefficient` (Eisenstein et al. 2023, "Helping or Herding?": keeps rewards
// centred on 0; 0 = off). Metric `accuracy`: the fraction of pairs with r_w > r_l.
#pragma once

#include <ATen/core/Tensor.h>

namespace rlhf::reward {

struct RewardLossOutput {
  at::Tensor loss;      // scalar, differentiable
  double accuracy = 0;  // mean 1[r_w > r_l]
};

// chosen, rejected, margin: [P] float32 (margin zeros where the data has none).
RewardLossOutput reward_loss(const at::Tensor& chosen, const at::Tensor& rejected,
                             const at::Tensor& margin, double center_rewards_coefficient);

}  // namespace rlhf::reward
