#include "kto_loss.hpp"

#include <torch/torch.h>

namespace rlhf::kto {

KtoLossOutput kto_loss(const KtoLogps& policy, const KtoLogps& reference,
                       const at::Tensor& desirable, double beta, double desirable_weight,
                       double undesirable_weight) {
  KtoLossOutput out;
  // The reference point: clamped after the mean (TRL), and a constant for the gradient.
  out.kl = (policy.mismatched - reference.mismatched.detach()).mean().detach().clamp_min(0.0);
  const at::Tensor r = policy.matched - reference.matched.detach();
  // 1 − σ(x) = σ(−x), without the cancellation of 1 − σ(x) for large x.
  const at::Tensor desirable_losses = desirable_weight * torch::sigmoid(-beta * (r - out.kl));
  const at::Tensor undesirable_losses = undesirable_weight * torch::sigmoid(-beta * (out.kl - r));
  out.losses = torch::where(desirable, desirable_losses, undesirable_losses);
  out.loss = out.losses.mean();
  out.rewards = (beta * r).detach();
  return out;
}

Metrics kto_metrics(const KtoLossOutput& out, const at::Tensor& policy_matched,
                    const at::Tensor& desirable) {
  torch::NoGradGuard no_grad;
  Metrics metrics;
  metrics.emplace_back("kl", out.kl.item<double>());
  auto add_kind = [&](const at::Tensor& rows, const char* kind) {
    const auto count = rows.sum().item<std::int64_t>();
    if (count == 0) return;
    auto mean = [&](const at::Tensor& t) {
      return t.detach().to(torch::kDouble).masked_select(rows).mean().item<double>();
    };
    metrics.emplace_back(std::string("rewards/") + kind, mean(out.rewards));
    metrics.emplace_back(std::string("logps/") + kind, mean(policy_matched));
  };
  add_kind(desirable, "chosen");
  add_kind(desirable.logical_not(), "rejected");
  return metrics;
}

}  // namespace rlhf::kto
