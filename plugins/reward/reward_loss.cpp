#include "reward_loss.hpp"

#include <torch/torch.h>

namespace rlhf::reward {

RewardLossOutput reward_loss(const at::Tensor& chosen, const at::Tensor& rejected,
                             const at::Tensor& margin, double center_rewards_coefficient) {
  RewardLossOutput out;
  // −logσ(z) = softplus(−z): stable for large |z|.
  out.loss = torch::nn::functional::softplus(-(chosen - rejected - margin)).mean();
  if (center_rewards_coefficient != 0)
    out.loss = out.loss + center_rewards_coefficient * (chosen + rejected).pow(2).mean();
  out.accuracy = (chosen > rejected).to(torch::kDouble).mean().item<double>();
  return out;
}

}  // namespace rlhf::reward
