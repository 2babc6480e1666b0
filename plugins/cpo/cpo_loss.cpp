#include "cpo_loss.hpp"

#include <torch/torch.h>

namespace rlhf::cpo {

namespace {
// logσ(z) = −softplus(−z): stable for large |z|.
at::Tensor log_sigma(const at::Tensor& z) { return -torch::nn::functional::softplus(-z); }
}  // namespace

CpoLossOutput cpo_loss(const SequenceLogps& chosen, const SequenceLogps& rejected, double beta,
                       double label_smoothing, double cpo_alpha) {
  const at::Tensor h = chosen.sum - rejected.sum;
  const double eps = label_smoothing;
  CpoLossOutput out;
  out.losses = -(1 - eps) * log_sigma(beta * h) - eps * log_sigma(-beta * h);
  out.nll_loss = mean_token_nll(chosen);
  out.loss = out.losses.mean() + cpo_alpha * out.nll_loss;
  out.chosen_rewards = (beta * chosen.sum).detach();
  out.rejected_rewards = (beta * rejected.sum).detach();
  return out;
}

}  // namespace rlhf::cpo
