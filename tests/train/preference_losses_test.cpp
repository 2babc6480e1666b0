// SimPO, CPO, DPO+NLL (rpo_alpha) and KTO against the formulas of docs/algorithms.md, "More
// preference losses", with hand-chosen log-probs and the expected values computed here element by
// element in double arithmetic (std::exp / std::log1p), independently of the tensor code.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "cpo/cpo_loss.hpp"
#include "dpo/dpo_loss.hpp"
#include "kto/kto_batch.hpp"
#include "kto/kto_loss.hpp"
#include "rlhf/error.hpp"
#include "rlhf/toolkit/batch.hpp"
#include "rlhf/toolkit/logprobs.hpp"
#include "rlhf/training_config.hpp"
#include "simpo/simpo_loss.hpp"
#include "test_model.hpp"

using namespace rlhf;

namespace {

constexpr double kTol = 1e-6;

double log_sigma(double z) {
  return z >= 0 ? -std::log1p(std::exp(-z)) : z - std::log1p(std::exp(z));
}
double sigma(double z) { return std::exp(log_sigma(z)); }

at::Tensor doubles(const std::vector<double>& v) { return torch::tensor(v, torch::kDouble); }
double elem(const at::Tensor& t, std::int64_t i) { return t[i].item<double>(); }

// Log-probs of P completions given as summed log-prob and token count; `sum` is a leaf that
// requires grad so gradient directions can be checked, `mean` is derived from it.
struct Completions {
  std::vector<double> sum, tokens;
  at::Tensor sum_leaf;
  SequenceLogps logps;
  Completions(std::vector<double> s, std::vector<double> n)
      : sum(std::move(s)), tokens(std::move(n)) {
    sum_leaf = doubles(sum).set_requires_grad(true);
    at::Tensor t = doubles(tokens);
    logps = {sum_leaf, sum_leaf / t, t, torch::zeros_like(t)};
  }
  double mean(std::size_t i) const { return sum[i] / tokens[i]; }
  std::size_t size() const { return sum.size(); }
};

// Chosen means −3, −3, −4, −8; rejected means −4, −4, −3, −3: average margins 1, 1, −1, −5,
// summed margins 8, −18, 1, −4 (both signs in each).
Completions chosen() { return {{-12, -30, -8, -40}, {4, 10, 2, 5}}; }
Completions rejected() { return {{-20, -12, -9, -36}, {5, 3, 3, 12}}; }

// −Σ sum / Σ tokens of the chosen completions: 90 / 21.
double hand_nll(const Completions& c) {
  double s = 0, n = 0;
  for (std::size_t i = 0; i < c.size(); ++i) {
    s += c.sum[i];
    n += c.tokens[i];
  }
  return -s / n;
}

double smoothed(double z, double eps) { return -(1 - eps) * log_sigma(z) - eps * log_sigma(-z); }

}  // namespace

TEST(MeanTokenNll, IsTheTokenWeightedMeanNotTheMeanOfRowMeans) {
  Completions c = chosen();
  const double expected = 90.0 / 21.0;
  EXPECT_NEAR(mean_token_nll(c.logps).item<double>(), expected, kTol);
  // The mean of per-row means would be (3 + 3 + 4 + 8) / 4 = 4.5: the two must differ here.
  EXPECT_GT(std::abs(expected - 4.5), 0.1);
  // No completion tokens: 0, not NaN.
  at::Tensor zero = torch::zeros({2}, torch::kDouble);
  EXPECT_EQ(mean_token_nll({zero, zero, zero, zero}).item<double>(), 0.0);
}

