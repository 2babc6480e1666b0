// The arithmetic of one PPO update (docs/algorithms.md, "PPO"), as pure functions of tensors so
// each is tested against hand-computed values (tests/ppo/ppo_math_test.cpp).
//
// Every per-token tensor is [B, N]: B completions, N completion positions; `mask` is 1 on a
// completion's real tokens (up to and including its stop token) and 0 on the padding after it.
// Means and variances are over the real tokens of the whole batch.
#pragma once

#include <ATen/core/Tensor.h>

namespace rlhf::ppo {

// Σ x·mask / Σ mask.
at::Tensor masked_mean(const at::Tensor& x, const at::Tensor& mask);
// The unbiased variance of the real entries (TRL's masked_var: Bessel's correction n/(n−1)).
at::Tensor masked_var(const at::Tensor& x, const at::Tensor& mask);
// (x − mean)/sqrt(var + 1e−8) on the real entries (TRL's masked_whiten); with shift_mean = false
// the mean is added back. Padding stays 0.
at::Tensor masked_whiten(const at::Tensor& x, const at::Tensor& mask, bool shift_mean = true);

enum class KlEstimator { k1, k3 };
// Per-token KL estimate from the policy's and the reference's log-probs of the sampled tokens:
// k1 = lp − lpr; k3 = (e^{lpr−lp} − 1) − (lpr − lp) (Schulman, "Approximating KL divergence").
// 0 on padding.
at::Tensor per_token_kl(const at::Tensor& logps, const at::Tensor& ref_logps,
                        const at::Tensor& mask, KlEstimator estimator);

// The per-token rewards: r_t = −kl_coef·k_t, plus scores[b] at the last real token of row b.
at::Tensor token_rewards(const at::Tensor& kl, const at::Tensor& scores, const at::Tensor& mask,
                         double kl_coef);

// Generalised advantage estimation backwards over the real tokens:
//   δ_t = r_t + γ·V_{t+1} − V_t,   A_t = δ_t + γλ·A_{t+1}   (V and A are 0 past the end),
// returns R_t = A_t + V_t. Padding stays 0 in both.
struct Advantages {
  at::Tensor advantages;  // [B, N], not whitened
  at::Tensor returns;     // [B, N]
};
Advantages gae(const at::Tensor& rewards, const at::Tensor& values, const at::Tensor& mask,
               double gamma, double lam);

// L_pg = mean(max(−A·ratio, −A·clip(ratio, 1−ε, 1+ε))), ratio = exp(lp_new − lp_old).
struct PolicyLoss {
  at::Tensor loss;        // scalar, differentiable through new_logps
  at::Tensor clipfrac;    // mean 1[the clipped term was the larger]      (policy/clipfrac_avg)
  at::Tensor approxkl;    // 0.5·mean((lp_new − lp_old)²)                 (policy/approxkl_avg)
  at::Tensor ratio_mean;  // mean ratio                                     (val/ratio)
  at::Tensor ratio_var;   // unbiased variance of the ratio                 (val/ratio_var)
};
PolicyLoss clipped_policy_loss(const at::Tensor& new_logps, const at::Tensor& old_logps,
                               const at::Tensor& advantages, const at::Tensor& mask,
                               double cliprange);

// V_clip = V_old + clip(V_new − V_old, −ε_v, ε_v); L_v = 0.5·mean(max((V_new − R)², (V_clip −
// R)²)).
struct ValueLoss {
  at::Tensor loss;      // scalar, differentiable through new_values
  at::Tensor clipfrac;  // mean 1[(V_clip − R)² > (V_new − R)²]  (val/clipfrac_avg)
};
ValueLoss clipped_value_loss(const at::Tensor& new_values, const at::Tensor& old_values,
                             const at::Tensor& returns, const at::Tensor& mask,
                             double cliprange_value);

// Entropy of each position's distribution, logsumexp(z) − Σ softmax(z)·z, for logits [B, N, V]
// (float32 [B, N]).
at::Tensor token_entropy(const at::Tensor& logits);

}  // namespace rlhf::ppo
