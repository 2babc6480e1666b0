#include "orpo_loss.hpp"

#include <torch/torch.h>

namespace rlhf::orpo {

OrpoLossOutput orpo_loss(const SequenceLogps& chosen, const SequenceLogps& rejected, double beta) {
  const at::Tensor& a_w = chosen.mean;
  const at::Tensor& a_l = rejected.mean;
  // a < 0 always (a log-probability); clamp keeps log1p(−exp(a)) finite if a rounds to 0.
  auto log_odds = [](const at::Tensor& a) {
    return a - torch::log1p(-torch::exp(a.clamp_max(-1e-7)));
  };
  OrpoLossOutput out;
  out.log_odds_chosen = log_odds(a_w) - log_odds(a_l);
  out.ratio = -torch::nn::functional::softplus(-out.log_odds_chosen);  // logσ(z)
  out.nll_loss = mean_token_nll(chosen);
  out.loss = out.nll_loss - beta * out.ratio.mean();
  out.chosen_rewards = (beta * a_w).detach();
  out.rejected_rewards = (beta * a_l).detach();
  return out;
}

}  // namespace rlhf::orpo
