// The loss functions against the formulas of docs/algorithms.md, computed here element by
// element in double precision from the same log-probs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "dpo/dpo_loss.hpp"
#include "orpo/orpo_loss.hpp"
#include "rlhf/error.hpp"
#include "rlhf/toolkit/batch.hpp"
#include "sft/sft_loss.hpp"

using namespace rlhf;

namespace {

double log_sigma(double z) {
  return z >= 0 ? -std::log1p(std::exp(-z)) : z - std::log1p(std::exp(z));
}
double elem(const torch::Tensor& t, std::int64_t i) { return t[i].item<double>(); }

struct Fixture {
  dpo::ChosenRejectedLogps policy, reference;
  Fixture() {
    torch::manual_seed(3);
    auto logps = [] { return -torch::rand({6}, torch::kFloat) * 20 - 1; };
    policy = {logps(), logps(), logps() / 7, logps() / 9};
    reference = {logps(), logps(), logps() / 7, logps() / 9};
  }
};

// Per-pair loss of the loss_type table in docs/algorithms.md, "DPO".
double expected_dpo(const Fixture& f, std::int64_t i, dpo::LossType type, double beta, double eps) {
  const bool ipo = type == dpo::LossType::ipo;
  double pc = elem(ipo ? f.policy.chosen_mean : f.policy.chosen, i);
  double pr = elem(ipo ? f.policy.rejected_mean : f.policy.rejected, i);
  double rc = elem(ipo ? f.reference.chosen_mean : f.reference.chosen, i);
  double rr = elem(ipo ? f.reference.rejected_mean : f.reference.rejected, i);
  double h = (pc - pr) - (rc - rr);
  switch (type) {
    case dpo::LossType::sigmoid:
      return -(1 - eps) * log_sigma(beta * h) - eps * log_sigma(-beta * h);
    case dpo::LossType::robust:
      return (-(1 - eps) * log_sigma(beta * h) + eps * log_sigma(-beta * h)) / (1 - 2 * eps);
    case dpo::LossType::hinge:
      return std::max(0.0, 1 - beta * h);
    case dpo::LossType::ipo:
      return std::pow(h - 1 / (2 * beta), 2);
  }
  return NAN;
}

}  // namespace

TEST(DpoLoss, EveryLossTypeMatchesItsFormula) {
  Fixture f;
  for (auto type :
       {dpo::LossType::sigmoid, dpo::LossType::robust, dpo::LossType::hinge, dpo::LossType::ipo}) {
    for (double eps : {0.0, 0.2}) {
      if (eps > 0 && (type == dpo::LossType::hinge || type == dpo::LossType::ipo)) continue;
      const double beta = 0.3;
      auto out = dpo::dpo_loss(f.policy, f.reference, beta, type, eps);
      ASSERT_EQ(out.losses.size(0), 6);
      for (std::int64_t i = 0; i < 6; ++i) {
        EXPECT_NEAR(elem(out.losses, i), expected_dpo(f, i, type, beta, eps), 1e-5)
            << dpo::to_string(type) << " eps " << eps << " pair " << i;
        // Rewards: always summed log-probs, whatever the loss type.
        EXPECT_NEAR(elem(out.chosen_rewards, i),
                    beta * (elem(f.policy.chosen, i) - elem(f.reference.chosen, i)), 1e-5);
        EXPECT_NEAR(elem(out.rejected_rewards, i),
                    beta * (elem(f.policy.rejected, i) - elem(f.reference.rejected, i)), 1e-5);
      }
    }
  }
}

TEST(DpoLoss, ReferenceFreeDropsTheReference) {
  Fixture f;
  auto out = dpo::dpo_loss(f.policy, f.reference, 0.1, dpo::LossType::sigmoid, 0.0, true);
  for (std::int64_t i = 0; i < 6; ++i) {
    double h = elem(f.policy.chosen, i) - elem(f.policy.rejected, i);
    EXPECT_NEAR(elem(out.losses, i), -log_sigma(0.1 * h), 1e-5);
    EXPECT_NEAR(elem(out.chosen_rewards, i), 0.1 * elem(f.policy.chosen, i), 1e-5);
  }
}

TEST(DpoLoss, StableForLargeMargins) {
  dpo::ChosenRejectedLogps p{torch::tensor({-1.0f}), torch::tensor({-5000.0f}),
                             torch::tensor({-1.0f}), torch::tensor({-1.0f})};
  dpo::ChosenRejectedLogps r{torch::tensor({-1.0f}), torch::tensor({-1.0f}), torch::tensor({-1.0f}),
                             torch::tensor({-1.0f})};
  auto good = dpo::dpo_loss(p, r, 1.0, dpo::LossType::sigmoid, 0.0);
  EXPECT_NEAR(good.losses.item<double>(), 0.0, 1e-6);
  auto bad = dpo::dpo_loss(r, p, 1.0, dpo::LossType::sigmoid, 0.0);  // h = −4999
  EXPECT_NEAR(bad.losses.item<double>(), 4999.0, 1e-2);
  EXPECT_TRUE(std::isfinite(bad.losses.item<double>()));
}

