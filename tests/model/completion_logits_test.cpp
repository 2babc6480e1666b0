// completion_logits (lm_head at completion positions only; pairs packed around their shared
// prefix) against the unoptimised path it replaces: the full forward's logits through
// sequence_logps. Log-probs, their gradients, and the packed layout itself.
#include <gtest/gtest.h>

#include <map>

#include "model_fixture.hpp"
#include "rlhf/decoder_layout.hpp"
#include "rlhf/toolkit/batch.hpp"
#include "rlhf/toolkit/logprobs.hpp"

using rlhf::CompletionLogits;
using rlhf::PromptCompletionIds;
using rlhf::SequenceLogps;

namespace {

// Three pairs, chosen rows first: the same prompt with completions of different lengths; a pair
// whose completions share their first two tokens too; and a pair whose prompts differ after
// their first token (collate_pairs' rows need not share a prompt).
std::vector<PromptCompletionIds> pair_rows() {
  return {
      {{1, 5, 9, 13, 4, 7, 22}, {30, 31, 2}},                  // pair 0, chosen
      {{1, 6, 6, 6}, {11, 12, 19, 14, 15, 2}},                 // pair 1, chosen
      {{1, 20, 21}, {8, 2}},                                   // pair 2, chosen
      {{1, 5, 9, 13, 4, 7, 22}, {40, 41, 42, 43, 44, 45, 2}},  // pair 0, rejected
      {{1, 6, 6, 6}, {11, 12, 3, 2}},                          // pair 1, rejected
      {{1, 25, 26, 27}, {8, 9, 10, 2}},                        // pair 2, rejected
  };
}

SequenceLogps plain(rlhf::CausalLM& model, const rlhf::Batch& batch) {
  return rlhf::sequence_logps(model.forward(batch.input_ids, batch.attention_mask), batch.labels);
}

void expect_close(const SequenceLogps& got, const SequenceLogps& want, double tol) {
  EXPECT_TRUE(torch::allclose(got.sum, want.sum, tol, tol)) << got.sum << want.sum;
  EXPECT_TRUE(torch::allclose(got.mean, want.mean, tol, tol));
  EXPECT_TRUE(torch::equal(got.tokens, want.tokens)) << got.tokens << want.tokens;
  EXPECT_TRUE(torch::allclose(got.logits_mean, want.logits_mean, tol, tol));
}

// The gradient of a weighted sum of the rows' log-probs with respect to every parameter.
std::map<std::string, torch::Tensor> gradients(rlhf::CausalLM& model, const SequenceLogps& l) {
  model.zero_grad();
  const auto weights = torch::arange(1, l.sum.size(0) + 1, torch::kFloat32);
  (l.sum * weights).sum().backward();
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : model.named_parameters())
    if (p.value().grad().defined()) out[p.key()] = p.value().grad().clone();
  return out;
}

void expect_same_gradients(rlhf::CausalLM& model, const SequenceLogps& got,
                           const SequenceLogps& want) {
  const auto g = gradients(model, got), w = gradients(model, want);
  ASSERT_EQ(g.size(), w.size());
  ASSERT_FALSE(g.empty());
  for (const auto& [name, grad] : w) {
    const double scale = grad.abs().max().item<double>() + 1e-6;
    EXPECT_LT((g.at(name) - grad).abs().max().item<double>() / scale, 1e-4) << name;
  }
}

}  // namespace

TEST(CompletionLogits, PairsPackedAroundTheirSharedPrefixEqualThePlainForward) {
  for (const auto& config : {rlhf::test::tiny_llama_config(), rlhf::test::tiny_mistral_config()}) {
    auto model = rlhf::test::make_tiny_model(config, 3);
    const auto batch = rlhf::collate(pair_rows(), 0);
    // The layout is the packed one (the prompts are long against the completions).
    ASSERT_TRUE(rlhf::detail::packed_layout(batch, config, 2).positions.defined());
    const SequenceLogps want = plain(*model, batch);
    const SequenceLogps got = rlhf::sequence_logps(rlhf::completion_logits(*model, batch, 2));
    expect_close(got, want, 1e-5);
    expect_same_gradients(*model, got, want);
  }
}

