// A step-0 PPO update recomputed independently: per-token log-probs and values of a padded
// rollout batch against row-by-row unpadded forwards, then KL-penalised rewards, GAE, whitening
// and the first step's loss against a plain double-precision recomputation of
// docs/algorithms.md's formulas (plugins/ppo/rollout.hpp).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "ppo/rollout.hpp"
#include "test_model.hpp"

namespace rlhf::ppo {
namespace {

const std::vector<std::vector<std::int64_t>> kPrompts = {{1, 5, 7}, {2, 9}};
const std::vector<std::vector<std::int64_t>> kCompletions = {{4, 6, 8, 3}, {10, 11}};
constexpr double kTemperature = 0.7;

struct Unpadded {
  std::vector<std::vector<double>> logps, values;
};

// Each row on its own, no padding: log_softmax(logits/τ) of its completion tokens and the value
// head at the same positions.
Unpadded row_by_row(CausalLM& model, const ValueHead& head, double temperature) {
  torch::NoGradGuard no_grad;
  Unpadded out;
  for (std::size_t i = 0; i < kPrompts.size(); ++i) {
    std::vector<std::int64_t> ids = kPrompts[i];
    ids.insert(ids.end(), kCompletions[i].begin(), kCompletions[i].end());
    const auto L = static_cast<std::int64_t>(ids.size());
    const at::Tensor x = torch::tensor(ids, torch::kInt64).view({1, L});
    const at::Tensor hidden = model.hidden_states(x, torch::ones({1, L}, torch::kInt64))[0];
    std::vector<double> lp, v;
    for (std::size_t t = 0; t < kCompletions[i].size(); ++t) {
      const auto pos = static_cast<std::int64_t>(kPrompts[i].size() + t) - 1;
      const at::Tensor h = hidden[pos];
      const at::Tensor logp =
          torch::log_softmax(model.lm_head(h.view({1, -1}))[0] / temperature, -1);
      lp.push_back(logp[kCompletions[i][t]].item<double>());
      v.push_back((h * head.weight[0]).sum().item<double>() + head.bias[0].item<double>());
    }
    out.logps.push_back(lp);
    out.values.push_back(v);
  }
  return out;
}

TEST(PpoStep, StepZeroMatchesAnIndependentRecomputation) {
  auto model = test::tiny_model(64, 3);
  torch::manual_seed(11);
  ValueHead head;
  head.weight = (torch::randn({1, 32}) * 0.5).set_requires_grad(true);
  head.bias = torch::tensor({0.2f}).set_requires_grad(true);
  const Sequences seq = pad_sequences(kPrompts, kCompletions, /*pad_id=*/0);

  // 1. Per-token log-probs and values of the padded batch equal the unpadded rows.
  PolicyTokens now;
  {
    torch::NoGradGuard no_grad;
    now = policy_tokens(*model, &head, seq, kTemperature);
  }
  const Unpadded ref = row_by_row(*model, head, kTemperature);
  const Unpadded ref_t1 = row_by_row(*model, head, 1.0);  // the "reference": temperature 1
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t t = 0; t < 4; ++t) {
      const auto I = static_cast<std::int64_t>(i), T = static_cast<std::int64_t>(t);
      if (t < kCompletions[i].size()) {
        EXPECT_NEAR(now.logps[I][T].item<double>(), ref.logps[i][t], 1e-4) << i << "," << t;
        EXPECT_NEAR(now.values[I][T].item<double>(), ref.values[i][t], 1e-4) << i << "," << t;
      } else {
        EXPECT_EQ(now.logps[I][T].item<double>(), 0.0);
        EXPECT_EQ(now.values[I][T].item<double>(), 0.0);
      }
    }

  // 2. Rewards, GAE, whitening and the rollout metrics.
  PpoOptions o;
  o.kl_coef = 0.1;
  o.gamma = 1.0;
  o.lam = 0.95;
  o.vf_coef = 0.1;
  o.temperature = kTemperature;
  Rollout r;
  r.seq = seq;
  r.logps = now.logps;
  r.values = now.values;
  {
    torch::NoGradGuard no_grad;
    r.ref_logps = policy_tokens(*model, nullptr, seq, 1.0).logps;
  }
  r.scores = torch::tensor({1.5f, -0.5f});
  r.has_eos = {true, false};
  compute_advantages(r, o);

