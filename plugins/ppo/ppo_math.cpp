#include "ppo_math.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <vector>

namespace rlhf::ppo {

at::Tensor masked_mean(const at::Tensor& x, const at::Tensor& mask) {
  const at::Tensor m = mask.to(x.scalar_type());
  return (x * m).sum() / m.sum().clamp_min(1.0);
}

at::Tensor masked_var(const at::Tensor& x, const at::Tensor& mask) {
  const at::Tensor m = mask.to(x.scalar_type());
  const at::Tensor n = m.sum();
  const at::Tensor centred = (x - masked_mean(x, mask)) * m;
  // One real entry has no spread: its variance is 0, not a division by zero.
  return (centred * centred).sum() / (n - 1.0).clamp_min(1.0);
}

at::Tensor masked_whiten(const at::Tensor& x, const at::Tensor& mask, bool shift_mean) {
  const at::Tensor mean = masked_mean(x, mask);
  const at::Tensor var = masked_var(x, mask);
  at::Tensor out = (x - mean) * torch::rsqrt(var + 1e-8);
  if (!shift_mean) out = out + mean;
  return out * mask.to(x.scalar_type());
}

at::Tensor per_token_kl(const at::Tensor& logps, const at::Tensor& ref_logps,
                        const at::Tensor& mask, KlEstimator estimator) {
  const at::Tensor logr = ref_logps - logps;  // log(π_ref / π) of the sampled token
  const at::Tensor kl = estimator == KlEstimator::k1 ? -logr : (logr.exp() - 1.0) - logr;
  return kl * mask.to(kl.scalar_type());
}

at::Tensor token_rewards(const at::Tensor& kl, const at::Tensor& scores, const at::Tensor& mask,
                         double kl_coef) {
  at::Tensor rewards = -kl_coef * kl;
  const at::Tensor last = (mask.sum(1).to(torch::kInt64) - 1).clamp_min(0);  // [B]
  return rewards.scatter_add(1, last.unsqueeze(1), scores.to(rewards.scalar_type()).unsqueeze(1));
}

Advantages gae(const at::Tensor& rewards, const at::Tensor& values, const at::Tensor& mask,
               double gamma, double lam) {
  const at::Tensor m = mask.to(rewards.scalar_type());
  const at::Tensor r = rewards * m;
  const at::Tensor v = values * m;  // V past the end is 0
  const auto N = r.size(1);
  std::vector<at::Tensor> reversed;
  at::Tensor next_advantage = torch::zeros_like(r.select(1, 0));
  at::Tensor next_value = torch::zeros_like(next_advantage);
  for (auto t = N - 1; t >= 0; --t) {
    const at::Tensor delta = r.select(1, t) + gamma * next_value - v.select(1, t);
    next_advantage = (delta + gamma * lam * next_advantage) * m.select(1, t);
    next_value = v.select(1, t);
    reversed.push_back(next_advantage);
  }
  std::reverse(reversed.begin(), reversed.end());
  Advantages out;
  out.advantages = torch::stack(reversed, 1);
  out.returns = (out.advantages + v) * m;
  return out;
}

PolicyLoss clipped_policy_loss(const at::Tensor& new_logps, const at::Tensor& old_logps,
                               const at::Tensor& advantages, const at::Tensor& mask,
                               double cliprange) {
  const at::Tensor diff = new_logps - old_logps;
  const at::Tensor ratio = diff.exp();
  const at::Tensor unclipped = -advantages * ratio;
  const at::Tensor clipped = -advantages * ratio.clamp(1.0 - cliprange, 1.0 + cliprange);
  PolicyLoss out;
  out.loss = masked_mean(torch::max(unclipped, clipped), mask);
  torch::NoGradGuard no_grad;
  out.clipfrac = masked_mean((clipped > unclipped).to(torch::kFloat32), mask);
  out.approxkl = 0.5 * masked_mean(diff.detach() * diff.detach(), mask);
  out.ratio_mean = masked_mean(ratio.detach(), mask);
  out.ratio_var = masked_var(ratio.detach(), mask);
  return out;
}

ValueLoss clipped_value_loss(const at::Tensor& new_values, const at::Tensor& old_values,
                             const at::Tensor& returns, const at::Tensor& mask,
                             double cliprange_value) {
  const at::Tensor clipped =
      old_values + (new_values - old_values).clamp(-cliprange_value, cliprange_value);
  const at::Tensor unclipped_loss = (new_values - returns).pow(2);
  const at::Tensor clipped_loss = (clipped - returns).pow(2);
  ValueLoss out;
  out.loss = 0.5 * masked_mean(torch::max(unclipped_loss, clipped_loss), mask);
  torch::NoGradGuard no_grad;
  out.clipfrac = masked_mean((clipped_loss > unclipped_loss).to(torch::kFloat32), mask);
  return out;
}

at::Tensor token_entropy(const at::Tensor& logits) {
  const at::Tensor z = logits.to(torch::kFloat32);
  return torch::logsumexp(z, -1) - (z.softmax(-1) * z).sum(-1);
}

}  // namespace rlhf::ppo