TEST(DpoLoss, UnknownLossTypeListsTheKnownOnes) {
  try {
    dpo::loss_type_from_string("sigmod");
    FAIL();
  } catch (const rlhf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("sigmoid, robust, hinge or ipo"), std::string::npos);
  }
}

TEST(OrpoLoss, MatchesThePaper) {
  torch::manual_seed(5);
  SequenceLogps chosen, rejected;
  chosen.tokens = torch::tensor({3.0f, 5.0f, 2.0f});
  rejected.tokens = torch::tensor({4.0f, 1.0f, 6.0f});
  chosen.sum = -torch::rand({3}) * 6 - 0.1;
  rejected.sum = -torch::rand({3}) * 6 - 0.1;
  chosen.mean = chosen.sum / chosen.tokens;
  rejected.mean = rejected.sum / rejected.tokens;
  const double lambda = 0.25;
  auto out = orpo::orpo_loss(chosen, rejected, lambda);

  double nll_num = 0, nll_den = 0, or_sum = 0, z_sum = 0;
  for (std::int64_t i = 0; i < 3; ++i) {
    double a_w = elem(chosen.sum, i) / elem(chosen.tokens, i);
    double a_l = elem(rejected.sum, i) / elem(rejected.tokens, i);
    // log odds = log(p / (1 − p)) with p = exp(a), written the plain way.
    double odds_w = std::log(std::exp(a_w) / (1 - std::exp(a_w)));
    double odds_l = std::log(std::exp(a_l) / (1 - std::exp(a_l)));
    double z = odds_w - odds_l;
    EXPECT_NEAR(elem(out.log_odds_chosen, i), z, 1e-4);
    EXPECT_NEAR(elem(out.ratio, i), std::log(1 / (1 + std::exp(-z))), 1e-5);
    EXPECT_NEAR(elem(out.chosen_rewards, i), lambda * a_w, 1e-6);
    EXPECT_NEAR(elem(out.rejected_rewards, i), lambda * a_l, 1e-6);
    nll_num -= elem(chosen.sum, i);
    nll_den += elem(chosen.tokens, i);
    or_sum += std::log(1 / (1 + std::exp(-z)));
    z_sum += z;
  }
  EXPECT_NEAR(out.nll_loss.item<double>(), nll_num / nll_den, 1e-5);
  EXPECT_NEAR(out.loss.item<double>(), nll_num / nll_den + lambda * (-or_sum / 3), 1e-5);
}

TEST(SftLoss, CompletionOnlyCrossEntropyAndAccuracy) {
  torch::manual_seed(9);
  auto logits = torch::randn({2, 5, 7});
  // Row 0: prompt = positions 0–1, completion 2–4; row 1: completion 1–2, padding 3–4.
  const std::int64_t X = kIgnoreIndex;
  auto labels = torch::tensor(std::vector<std::int64_t>{X, X, 3, 1, 6, X, 2, 2, X, X}).view({2, 5});
  // Make one prediction right on purpose: position 1 of row 0 predicts label 3.
  logits[0][1][3] = 10.0;
  // The completion logits as completion_logits() gathers them: the logits at t−1 of each label t.
  CompletionLogits completion;
  std::vector<at::Tensor> picked;
  std::vector<std::int64_t> targets, rows;
  for (int b = 0; b < 2; ++b)
    for (int t = 1; t < 5; ++t)
      if (labels[b][t].item<std::int64_t>() != kIgnoreIndex) {
        picked.push_back(logits[b][t - 1]);
        targets.push_back(labels[b][t].item<std::int64_t>());
        rows.push_back(b);
      }
  completion.logits = torch::stack(picked);
  completion.targets = torch::tensor(targets);
  completion.rows = torch::tensor(rows);
  completion.batch_rows = 2;
  auto out = sft::sft_loss(completion);
  double nll = 0, count = 0, correct = 0;
  for (int b = 0; b < 2; ++b)
    for (int t = 1; t < 5; ++t) {
      std::int64_t y = labels[b][t].item<std::int64_t>();
      if (y == kIgnoreIndex) continue;
      auto row = logits[b][t - 1];
      double lse = std::log(torch::exp(row.to(torch::kDouble)).sum().item<double>());
      nll -= row[y].item<double>() - lse;
      correct += row.argmax().item<std::int64_t>() == y ? 1 : 0;
      ++count;
    }
  EXPECT_EQ(out.completion_tokens, 5);
  EXPECT_NEAR(out.loss.item<double>(), nll / count, 1e-5);
  EXPECT_NEAR(out.mean_token_accuracy, correct / count, 1e-12);
  EXPECT_GE(correct, 1);
}