TEST(SimpoLoss, MatchesItsFormulaWithAndWithoutSmoothingAndNll) {
  const double beta = 2.0, gamma = 1.0;
  for (double eps : {0.0, 0.1}) {
    for (double alpha : {0.0, 0.5}) {
      Completions w = chosen(), l = rejected();
      auto out = simpo::simpo_loss(w.logps, l.logps, beta, gamma, eps, alpha);
      ASSERT_EQ(out.losses.size(0), 4);
      double mean = 0;
      for (std::int64_t i = 0; i < 4; ++i) {
        const auto u = static_cast<std::size_t>(i);
        const double z = beta * w.mean(u) - beta * l.mean(u) - gamma;
        EXPECT_NEAR(elem(out.losses, i), smoothed(z, eps), kTol) << "pair " << i;
        EXPECT_NEAR(elem(out.chosen_rewards, i), beta * w.mean(u), kTol);
        EXPECT_NEAR(elem(out.rejected_rewards, i), beta * l.mean(u), kTol);
        mean += smoothed(z, eps) / 4;
      }
      EXPECT_NEAR(out.nll_loss.item<double>(), hand_nll(w), kTol);
      EXPECT_NEAR(out.loss.item<double>(), mean + alpha * hand_nll(w), kTol)
          << "eps " << eps << " cpo_alpha " << alpha;
      EXPECT_FALSE(out.chosen_rewards.requires_grad());
      // Raising a chosen log-prob lowers the loss, raising a rejected one raises it.
      out.loss.backward();
      for (std::int64_t i = 0; i < 4; ++i) {
        EXPECT_LT(elem(w.sum_leaf.grad(), i), 0) << "pair " << i;
        EXPECT_GT(elem(l.sum_leaf.grad(), i), 0) << "pair " << i;
      }
    }
  }
}

TEST(SimpoLoss, TheMarginIsOnTheLengthNormalisedLogProbs) {
  // Same average log-probs, ten times the length: the SimPO loss does not change.
  Completions w = chosen(), l = rejected();
  Completions w10({-120, -300, -80, -400}, {40, 100, 20, 50});
  Completions l10({-200, -120, -90, -360}, {50, 30, 30, 120});
  auto a = simpo::simpo_loss(w.logps, l.logps, 2.0, 1.0);
  auto b = simpo::simpo_loss(w10.logps, l10.logps, 2.0, 1.0);
  EXPECT_TRUE(torch::allclose(a.losses, b.losses, 0, 1e-12));
}

TEST(CpoLoss, MatchesItsFormulaWithAndWithoutSmoothingAndNll) {
  const double beta = 0.1;
  for (double eps : {0.0, 0.2}) {
    for (double alpha : {0.0, 1.0, 0.5}) {
      Completions w = chosen(), l = rejected();
      auto out = cpo::cpo_loss(w.logps, l.logps, beta, eps, alpha);
      ASSERT_EQ(out.losses.size(0), 4);
      double mean = 0;
      for (std::int64_t i = 0; i < 4; ++i) {
        const auto u = static_cast<std::size_t>(i);
        const double h = w.sum[u] - l.sum[u];  // summed, not averaged
        EXPECT_NEAR(elem(out.losses, i), smoothed(beta * h, eps), kTol) << "pair " << i;
        EXPECT_NEAR(elem(out.chosen_rewards, i), beta * w.sum[u], kTol);
        EXPECT_NEAR(elem(out.rejected_rewards, i), beta * l.sum[u], kTol);
        mean += smoothed(beta * h, eps) / 4;
      }
      EXPECT_NEAR(out.nll_loss.item<double>(), hand_nll(w), kTol);
      EXPECT_NEAR(out.loss.item<double>(), mean + alpha * hand_nll(w), kTol)
          << "eps " << eps << " cpo_alpha " << alpha;
      out.loss.backward();
      for (std::int64_t i = 0; i < 4; ++i) {
        EXPECT_LT(elem(w.sum_leaf.grad(), i), 0) << "pair " << i;
        EXPECT_GT(elem(l.sum_leaf.grad(), i), 0) << "pair " << i;
      }
    }
  }
}

