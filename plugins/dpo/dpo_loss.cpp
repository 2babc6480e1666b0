#include "dpo_loss.hpp"

#include <torch/torch.h>

#include "rlhf/error.hpp"

namespace rlhf::dpo {

namespace {
// logσ(z) = −softplus(−z): stable for large |z|.
at::Tensor log_sigma(const at::Tensor& z) { return -torch::nn::functional::softplus(-z); }
}  // namespace

LossType loss_type_from_string(const std::string& name) {
  if (name == "sigmoid") return LossType::sigmoid;
  if (name == "robust") return LossType::robust;
  if (name == "hinge") return LossType::hinge;
  if (name == "ipo") return LossType::ipo;
  throw Error("loss_type \"" + name + "\" is unknown; expected sigmoid, robust, hinge or ipo");
}

const char* to_string(LossType type) {
  switch (type) {
    case LossType::sigmoid:
      return "sigmoid";
    case LossType::robust:
      return "robust";
    case LossType::hinge:
      return "hinge";
    case LossType::ipo:
      return "ipo";
  }
  return "?";
}

DpoLossOutput dpo_loss(const ChosenRejectedLogps& policy, const ChosenRejectedLogps& reference,
                       double beta, LossType loss_type, double label_smoothing,
                       bool reference_free) {
  const bool length_normalised = loss_type == LossType::ipo;
  const at::Tensor& pi_chosen = length_normalised ? policy.chosen_mean : policy.chosen;
  const at::Tensor& pi_rejected = length_normalised ? policy.rejected_mean : policy.rejected;
  at::Tensor pi_logratios = pi_chosen - pi_rejected;
  at::Tensor ref_logratios = torch::zeros_like(pi_logratios);
  if (!reference_free) {
    const at::Tensor& ref_chosen = length_normalised ? reference.chosen_mean : reference.chosen;
    const at::Tensor& ref_rejected =
        length_normalised ? reference.rejected_mean : reference.rejected;
    ref_logratios = (ref_chosen - ref_rejected).detach();
  }
  at::Tensor logits = pi_logratios - ref_logratios;
  const double eps = label_smoothing;

  DpoLossOutput out;
  switch (loss_type) {
    case LossType::sigmoid:
      out.losses = -(1 - eps) * log_sigma(beta * logits) - eps * log_sigma(-beta * logits);
      break;
    case LossType::robust:
      out.losses =
          (-(1 - eps) * log_sigma(beta * logits) + eps * log_sigma(-beta * logits)) / (1 - 2 * eps);
      break;
    case LossType::hinge:
      out.losses = torch::relu(1 - beta * logits);
      break;
    case LossType::ipo:
      out.losses = (logits - 1 / (2 * beta)).pow(2);
      break;
  }
  at::Tensor ref_chosen = reference_free ? torch::zeros_like(policy.chosen) : reference.chosen;
  at::Tensor ref_rejected =
      reference_free ? torch::zeros_like(policy.rejected) : reference.rejected;
  out.chosen_rewards = (beta * (policy.chosen - ref_chosen)).detach();
  out.rejected_rewards = (beta * (policy.rejected - ref_rejected)).detach();
  return out;
}

RpoLossOutput rpo_loss(const DpoLossOutput& dpo, const SequenceLogps& policy_chosen,
                       double rpo_alpha) {
  RpoLossOutput out;
  out.nll_loss = mean_token_nll(policy_chosen);
  out.loss = dpo.losses.mean() + rpo_alpha * out.nll_loss;
  return out;
}

}  // namespace rlhf::dpo