TEST(CompletionLogits, GradientCheckpointingKeepsThePackedForwardExact) {
  auto model = rlhf::test::make_tiny_model(rlhf::test::tiny_mistral_config(), 4);
  const auto batch = rlhf::collate(pair_rows(), 0);
  const SequenceLogps want = plain(*model, batch);
  model->set_gradient_checkpointing(true);
  const SequenceLogps got = rlhf::sequence_logps(rlhf::completion_logits(*model, batch, 2));
  expect_close(got, want, 1e-5);
  expect_same_gradients(*model, got, want);
}

TEST(CompletionLogits, SingleRowsAndLeftPaddingEqualThePlainForward) {
  auto model = rlhf::test::make_tiny_model(rlhf::test::tiny_llama_config(), 5);
  for (auto side : {rlhf::Padding::right, rlhf::Padding::left}) {
    const auto batch = rlhf::collate(pair_rows(), 0, side);
    const SequenceLogps want = plain(*model, batch);
    const CompletionLogits c = rlhf::completion_logits(*model, batch);
    // Only completion positions reach the output projection: 3+6+2+7+4+4 tokens.
    EXPECT_EQ(c.logits.size(0), 26);
    EXPECT_EQ(c.logits.size(1), 48);
    const SequenceLogps got = rlhf::sequence_logps(c);
    expect_close(got, want, 1e-5);
    expect_same_gradients(*model, got, want);
    // Left-padded pairs pack as well.
    expect_close(rlhf::sequence_logps(rlhf::completion_logits(*model, batch, 2)), want, 1e-5);
  }
}

TEST(CompletionLogits, BFloat16StaysWithinRoundingOfThePlainForward) {
  torch::manual_seed(6);
  auto model = std::make_shared<rlhf::CausalLM>(rlhf::test::tiny_llama_config(), torch::kBFloat16);
  const auto batch = rlhf::collate(pair_rows(), 0);
  torch::NoGradGuard no_grad;
  const SequenceLogps want = plain(*model, batch);
  const SequenceLogps got = rlhf::sequence_logps(rlhf::completion_logits(*model, batch, 2));
  EXPECT_EQ(got.sum.scalar_type(), torch::kFloat32);
  // bf16 keeps 8 bits of mantissa: per-token log-probs of a few units move by ~1e-2.
  EXPECT_TRUE(torch::allclose(got.sum, want.sum, 0.05, 0.2)) << got.sum << want.sum;
}

TEST(DecoderLayout, PacksAPairAsSharedPrefixThenEachBranch) {
  // One pair: prompt [1 5 9], chosen completion [7 2], rejected [7 8 2]; shared: 1 5 9 7.
  const auto batch = rlhf::collate({{{1, 5, 9}, {7, 2}}, {{1, 5, 9}, {7, 8, 2}}}, 0);
  rlhf::ModelConfig config = rlhf::test::tiny_llama_config();
  const auto layout = rlhf::detail::packed_layout(batch, config, 2);
  ASSERT_TRUE(layout.positions.defined());
  EXPECT_TRUE(torch::equal(layout.input_ids, torch::tensor({{1, 5, 9, 7, 2, 8, 2}})));
  EXPECT_TRUE(torch::equal(layout.positions, torch::tensor({{0, 1, 2, 3, 4, 4, 5}})));
  EXPECT_TRUE(torch::equal(layout.segments, torch::tensor({{0, 0, 0, 0, 0, 0, 0}})));
  EXPECT_TRUE(torch::equal(layout.branches, torch::tensor({{0, 0, 0, 0, 1, 2, 2}})));
  // Chosen's 7 and 2 come from packed 2 and 3; rejected's 7 from 2 (shared), 8 from 3 (shared),
  // 2 from 5 (its own 8).
  EXPECT_TRUE(torch::equal(layout.sources, torch::tensor({2, 3, 2, 3, 5})));
  EXPECT_TRUE(torch::equal(layout.targets, torch::tensor({7, 2, 7, 8, 2})));
  EXPECT_TRUE(torch::equal(layout.rows, torch::tensor({0, 0, 1, 1, 1})));
}