TEST(CpoLoss, TheNllTermAddsMinusAlphaOverTheTokenCountToEachChosenGradient) {
  Completions w0 = chosen(), l0 = rejected(), w1 = chosen(), l1 = rejected();
  cpo::cpo_loss(w0.logps, l0.logps, 0.1, 0.0, 0.0).loss.backward();
  cpo::cpo_loss(w1.logps, l1.logps, 0.1, 0.0, 0.5).loss.backward();
  for (std::int64_t i = 0; i < 4; ++i)
    EXPECT_NEAR(elem(w1.sum_leaf.grad(), i) - elem(w0.sum_leaf.grad(), i), -0.5 / 21.0, kTol);
}

TEST(RpoLoss, IsDpoPlusAlphaTimesTheChosenNll) {
  const double beta = 0.1, alpha = 0.7;
  Completions w = chosen(), l = rejected();
  // Reference: chosen −10, −25, −9, −30; rejected −18, −15, −7, −40.
  const std::vector<double> rw = {-10, -25, -9, -30}, rl = {-18, -15, -7, -40};
  dpo::ChosenRejectedLogps policy{w.logps.sum, l.logps.sum, w.logps.mean, l.logps.mean};
  dpo::ChosenRejectedLogps reference{doubles(rw), doubles(rl), doubles(rw), doubles(rl)};
  auto dpo_out = dpo::dpo_loss(policy, reference, beta, dpo::LossType::sigmoid, 0.0);
  auto out = dpo::rpo_loss(dpo_out, w.logps, alpha);

  double dpo_mean = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    const double h = (w.sum[i] - l.sum[i]) - (rw[i] - rl[i]);
    dpo_mean += -log_sigma(beta * h) / 4;
  }
  EXPECT_NEAR(out.nll_loss.item<double>(), 90.0 / 21.0, kTol);
  EXPECT_NEAR(out.loss.item<double>(), dpo_mean + alpha * 90.0 / 21.0, kTol);
  // With α = 0 it is plain DPO.
  EXPECT_NEAR(dpo::rpo_loss(dpo_out, w.logps, 0.0).loss.item<double>(), dpo_mean, kTol);

  // Only the chosen half carries the NLL: the rejected gradients are DPO's.
  Completions w2 = chosen(), l2 = rejected();
  dpo::ChosenRejectedLogps policy2{w2.logps.sum, l2.logps.sum, w2.logps.mean, l2.logps.mean};
  dpo::dpo_loss(policy2, reference, beta, dpo::LossType::sigmoid, 0.0).losses.mean().backward();
  out.loss.backward();
  for (std::int64_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(elem(l.sum_leaf.grad(), i), elem(l2.sum_leaf.grad(), i), kTol);
    EXPECT_NEAR(elem(w.sum_leaf.grad(), i) - elem(w2.sum_leaf.grad(), i), -alpha / 21.0, kTol);
  }
}

namespace {

// KTO inputs: N rows with labels, policy/reference log-probs of the rows and of the mismatched
// (KL) rows, all as plain numbers.
struct KtoCase {
  std::vector<bool> desirable;
  std::vector<double> policy, reference, policy_kl, reference_kl;