  const std::vector<double> scores = {1.5, -0.5};
  std::vector<std::vector<double>> adv(2), ret(2);
  std::vector<double> all;
  double kl_sum_mean = 0;
  for (std::size_t i = 0; i < 2; ++i) {
    const std::size_t n = kCompletions[i].size();
    std::vector<double> rew(n);
    for (std::size_t t = 0; t < n; ++t) {
      const double kl = ref.logps[i][t] - ref_t1.logps[i][t];
      kl_sum_mean += kl / 2;
      rew[t] = -o.kl_coef * kl + (t + 1 == n ? scores[i] : 0.0);
    }
    adv[i].assign(n, 0);
    double next_a = 0, next_v = 0;
    for (std::size_t k = n; k-- > 0;) {
      const double delta = rew[k] + o.gamma * next_v - ref.values[i][k];
      next_a = delta + o.gamma * o.lam * next_a;
      next_v = ref.values[i][k];
      adv[i][k] = next_a;
    }
    for (std::size_t t = 0; t < n; ++t) {
      ret[i].push_back(adv[i][t] + ref.values[i][t]);
      all.push_back(adv[i][t]);
    }
  }
  double mean = 0, var = 0;
  for (double a : all) mean += a / static_cast<double>(all.size());
  for (double a : all) var += (a - mean) * (a - mean) / static_cast<double>(all.size() - 1);
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t t = 0; t < kCompletions[i].size(); ++t) {
      const auto I = static_cast<std::int64_t>(i), T = static_cast<std::int64_t>(t);
      EXPECT_NEAR(r.returns[I][T].item<double>(), ret[i][t], 1e-4);
      EXPECT_NEAR(r.advantages[I][T].item<double>(), (adv[i][t] - mean) / std::sqrt(var + 1e-8),
                  1e-4);
    }
  auto metric = [](const Metrics& m, const std::string& name) {
    for (const auto& [k, v] : m)
      if (k == name) return v;
    ADD_FAILURE() << "no metric " << name;
    return 0.0;
  };
  EXPECT_NEAR(metric(r.metrics, "objective/kl"), kl_sum_mean, 1e-4);
  EXPECT_NEAR(metric(r.metrics, "objective/scores"), 0.5, 1e-6);
  EXPECT_NEAR(metric(r.metrics, "objective/non_score_reward"), -o.kl_coef * kl_sum_mean, 1e-5);
  EXPECT_NEAR(metric(r.metrics, "objective/rlhf_reward"), 0.5 - o.kl_coef * kl_sum_mean, 1e-5);
  EXPECT_EQ(metric(r.metrics, "val/num_eos_tokens"), 1.0);

  // 3. The step-0 loss of row 1 alone: the policy has not moved, so ratio = 1 and no clipping:
  //    L_pg = mean_t(−A_t), L_v = 0.5·mean_t((V_t − R_t)²), loss = L_pg + vf_coef·L_v.
  StepOutput step = ppo_step(*model, head, r, {1}, o);
  double pg = 0, vf = 0;
  const std::size_t n1 = kCompletions[1].size();
  for (std::size_t t = 0; t < n1; ++t) {
    pg -= (adv[1][t] - mean) / std::sqrt(var + 1e-8) / static_cast<double>(n1);
    vf += 0.5 * std::pow(ref.values[1][t] - ret[1][t], 2) / static_cast<double>(n1);
  }
  EXPECT_NEAR(step.loss.item<double>(), pg + o.vf_coef * vf, 1e-4);
  EXPECT_NEAR(metric(step.metrics, "loss/policy_avg"), pg, 1e-4);
  EXPECT_NEAR(metric(step.metrics, "loss/value_avg"), vf, 1e-4);
  EXPECT_NEAR(metric(step.metrics, "val/ratio"), 1.0, 1e-5);
  EXPECT_NEAR(metric(step.metrics, "policy/clipfrac_avg"), 0.0, 1e-9);
  // Over the whole batch the whitened advantages average to 0: L_pg = 0.
  EXPECT_NEAR(metric(ppo_step(*model, head, r, {0, 1}, o).metrics, "loss/policy_avg"), 0.0, 1e-5);
  // The loss reaches the policy and the value head.
  step.loss.backward();
  EXPECT_GT(head.weight.grad().abs().sum().item<double>(), 0.0);
  double model_grad = 0;
  for (const auto& p : model->parameters())
    if (p.grad().defined()) model_grad += p.grad().abs().sum().item<double>();
  EXPECT_GT(model_grad, 0.0);
}

}  // namespace
}  // namespace rlhf::ppo
