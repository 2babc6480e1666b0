// sequence_logps against a hand computation; collate/truncate layouts; left vs right padding.
#include <gtest/gtest.h>

#include <cmath>

#include "model_fixture.hpp"
#include "rlhf/toolkit/batch.hpp"
#include "rlhf/toolkit/logprobs.hpp"

TEST(SequenceLogps, MatchesAHandComputation) {
  // B = 1, T = 3, V = 2. Labels: position 0 is the prompt (masked), positions 1 and 2 are
  // completion tokens 1 and 0, predicted by the logits at positions 0 and 1.
  const torch::Tensor logits = torch::tensor({{{0.0f, 1.0f}, {2.0f, -1.0f}, {5.0f, 5.0f}}});
  const torch::Tensor labels =
      torch::tensor({{rlhf::kIgnoreIndex, std::int64_t{1}, std::int64_t{0}}});
  const auto r = rlhf::sequence_logps(logits, labels);
  // log softmax([0, 1])[1] = 1 - log(e^0 + e^1); log softmax([2, -1])[0] = 2 - log(e^2 + e^-1).
  const double lp1 = 1.0 - std::log(1.0 + std::exp(1.0));
  const double lp2 = 2.0 - std::log(std::exp(2.0) + std::exp(-1.0));
  EXPECT_NEAR(r.sum[0].item<double>(), lp1 + lp2, 1e-6);
  EXPECT_NEAR(r.mean[0].item<double>(), (lp1 + lp2) / 2, 1e-6);
  EXPECT_EQ(r.tokens[0].item<double>(), 2.0);
  // Mean raw logit over the two predicting positions and the vocabulary: (0+1+2-1)/4.
  EXPECT_NEAR(r.logits_mean[0].item<double>(), 0.5, 1e-6);
  EXPECT_EQ(r.sum.scalar_type(), torch::kFloat32);
}

TEST(SequenceLogps, PaddingAndPromptAreExcludedAndBf16IsComputedInFloat32) {
  torch::manual_seed(0);
  const torch::Tensor logits = torch::randn({2, 5, 7});
  const torch::Tensor labels =
      torch::tensor({{-100, -100, 3, 4, -100}, {-100, 6, 0, 1, 2}}, torch::kInt64);
  const auto r = rlhf::sequence_logps(logits, labels);
  const auto lsm = torch::log_softmax(logits.to(torch::kFloat64), -1);
  const double row0 = lsm[0][1][3].item<double>() + lsm[0][2][4].item<double>();
  const double row1 = lsm[1][0][6].item<double>() + lsm[1][1][0].item<double>() +
                      lsm[1][2][1].item<double>() + lsm[1][3][2].item<double>();
  EXPECT_NEAR(r.sum[0].item<double>(), row0, 1e-5);
  EXPECT_NEAR(r.sum[1].item<double>(), row1, 1e-5);
  EXPECT_EQ(r.tokens[1].item<double>(), 4.0);
  const auto rb = rlhf::sequence_logps(logits.to(torch::kBFloat16), labels);
  EXPECT_EQ(rb.sum.scalar_type(), torch::kFloat32);
  EXPECT_NEAR(rb.sum[1].item<double>(), row1, 0.1);
}

TEST(Batch, CollateRightAndLeftPadding) {
  std::vector<rlhf::PromptCompletionIds> rows = {{{1, 5, 6}, {7, 2}}, {{1, 9}, {2}}};
  const auto right = rlhf::collate(rows, 0, rlhf::Padding::right);
  EXPECT_TRUE(torch::equal(right.input_ids,
                           torch::tensor({{1, 5, 6, 7, 2}, {1, 9, 2, 0, 0}}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(right.attention_mask,
                           torch::tensor({{1, 1, 1, 1, 1}, {1, 1, 1, 0, 0}}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(
      right.labels,
      torch::tensor({{-100, -100, -100, 7, 2}, {-100, -100, 2, -100, -100}}, torch::kInt64)));
  const auto left = rlhf::collate(rows, 0, rlhf::Padding::left);
  EXPECT_TRUE(torch::equal(left.input_ids,
                           torch::tensor({{1, 5, 6, 7, 2}, {0, 0, 1, 9, 2}}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(
      left.labels,
      torch::tensor({{-100, -100, -100, 7, 2}, {-100, -100, -100, -100, 2}}, torch::kInt64)));
}

TEST(Batch, TruncateKeepsPromptEndThenCompletionStart) {
  rlhf::PromptCompletionIds row{{1, 2, 3, 4, 5, 6}, {10, 11, 12, 13}};
  rlhf::truncate(row, /*max_length=*/6, /*max_prompt_length=*/4);
  EXPECT_EQ(row.prompt, (std::vector<std::int64_t>{3, 4, 5, 6}));
  EXPECT_EQ(row.completion, (std::vector<std::int64_t>{10, 11}));
  rlhf::PromptCompletionIds keep_start{{1, 2, 3, 4, 5, 6}, {10}};
  rlhf::truncate(keep_start, 100, 2, /*prompt_keep_start=*/true);
  EXPECT_EQ(keep_start.prompt, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(keep_start.completion, (std::vector<std::int64_t>{10}));
  rlhf::PromptCompletionIds short_row{{1, 2}, {3}};
  rlhf::truncate(short_row, 10, 5);
  EXPECT_EQ(short_row.prompt.size() + short_row.completion.size(), 3u);
}

TEST(Batch, LeftPaddingDoesNotChangeSequenceLogps) {
  auto model = rlhf::test::make_tiny_model(rlhf::test::tiny_mistral_config(), 11);
  torch::NoGradGuard ng;
  std::vector<rlhf::PromptCompletionIds> rows = {
      {{1, 5, 6, 9}, {7, 8, 2}}, {{1, 9}, {3, 2}}, {{1}, {4, 4, 4, 4, 2}}};
  const auto right = rlhf::collate(rows, 0, rlhf::Padding::right);
  const auto left = rlhf::collate(rows, 0, rlhf::Padding::left);
  const auto r =
      rlhf::sequence_logps(model->forward(right.input_ids, right.attention_mask), right.labels);
  const auto l =
      rlhf::sequence_logps(model->forward(left.input_ids, left.attention_mask), left.labels);
  for (int i = 0; i < 3; ++i) {
    // Each row alone, unpadded.
    const auto one = rlhf::collate({rows[static_cast<std::size_t>(i)]}, 0);
    const auto s =
        rlhf::sequence_logps(model->forward(one.input_ids, one.attention_mask), one.labels);
    EXPECT_NEAR(l.sum[i].item<double>(), s.sum[0].item<double>(), 1e-4);
    EXPECT_NEAR(r.sum[i].item<double>(), s.sum[0].item<double>(), 1e-4);
    EXPECT_EQ(l.tokens[i].item<double>(),
              static_cast<double>(rows[static_cast<std::size_t>(i)].completion.size()));
  }
}