  // Fresh leaves that require grad, so each loss can be differentiated on its own.
  kto::KtoLogps policy_logps() const {
    return {doubles(policy).set_requires_grad(true), doubles(policy_kl).set_requires_grad(true)};
  }
  kto::KtoLogps reference_logps() const { return {doubles(reference), doubles(reference_kl)}; }
  at::Tensor labels() const {
    std::vector<std::int64_t> v(desirable.begin(), desirable.end());
    return torch::tensor(v, torch::kInt64).ne(0);
  }
  double kl() const {
    double s = 0;
    for (std::size_t i = 0; i < policy_kl.size(); ++i) s += policy_kl[i] - reference_kl[i];
    return std::max(0.0, s / static_cast<double>(policy_kl.size()));
  }
  double row_loss(std::size_t i, double beta, double wd, double wu) const {
    const double r = policy[i] - reference[i];
    return desirable[i] ? wd * (1 - sigma(beta * (r - kl()))) : wu * (1 - sigma(beta * (kl() - r)));
  }
};

// Rewards r = policy − reference: +2, −3, −1, +4, +0.5 (both signs among both kinds);
// KL rows: mean(policy_kl − reference_kl) = (1 + 0.5 + 0 + 2 − 0.5) / 5 = 0.6 > 0.
KtoCase kto_case() {
  return {{true, false, true, false, true},
          {-10, -20, -16, -8, -30},
          {-12, -17, -15, -12, -30.5},
          {-21, -18, -25, -14, -26},
          {-22, -18.5, -25, -16, -25.5}};
}

bool has_metric(const Metrics& m, const std::string& name) {
  for (const auto& [n, v] : m)
    if (n == name) return true;
  return false;
}
double metric(const Metrics& m, const std::string& name) {
  for (const auto& [n, v] : m)
    if (n == name) return v;
  ADD_FAILURE() << "no metric " << name;
  return NAN;
}

}  // namespace

TEST(KtoLoss, MatchesTrlsFormulaWithWeights) {
  KtoCase c = kto_case();
  const double beta = 0.5, wd = 1.3, wu = 0.7;
  ASSERT_NEAR(c.kl(), 0.6, 1e-12);
  auto out = kto::kto_loss(c.policy_logps(), c.reference_logps(), c.labels(), beta, wd, wu);
  EXPECT_NEAR(out.kl.item<double>(), 0.6, kTol);
  double mean = 0;
  for (std::int64_t i = 0; i < 5; ++i) {
    const auto u = static_cast<std::size_t>(i);
    EXPECT_NEAR(elem(out.losses, i), c.row_loss(u, beta, wd, wu), kTol) << "row " << i;
    EXPECT_NEAR(elem(out.rewards, i), beta * (c.policy[u] - c.reference[u]), kTol);
    mean += c.row_loss(u, beta, wd, wu) / 5;
  }
  EXPECT_NEAR(out.loss.item<double>(), mean,
              kTol);  // plain mean over rows, weights not renormalised
  EXPECT_FALSE(out.rewards.requires_grad());
}

TEST(KtoLoss, WeightsScaleOnlyTheirOwnKind) {
  KtoCase c = kto_case();
  auto base = kto::kto_loss(c.policy_logps(), c.reference_logps(), c.labels(), 0.1, 1.0, 1.0);
  auto heavy = kto::kto_loss(c.policy_logps(), c.reference_logps(), c.labels(), 0.1, 2.0, 1.0);
  for (std::int64_t i = 0; i < 5; ++i) {
    const double factor = c.desirable[static_cast<std::size_t>(i)] ? 2.0 : 1.0;
    EXPECT_NEAR(elem(heavy.losses, i), factor * elem(base.losses, i), kTol) << "row " << i;
  }
}

