// PPO's arithmetic (plugins/ppo/ppo_math.hpp) against values worked out by hand; the working is
// in each test's comments.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "ppo/ppo_math.hpp"

namespace rlhf::ppo {
namespace {

at::Tensor t(std::vector<std::vector<float>> rows) {
  std::vector<at::Tensor> out;
  for (auto& r : rows) out.push_back(torch::tensor(r, torch::kFloat32));
  return torch::stack(out);
}

void expect_near(const at::Tensor& got, std::vector<std::vector<double>> want, double tol = 1e-5) {
  ASSERT_EQ(got.size(0), static_cast<std::int64_t>(want.size()));
  for (std::size_t i = 0; i < want.size(); ++i)
    for (std::size_t j = 0; j < want[i].size(); ++j)
      EXPECT_NEAR(got[static_cast<std::int64_t>(i)][static_cast<std::int64_t>(j)].item<double>(),
                  want[i][j], tol)
          << "at [" << i << "][" << j << "]";
}

TEST(PpoMath, GaeBackwardsOverRealTokensOnly) {
  // γ = 0.9, λ = 0.8 (γλ = 0.72).
  // Row 0, all real: r = [1, 0, 2], V = [0.5, 0.2, 0.1]
  //   t=2: δ = 2 − 0.1 = 1.9;                A = 1.9
  //   t=1: δ = 0 + 0.9·0.1 − 0.2 = −0.11;    A = −0.11 + 0.72·1.9 = 1.258
  //   t=0: δ = 1 + 0.9·0.2 − 0.5 = 0.68;     A = 0.68 + 0.72·1.258 = 1.58576
  //   R = A + V = [2.08576, 1.458, 2.0]
  // Row 1, last position padding (its r = 7 and V = 9 must not count):
  //   t=1: δ = −1 + 0 − 0.4 = −1.4;          A = −1.4
  //   t=0: δ = 0.5 + 0.9·0.4 − 0.3 = 0.56;   A = 0.56 − 0.72·1.4 = −0.448
  //   R = [−0.148, −1.0, 0]
  Advantages a = gae(t({{1, 0, 2}, {0.5, -1, 7}}), t({{0.5, 0.2, 0.1}, {0.3, 0.4, 9}}),
                     t({{1, 1, 1}, {1, 1, 0}}), 0.9, 0.8);
  expect_near(a.advantages, {{1.58576, 1.258, 1.9}, {-0.448, -1.4, 0}});
  expect_near(a.returns, {{2.08576, 1.458, 2.0}, {-0.148, -1.0, 0}});
}

TEST(PpoMath, GaeWithGammaAndLambdaOneIsRewardToGoMinusValue) {
  // γ = λ = 1: A_t = Σ_{s≥t} r_s − V_t. r = [1, 2, 3], V = [1, 1, 1] → A = [5, 4, 2], R = [6, 5,
  // 3].
  Advantages a = gae(t({{1, 2, 3}}), t({{1, 1, 1}}), t({{1, 1, 1}}), 1.0, 1.0);
  expect_near(a.advantages, {{5, 4, 2}});
  expect_near(a.returns, {{6, 5, 3}});
}

TEST(PpoMath, WhiteningUsesRealTokensAndBesselsCorrection) {
  // Real entries 1, 2, 3, 4: mean 2.5, unbiased var = (2.25 + 0.25 + 0.25 + 2.25) / 3 = 5/3,
  // std = 1.2909944; whitened = (x − 2.5) / std; the padding entry (100) stays 0.
  const at::Tensor x = t({{1, 2, 100}, {3, 4, 100}});
  const at::Tensor m = t({{1, 1, 0}, {1, 1, 0}});
  const double s = std::sqrt(5.0 / 3.0 + 1e-8);
  expect_near(masked_whiten(x, m), {{-1.5 / s, -0.5 / s, 0}, {0.5 / s, 1.5 / s, 0}});
  EXPECT_NEAR(masked_mean(x, m).item<double>(), 2.5, 1e-6);
  EXPECT_NEAR(masked_var(x, m).item<double>(), 5.0 / 3.0, 1e-6);
  // shift_mean = false adds the mean back.
  expect_near(masked_whiten(x, m, false),
              {{-1.5 / s + 2.5, -0.5 / s + 2.5, 0}, {0.5 / s + 2.5, 1.5 / s + 2.5, 0}});
}

TEST(PpoMath, KlEstimatorsK1AndK3) {
  // π = 0.5, π_ref = 0.25 for the sampled token: k1 = ln 0.5 − ln 0.25 = ln 2 = 0.6931472;
  // k3 = (e^{ln 0.25 − ln 0.5} − 1) − (ln 0.25 − ln 0.5) = (0.5 − 1) + ln 2 = 0.1931472.
  // Second token π = π_ref: both 0. Padding: 0 whatever the inputs.
  const at::Tensor lp = t({{std::log(0.5f), std::log(0.3f), 5.f}});
  const at::Tensor lpr = t({{std::log(0.25f), std::log(0.3f), -5.f}});
  const at::Tensor m = t({{1, 1, 0}});
  expect_near(per_token_kl(lp, lpr, m, KlEstimator::k1), {{0.6931472, 0, 0}});
  expect_near(per_token_kl(lp, lpr, m, KlEstimator::k3), {{0.1931472, 0, 0}});
}

TEST(PpoMath, ScoreLandsOnTheLastRealToken) {
  // r_t = −0.5·k_t, score added at the last real token: row 0 has 2 real tokens, row 1 has 3.
  const at::Tensor kl = t({{0.1, 0.2, 0}, {0.4, 0, 0.2}});
  const at::Tensor m = t({{1, 1, 0}, {1, 1, 1}});
  const at::Tensor scores = torch::tensor({2.0f, -1.0f});
  expect_near(token_rewards(kl, scores, m, 0.5), {{-0.05, -0.1 + 2, 0}, {-0.2, 0, -0.1 - 1}});
}

TEST(PpoMath, ClippedPolicyLoss) {
  // ε = 0.1; ratio = [0.6/0.5, 0.3/0.5] = [1.2, 0.6]; A = [1, −1]; the third token is padding.
  //   token 0: −A·ratio = −1.2, −A·clip = −1.1 → max −1.1 (the clipped term)
  //   token 1: −A·ratio = 0.6,  −A·clip = 0.9  → max 0.9  (the clipped term)
  //   L = (−1.1 + 0.9)/2 = −0.1; clipfrac = 1; approxkl = 0.5·(ln²1.2 + ln²0.6)/2 = 0.0735460;
  //   mean ratio 0.9, unbiased var of [1.2, 0.6] = 0.18.
  const at::Tensor lp_new = t({{std::log(0.6f), std::log(0.3f), 3.f}}).set_requires_grad(true);
  const at::Tensor lp_old = t({{std::log(0.5f), std::log(0.5f), 0.f}});
  PolicyLoss l = clipped_policy_loss(lp_new, lp_old, t({{1, -1, 5}}), t({{1, 1, 0}}), 0.1);
  EXPECT_NEAR(l.loss.item<double>(), -0.1, 1e-6);
  EXPECT_NEAR(l.clipfrac.item<double>(), 1.0, 1e-6);
  const double l0 = std::log(1.2), l1 = std::log(0.6);
  EXPECT_NEAR(l.approxkl.item<double>(), 0.5 * (l0 * l0 + l1 * l1) / 2, 1e-6);
  EXPECT_NEAR(l.ratio_mean.item<double>(), 0.9, 1e-6);
  EXPECT_NEAR(l.ratio_var.item<double>(), 0.18, 1e-6);
  // Both tokens are clipped: no gradient reaches the new log-probs.
  l.loss.backward();
  EXPECT_NEAR(lp_new.grad().abs().sum().item<double>(), 0.0, 1e-9);
}

TEST(PpoMath, UnclippedPolicyLossGradientIsMinusAdvantageTimesRatio) {
  // ratio = [1.05, 1] inside [0.8, 1.2]: L = mean(−A·ratio) = −(2·1.05 + 0.5·1)/2 = −1.3;
  // dL/dlp_t = −A_t·ratio_t / 2 = [−1.05, −0.25].
  const at::Tensor lp_new = t({{std::log(1.05f * 0.4f), std::log(0.2f)}}).set_requires_grad(true);
  PolicyLoss l = clipped_policy_loss(lp_new, t({{std::log(0.4f), std::log(0.2f)}}), t({{2, 0.5}}),
                                     t({{1, 1}}), 0.2);
  EXPECT_NEAR(l.loss.item<double>(), -1.3, 1e-5);
  EXPECT_NEAR(l.clipfrac.item<double>(), 0.0, 1e-9);
  l.loss.backward();
  expect_near(lp_new.grad(), {{-1.05, -0.25}});
}

TEST(PpoMath, ClippedValueLoss) {
  // ε_v = 0.2; V_new = [1, 0], V_old = [0.5, 0.5], R = [2, 0.4]:
  //   V_clip = [0.7, 0.3]; (V_new − R)² = [1, 0.16]; (V_clip − R)² = [1.69, 0.01]
  //   max = [1.69, 0.16] → L_v = 0.5·(1.69 + 0.16)/2 = 0.4625; clipfrac = 1/2.
  const at::Tensor v_new = t({{1, 0, 4}}).set_requires_grad(true);
  ValueLoss l =
      clipped_value_loss(v_new, t({{0.5, 0.5, 0}}), t({{2, 0.4, 0}}), t({{1, 1, 0}}), 0.2);
  EXPECT_NEAR(l.loss.item<double>(), 0.4625, 1e-6);
  EXPECT_NEAR(l.clipfrac.item<double>(), 0.5, 1e-6);
  // Token 0 is clipped (no gradient); token 1: d/dV 0.5·(V − R)²/2 = (0 − 0.4)/2 = −0.2.
  l.loss.backward();
  expect_near(v_new.grad(), {{0, -0.2, 0}});
}

TEST(PpoMath, EntropyOfKnownDistributions) {
  // Uniform over 4: ln 4. Logits [ln 0.5, ln 0.25, ln 0.25]: −Σ p ln p = 1.0397208.
  const at::Tensor logits =
      torch::stack({torch::zeros({1, 4}),
                    torch::tensor({{std::log(0.5f), std::log(0.25f), std::log(0.25f), -1e9f}})});
  const at::Tensor h = token_entropy(logits.view({2, 1, 4}));
  EXPECT_NEAR(h[0][0].item<double>(), std::log(4.0), 1e-5);
  EXPECT_NEAR(h[1][0].item<double>(), 1.0397208, 1e-5);
}

}  // namespace
}  // namespace rlhf::ppo
