#include "simpo_loss.hpp"

#include <torch/torch.h>

namespace rlhf::simpo {

namespace {
// logσ(z) = −softplus(−z): stable for large |z|.
at::Tensor log_sigma(const at::Tensor& z) { return -torch::nn::functional::softplus(-z); }
}  // namespace

SimpoLossOutput simpo_loss(const SequenceLogps& chosen, const SequenceLogps& rejected, double beta,
                           double gamma, double label_smoothing, double cpo_alpha) {
  const at::Tensor z = beta * chosen.mean - beta * rejected.mean - gamma;
  const double eps = label_smoothing;
  SimpoLossOutput out;
  out.losses = -(1 - eps) * log_sigma(z) - eps * log_sigma(-z);
  out.nll_loss = mean_token_nll(chosen);
  out.loss = out.losses.mean() + cpo_alpha * out.nll_loss;
  out.chosen_rewards = (beta * chosen.mean).detach();
  out.rejected_rewards = (beta * rejected.mean).detach();
  return out;
}

}  // namespace rlhf::simpo