TEST(KtoLoss, TheReferencePointIsClampedAtZeroAndDetached) {
  // A positive mean is kept as it is (0.6 above); here the mean is −0.9 → 0.
  KtoCase c = kto_case();
  c.policy_kl = {-23, -19, -26, -15, -26};  // diffs −1, −0.5, −1, +1, −3: mean −0.9
  c.reference_kl = {-22, -18.5, -25, -16, -23};
  double raw = 0;
  for (std::size_t i = 0; i < 5; ++i) raw += (c.policy_kl[i] - c.reference_kl[i]) / 5;
  ASSERT_LT(raw, 0);
  auto p = c.policy_logps();
  auto out = kto::kto_loss(p, c.reference_logps(), c.labels(), 0.5, 1.0, 1.0);
  EXPECT_EQ(out.kl.item<double>(), 0.0);
  for (std::int64_t i = 0; i < 5; ++i)
    EXPECT_NEAR(elem(out.losses, i), c.row_loss(static_cast<std::size_t>(i), 0.5, 1.0, 1.0), kTol);

  // Just above zero it is kept as it is.
  c.policy_kl = {-21.9, -18.4, -24.9, -15.9, -22.9};  // each diff +0.1
  auto above = kto::kto_loss(c.policy_logps(), c.reference_logps(), c.labels(), 0.5, 1.0, 1.0);
  EXPECT_NEAR(above.kl.item<double>(), 0.1, kTol);

  // No gradient reaches the KL rows; the matched rows get KTO's directions: raising a
  // desirable row's log-prob lowers the loss, raising an undesirable one's raises it.
  out.loss.backward();
  EXPECT_TRUE(!p.mismatched.grad().defined() ||
              p.mismatched.grad().abs().sum().item<double>() == 0);
  for (std::int64_t i = 0; i < 5; ++i) {
    if (c.desirable[static_cast<std::size_t>(i)])
      EXPECT_LT(elem(p.matched.grad(), i), 0) << "row " << i;
    else
      EXPECT_GT(elem(p.matched.grad(), i), 0) << "row " << i;
  }
}

TEST(KtoLoss, MetricsAreMeansPerKind) {
  KtoCase c = kto_case();
  const double beta = 0.5;
  auto p = c.policy_logps();
  auto out = kto::kto_loss(p, c.reference_logps(), c.labels(), beta);
  Metrics m = kto::kto_metrics(out, p.matched, c.labels());
  EXPECT_NEAR(metric(m, "kl"), 0.6, kTol);
  // Desirable rows 0, 2, 4: r = 2, −1, 0.5; policy −10, −16, −30.
  EXPECT_NEAR(metric(m, "rewards/chosen"), beta * (2 - 1 + 0.5) / 3, kTol);
  EXPECT_NEAR(metric(m, "logps/chosen"), (-10 - 16 - 30) / 3.0, kTol);
  // Undesirable rows 1, 3: r = −3, 4; policy −20, −8.
  EXPECT_NEAR(metric(m, "rewards/rejected"), beta * (-3 + 4) / 2.0, kTol);
  EXPECT_NEAR(metric(m, "logps/rejected"), (-20 - 8) / 2.0, kTol);
}

TEST(KtoLoss, ABatchOfOneKindHasAFiniteLossAndOnlyItsOwnMetrics) {
  for (bool kind : {true, false}) {
    KtoCase c = kto_case();
    c.desirable.assign(5, kind);
    auto p = c.policy_logps();
    auto out = kto::kto_loss(p, c.reference_logps(), c.labels(), 0.5, 1.0, 1.0);
    double mean = 0;
    for (std::size_t i = 0; i < 5; ++i) mean += c.row_loss(i, 0.5, 1.0, 1.0) / 5;
    EXPECT_NEAR(out.loss.item<double>(), mean, kTol);
    Metrics m = kto::kto_metrics(out, p.matched, c.labels());
    for (const auto& [name, value] : m) EXPECT_TRUE(std::isfinite(value)) << name;
    const std::string present = kind ? "chosen" : "rejected";
    const std::string absent = kind ? "rejected" : "chosen";
    EXPECT_TRUE(has_metric(m, "kl"));
    EXPECT_TRUE(has_metric(m, "rewards/" + present));
    EXPECT_TRUE(has_metric(m, "logps/" + present));
    EXPECT_FALSE(has_metric(m, "rewards/" + absent));
    EXPECT_FALSE(has_metric(m, "logps/" + absent));
  }
}

