// generate(): KV-cache decoding equals re-running the full forward at every step; EOS, seeds,
// top-k / top-p behaviour.
#include <gtest/gtest.h>

#include "model_fixture.hpp"
#include "rlhf/toolkit/generation.hpp"

namespace {

// Greedy decoding without a cache: the whole (unpadded) sequence is re-run at every step.
std::pair<std::vector<std::int64_t>, std::vector<torch::Tensor>> greedy_by_full_forward(
    rlhf::CausalLM& model, std::vector<std::int64_t> ids, std::int64_t steps) {
  torch::NoGradGuard ng;
  std::vector<std::int64_t> out;
  std::vector<torch::Tensor> logits;
  for (std::int64_t s = 0; s < steps; ++s) {
    const auto n = static_cast<std::int64_t>(ids.size());
    const torch::Tensor l = model.forward(torch::tensor(ids).view({1, n}),
                                          torch::ones({1, n}, torch::kInt64))[0][n - 1];
    logits.push_back(l);
    const std::int64_t next = l.argmax().item<std::int64_t>();
    out.push_back(next);
    ids.push_back(next);
  }
  return {out, logits};
}

}  // namespace

TEST(Generation, KvCacheGreedyEqualsFullForwardEveryStep) {
  // Mistral config: the sliding window (3) is exceeded within the first steps.
  auto model = rlhf::test::make_tiny_model(rlhf::test::tiny_mistral_config(), 21);
  const std::vector<std::vector<std::int64_t>> prompts = {
      {1, 5, 9, 13, 2, 7}, {1, 44}, {1, 3, 3, 8}};
  rlhf::GenerationConfig cfg;
  cfg.max_new_tokens = 8;
  cfg.output_logits = true;
  const auto out = rlhf::generate(*model, prompts, cfg);
  ASSERT_EQ(out.completion_ids.size(1), 8);
  ASSERT_EQ(out.prompt_length, 6);
  for (std::size_t b = 0; b < prompts.size(); ++b) {
    const auto [tokens, logits] = greedy_by_full_forward(*model, prompts[b], 8);
    EXPECT_EQ(out.completions[b], tokens) << "row " << b;
    for (std::size_t s = 0; s < logits.size(); ++s)
      EXPECT_LE((out.logits[static_cast<std::int64_t>(b)][static_cast<std::int64_t>(s)] - logits[s])
                    .abs()
                    .max()
                    .item<double>(),
                1e-5)
          << "row " << b << " step " << s;
  }
  // Left padding of the prompts in `sequences`.
  EXPECT_EQ(out.sequences[1][0].item<std::int64_t>(), cfg.pad_token_id);
  EXPECT_EQ(out.attention_mask[1].sum().item<std::int64_t>(), 2 + 8);
}

TEST(Generation, StopsEachRowAtEos) {
  auto model = rlhf::test::make_tiny_model(rlhf::test::tiny_llama_config(), 22);
  const std::vector<std::vector<std::int64_t>> prompts = {{1, 5, 9}, {1, 20, 30, 40}};
  rlhf::GenerationConfig cfg;
  cfg.max_new_tokens = 6;
  const auto free_run = rlhf::generate(*model, prompts, cfg);
  // Make row 0's third token the stop token.
  cfg.eos_token_ids = {free_run.completions[0][2]};
  cfg.pad_token_id = 0;
  const auto out = rlhf::generate(*model, prompts, cfg);
  ASSERT_EQ(out.completions[0].size(), 3u);
  EXPECT_EQ(out.completions[0], std::vector<std::int64_t>(free_run.completions[0].begin(),
                                                          free_run.completions[0].begin() + 3));
  EXPECT_EQ(out.completion_mask[0].sum().item<std::int64_t>(), 3);
  for (std::int64_t s = 3; s < out.completion_ids.size(1); ++s)
    EXPECT_EQ(out.completion_ids[0][s].item<std::int64_t>(), 0);
  // Row 1 is unaffected until it meets the same token (if ever).
  const auto& r1 = free_run.completions[1];
  const auto stop = std::find(r1.begin(), r1.end(), cfg.eos_token_ids[0]);
  const std::vector<std::int64_t> expected(r1.begin(), stop == r1.end() ? r1.end() : stop + 1);
  EXPECT_EQ(out.completions[1], expected);
}

TEST(Generation, SamplingIsDeterministicPerSeedAndFiltersWork) {
  auto model = rlhf::test::make_tiny_model(rlhf::test::tiny_llama_config(), 23);
  const std::vector<std::vector<std::int64_t>> prompts = {{1, 5, 9}, {1, 2}};
  rlhf::GenerationConfig cfg;
  cfg.max_new_tokens = 12;
  cfg.do_sample = true;
  cfg.temperature = 1.5;
  cfg.seed = 42;
  const auto a = rlhf::generate(*model, prompts, cfg);
  const auto b = rlhf::generate(*model, prompts, cfg);
  EXPECT_EQ(a.completions, b.completions);
  cfg.seed = 43;
  const auto c = rlhf::generate(*model, prompts, cfg);
  EXPECT_NE(a.completions, c.completions);

  // top_k = 1 and a tiny top_p both reduce sampling to greedy.
  rlhf::GenerationConfig greedy;
  greedy.max_new_tokens = 12;
  const auto g = rlhf::generate(*model, prompts, greedy);
  cfg.top_k = 1;
  EXPECT_EQ(rlhf::generate(*model, prompts, cfg).completions, g.completions);
  cfg.top_k = 0;
  cfg.top_p = 1e-6;
  EXPECT_EQ(rlhf::generate(*model, prompts, cfg).completions, g.completions);

  // top_k = 3: every sampled token is among the 3 most likely of its step.
  cfg.top_p = 1.0;
  cfg.top_k = 3;
  cfg.output_logits = true;
  const auto k = rlhf::generate(*model, prompts, cfg);
  for (std::int64_t r = 0; r < 2; ++r)
    for (std::int64_t s = 0; s < k.completion_ids.size(1); ++s) {
      const auto top = std::get<1>(k.logits[r][s].topk(3));
      EXPECT_TRUE((top == k.completion_ids[r][s]).any().item<bool>());
    }
}