TEST(DecoderLayout, KeepsPlainRowsWhenPackingCostsMore) {
  // Nothing shared but the first token, long completions: one packed row of 2n − 1 positions
  // costs more attention than two rows of n.
  std::vector<std::int64_t> a(200), b(200);
  for (int i = 0; i < 200; ++i) a[i] = 3 + i % 40, b[i] = 4 + i % 41;
  const auto batch = rlhf::collate({{{1}, a}, {{1}, b}}, 0);
  rlhf::ModelConfig config = rlhf::test::tiny_llama_config();
  EXPECT_FALSE(rlhf::detail::packed_layout(batch, config, 2).input_ids.defined());
}

TEST(DecoderLayout, PacksRowsWithoutPaddingFirstFitByDecreasingLength) {
  // Rows of 6, 3, 2 and 4 real tokens, placed longest first into rows of 6: the 6 fills one, the
  // 4 opens a second, the 3 does not fit beside it and opens a third, the 2 joins the 4.
  const auto batch =
      rlhf::collate({{{1, 2, 3}, {4, 5, 6}}, {{1}, {7, 8}}, {{1}, {9}}, {{1, 2}, {3, 4}}}, 0);
  const auto layout = rlhf::detail::packed_layout(batch, rlhf::test::tiny_llama_config(), 1);
  ASSERT_TRUE(layout.positions.defined());
  EXPECT_TRUE(
      torch::equal(layout.input_ids,
                   torch::tensor({{1, 2, 3, 4, 5, 6}, {1, 2, 3, 4, 1, 9}, {1, 7, 8, 0, 0, 0}})));
  EXPECT_TRUE(
      torch::equal(layout.positions,
                   torch::tensor({{0, 1, 2, 3, 4, 5}, {0, 1, 2, 3, 0, 1}, {0, 1, 2, 0, 0, 0}})));
  EXPECT_TRUE(
      torch::equal(layout.segments,
                   torch::tensor({{0, 0, 0, 0, 0, 0}, {3, 3, 3, 3, 2, 2}, {1, 1, 1, -1, -1, -1}})));
  // Targets row by row: row 0's 4 5 6 (from packed 2 3 4), row 1's 7 8 (from 12 13), row 2's 9
  // (from 10), row 3's 3 4 (from 7 8).
  EXPECT_TRUE(torch::equal(layout.sources, torch::tensor({2, 3, 4, 12, 13, 10, 7, 8})));
  EXPECT_TRUE(torch::equal(layout.targets, torch::tensor({4, 5, 6, 7, 8, 9, 3, 4})));
  EXPECT_TRUE(torch::equal(layout.rows, torch::tensor({0, 0, 0, 1, 1, 2, 3, 3})));
}

TEST(CompletionLogits, PackedSingleRowsEqualThePlainForward) {
  // SFT-like rows of very different lengths: packed two or three to a row.
  std::vector<PromptCompletionIds> rows = {{{1, 5, 9, 13, 4, 7, 22, 3, 3, 3, 3, 3}, {30, 31, 2}},
                                           {{1, 6}, {11, 12, 2}},
                                           {{1}, {20, 21, 22, 23, 24, 25, 26, 27, 28, 29}},
                                           {{1, 25}, {8, 2}},
                                           {{1, 4, 4}, {8, 9, 10, 2}}};
  for (const auto& config : {rlhf::test::tiny_llama_config(), rlhf::test::tiny_mistral_config()}) {
    auto model = rlhf::test::make_tiny_model(config, 8);
    const auto batch = rlhf::collate(rows, 0);
    ASSERT_TRUE(rlhf::detail::packed_layout(batch, config, 1).positions.defined());
    const SequenceLogps want = plain(*model, batch);
    const SequenceLogps got = rlhf::sequence_logps(rlhf::completion_logits(*model, batch));
    expect_close(got, want, 1e-5);
    expect_same_gradients(*model, got, want);
    // Pairs of these rows (0 with 2, …) pack around their first token and share rows too.
    const auto pairs = rlhf::collate({rows[0], rows[1], rows[3], rows[2], rows[4], rows[1]}, 0);
    expect_close(rlhf::sequence_logps(rlhf::completion_logits(*model, pairs, 2)),
                 plain(*model, pairs), 1e-5);
  }
}