namespace {

kto::KtoRow row(std::vector<std::int64_t> prompt, std::vector<std::int64_t> completion,
                bool desirable) {
  return {{std::move(prompt), std::move(completion)}, desirable};
}

// Row k of `b` as written: its ids up to the attention mask, and its labels.
std::vector<std::int64_t> ids_of(const Batch& b, std::int64_t k) {
  std::vector<std::int64_t> out;
  for (std::int64_t t = 0; t < b.input_ids.size(1); ++t)
    if (b.attention_mask[k][t].item<std::int64_t>() == 1)
      out.push_back(b.input_ids[k][t].item<std::int64_t>());
  return out;
}

std::vector<std::int64_t> concat(std::vector<std::int64_t> a, const std::vector<std::int64_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST(KtoBatch, MismatchedRowsPairEachPromptWithThePreviousRowsCompletion) {
  std::vector<kto::KtoRow> rows = {row({1, 2}, {10, 11, 12}, true), row({3}, {20}, false),
                                   row({4, 5, 6}, {30, 31}, true), row({7, 8}, {40, 41}, false)};
  const std::vector<std::size_t> indices = {2, 0, 3};
  TrainingConfig config;
  const std::int64_t pad = 99;
  kto::KtoBatch b = kto::collate_kto(rows, indices, pad, config);
  ASSERT_EQ(b.rows, 3);
  ASSERT_EQ(b.batch.input_ids.size(0), 6);
  // Matched rows: the rows of `indices` as they are.
  EXPECT_EQ(ids_of(b.batch, 0), concat({4, 5, 6}, {30, 31}));
  EXPECT_EQ(ids_of(b.batch, 1), concat({1, 2}, {10, 11, 12}));
  EXPECT_EQ(ids_of(b.batch, 2), concat({7, 8}, {40, 41}));
  // Mismatched: prompt of batch row k, completion of batch row k−1 (row 0 takes the last one).
  EXPECT_EQ(ids_of(b.batch, 3), concat({4, 5, 6}, {40, 41}));
  EXPECT_EQ(ids_of(b.batch, 4), concat({1, 2}, {30, 31}));
  EXPECT_EQ(ids_of(b.batch, 5), concat({7, 8}, {10, 11, 12}));
  // Labels: kIgnoreIndex on prompt and padding, the completion ids elsewhere. Row 4: prompt 2,
  // completion 2, padding 1 in a batch of width 5.
  ASSERT_EQ(b.batch.input_ids.size(1), 5);
  const std::vector<std::int64_t> expected_labels = {kIgnoreIndex, kIgnoreIndex, 30, 31,
                                                     kIgnoreIndex};
  for (std::int64_t t = 0; t < 5; ++t)
    EXPECT_EQ(b.batch.labels[4][t].item<std::int64_t>(),
              expected_labels[static_cast<std::size_t>(t)])
        << "t " << t;
  EXPECT_EQ(b.batch.input_ids[4][4].item<std::int64_t>(), pad);
  EXPECT_EQ(b.batch.labels[3][0].item<std::int64_t>(), kIgnoreIndex);
  EXPECT_EQ(b.batch.labels[3][3].item<std::int64_t>(), 40);
  // Labels of the rows, and the token count of all six rows.
  ASSERT_EQ(b.desirable.scalar_type(), torch::kBool);
  EXPECT_TRUE(b.desirable[0].item<bool>());
  EXPECT_TRUE(b.desirable[1].item<bool>());
  EXPECT_FALSE(b.desirable[2].item<bool>());
  EXPECT_EQ(b.tokens, 5 + 5 + 4 + 5 + 4 + 5);
}

TEST(KtoBatch, MismatchedRowsAreTruncatedLikeTheRows) {
  std::vector<kto::KtoRow> rows = {row({1, 2}, {10, 11, 12, 13, 14, 15}, true),
                                   row({3, 4, 5, 6, 7}, {20, 21}, false)};
  TrainingConfig config;
  config.max_length = 8;
  config.max_prompt_length = 5;
  kto::KtoBatch b = kto::collate_kto(rows, {0, 1}, 0, config);
  // Row 1's prompt (5 tokens) with row 0's completion (6): the completion keeps its first 3.
  EXPECT_EQ(ids_of(b.batch, 3), concat({3, 4, 5, 6, 7}, {10, 11, 12}));
  EXPECT_EQ(ids_of(b.batch, 2), concat({1, 2}, {20, 21}));
  EXPECT_LE(b.batch.input_ids.size(1), 8);
}

TEST(KtoBatch, SplitLogpsTakesTheMatchedThenTheMismatchedHalf) {
  at::Tensor sums = doubles({-1, -2, -3, -4, -5, -6});
  at::Tensor ones = torch::ones({6}, torch::kDouble);
  kto::KtoLogps l = kto::split_kto_logps({sums, sums, ones, ones}, 3);
  EXPECT_TRUE(torch::equal(l.matched, doubles({-1, -2, -3})));
  EXPECT_TRUE(torch::equal(l.mismatched, doubles({-4, -5, -6})));
}

TEST(KtoRows, APairGivesADesirableAndAnUndesirableRowAndALabelOneRow) {
  auto tok = test::tiny_tokenizer();
  auto tmpl = ChatTemplate::get("zephyr");
  TrainingConfig config;
  Example pair;
  pair.source = "prefs.jsonl:2";
  pair.prompt = {{"user", "What is two and two?"}};
  pair.chosen = {{"assistant", "Four."}};
  pair.rejected = {{"assistant", "Five, probably."}};
  auto rows = kto::tokenize_kto_rows(pair, *tok, tmpl, config);
  ASSERT_EQ(rows.size(), 2u);
  const auto want_chosen = tmpl.encode(*tok, pair.prompt, pair.chosen);
  const auto want_rejected = tmpl.encode(*tok, pair.prompt, pair.rejected);
  EXPECT_TRUE(rows[0].desirable);
  EXPECT_EQ(rows[0].ids.prompt, want_chosen.prompt);
  EXPECT_EQ(rows[0].ids.completion, want_chosen.completion);
  EXPECT_FALSE(rows[1].desirable);
  EXPECT_EQ(rows[1].ids.prompt, want_rejected.prompt);
  EXPECT_EQ(rows[1].ids.completion, want_rejected.completion);
  ASSERT_NE(rows[0].ids.completion, rows[1].ids.completion);

  Example labelled;
  labelled.source = "kto.jsonl:4";
  labelled.prompt = pair.prompt;
  labelled.completion = pair.rejected;
  labelled.label = false;
  rows = kto::tokenize_kto_rows(labelled, *tok, tmpl, config);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_FALSE(rows[0].desirable);
  EXPECT_EQ(rows[0].ids.completion, want_rejected.completion);
  labelled.label = true;
  EXPECT_TRUE(kto::tokenize_kto_rows(labelled, *tok, tmpl, config).at(0).desirable);

  // Truncated like SFT rows (tokenize_completion).
  config.max_length = static_cast<std::int64_t>(want_rejected.prompt.size()) + 1;
  rows = kto::tokenize_kto_rows(labelled, *tok, tmpl, config);
  EXPECT_EQ(rows[0].ids.completion.size(), 1u);
}

TEST(KtoRows, AnythingElseIsAnErrorNamingTheSource) {
  auto tok = test::tiny_tokenizer();
  auto tmpl = ChatTemplate::get("zephyr");
  Example sft;  // prompt + completion without a label
  sft.source = "data.jsonl:5";
  sft.prompt = {{"user", "Hi"}};
  sft.completion = {{"assistant", "Hello."}};
  Example label_without_completion = sft;
  label_without_completion.source = "data.jsonl:6";
  label_without_completion.completion.clear();
  label_without_completion.label = true;
  for (const auto* e : {&sft, &label_without_completion}) {
    try {
      kto::tokenize_kto_rows(*e, *tok, tmpl, TrainingConfig());
      ADD_FAILURE() << e->source << " was accepted";
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find(e->source + ": not a KTO record"), std::string::npos)
          << err.what();
    }
  }
}
