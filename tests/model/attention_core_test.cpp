// The recomputing attention core (sdk/src/attention_core.cpp) against the plain autograd form it
// replaces: its output and the gradients of q, k and v on their own, then a tiny Llama's and
// Mistral's log-probs and every parameter's gradient through the model's paths (padded rows
// either side, packed rows, gradient checkpointing, the KV cache), in one chunk and in several.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "model_fixture.hpp"
#include "rlhf/attention_core.hpp"
#include "rlhf/toolkit/batch.hpp"
#include "rlhf/toolkit/logprobs.hpp"

using rlhf::SequenceLogps;
using rlhf::detail::AttentionChunkRows;
using rlhf::detail::ReferenceAttention;

namespace {

// max |got − want| / max |want|.
double relative_error(const torch::Tensor& got, const torch::Tensor& want) {
  const auto g = got.to(torch::kFloat64), w = want.to(torch::kFloat64);
  return ((g - w).abs().max() / (w.abs().max() + 1e-30)).item<double>();
}

struct CoreResult {
  torch::Tensor out, dq, dk, dv;
};

// The core on q [B, 4, Tq, 8], k/v [B, 2, Tk, 8] and the gradients of Σ out·weights.
CoreResult run_core(const torch::Tensor& q0, const torch::Tensor& k0, const torch::Tensor& v0,
                    const torch::Tensor& blocked, const torch::Tensor& weights) {
  const auto q = q0.detach().requires_grad_(true), k = k0.detach().requires_grad_(true),
             v = v0.detach().requires_grad_(true);
  const torch::Tensor out = rlhf::detail::attention_core(q, k, v, blocked);
  (out.to(torch::kFloat32) * weights).sum().backward();
  return {out.detach(), q.grad(), k.grad(), v.grad()};
}

struct CoreInputs {
  torch::Tensor q, k, v, blocked, weights;
};

// Two rows, 4 query heads on 2 kv heads, Tq queries after Tk − Tq cached keys; row 1 is
// left-padded by 3, so its first 3 queries see no key at all (a uniform row, no NaN).
CoreInputs core_inputs(std::int64_t Tq, std::int64_t Tk, torch::ScalarType dtype,
                       std::int64_t hd = 8) {
  torch::manual_seed(11);
  CoreInputs in;
  in.q = (2 * torch::randn({2, 4, Tq, hd})).to(dtype);
  in.k = (2 * torch::randn({2, 2, Tk, hd})).to(dtype);
  in.v = torch::randn({2, 2, Tk, hd}).to(dtype);
  const auto q_index = torch::arange(Tk - Tq, Tk).view({1, 1, Tq, 1});
  const auto k_index = torch::arange(0, Tk).view({1, 1, 1, Tk});
  const auto padding = torch::tensor({0, 3}).view({2, 1, 1, 1});
  in.blocked = (k_index > q_index) | (k_index < padding);
  in.weights = torch::randn({2, Tq, 4, hd});
  return in;
}

void expect_core_matches(const CoreResult& got, const CoreResult& want, double tol) {
  EXPECT_LT(relative_error(got.out, want.out), tol);
  EXPECT_LT(relative_error(got.dq, want.dq), tol);
  EXPECT_LT(relative_error(got.dk, want.dk), tol);
  EXPECT_LT(relative_error(got.dv, want.dv), tol);
}

}  // namespace

TEST(AttentionCore, MatchesThePlainFormInOneChunkAndInSeveral) {
  const CoreInputs in = core_inputs(13, 13, torch::kFloat32);
  CoreResult want;
  {
    ReferenceAttention reference;
    want = run_core(in.q, in.k, in.v, in.blocked, in.weights);
  }
  ASSERT_TRUE(torch::isfinite(want.dq).all().item<bool>());
  // Fully blocked queries (row 1's padding) get the mean of v and no gradient, as in the plain
  // form.
  EXPECT_TRUE(torch::allclose(want.out[1][0][0], in.v[1][0].mean(0), 1e-5, 1e-6));
  for (std::int64_t rows : {0, 1, 4, 5, 13}) {
    AttentionChunkRows chunk(rows);
    expect_core_matches(run_core(in.q, in.k, in.v, in.blocked, in.weights), want, 1e-5);
  }
}

TEST(AttentionCore, ComputesOnlyTheGradientsThatAreNeeded) {
  // A frozen k and v (LoRA on q alone, say): q's gradient is still the plain form's.
  const CoreInputs in = core_inputs(13, 13, torch::kFloat32);
  auto dq_of = [&] {
    const auto q = in.q.detach().requires_grad_(true);
    const auto k = in.k.detach(), v = in.v.detach();
    (rlhf::detail::attention_core(q, k, v, in.blocked) * in.weights).sum().backward();
    EXPECT_FALSE(k.grad().defined());
    return q.grad();
  };
  torch::Tensor want;
  {
    ReferenceAttention reference;
    want = dq_of();
  }
  AttentionChunkRows chunk(4);
  EXPECT_LT(relative_error(dq_of(), want), 1e-5);
}

TEST(AttentionCore, MatchesThePlainFormAfterCachedKeys) {
  // Generation's shape: few new queries against cached keys and values.
  const CoreInputs in = core_inputs(3, 10, torch::kFloat32);
  CoreResult want;
  {
    ReferenceAttention reference;
    want = run_core(in.q, in.k, in.v, in.blocked, in.weights);
  }
  AttentionChunkRows chunk(2);
  expect_core_matches(run_core(in.q, in.k, in.v, in.blocked, in.weights), want, 1e-5);
}

TEST(AttentionCore, BFloat16IsAsCloseToFloat32AsThePlainForm) {
  // The float32 numbers of the same (bfloat16) inputs are the truth both bfloat16 forms
  // approximate. They round the same intermediates at the same points (scores, probabilities,
  // score gradients: unit roundoff 2^-9 each), but sum differently (dk and dv over a group's
  // query heads inside one product, across chunks in float32), so they need not agree bit for
  // bit. Each must stay within a few roundings of the truth (RMS 2e-2 ≈ 10 unit roundoffs), and
  // the core no further from it than the plain form, up to 5% of the plain form's error. Shapes
  // where LibTorch's bfloat16 matmul uses oneDNN (float32 accumulation), as in any real model: on
  // tiny matrices it falls back to a kernel that accumulates in bfloat16, and its errors would
  // then depend on how the rows are chunked.
  const CoreInputs in = core_inputs(64, 64, torch::kBFloat16, 32);
  CoreResult truth, plain;
  {
    ReferenceAttention reference;
    truth = run_core(in.q.to(torch::kFloat32), in.k.to(torch::kFloat32), in.v.to(torch::kFloat32),
                     in.blocked, in.weights);
    plain = run_core(in.q, in.k, in.v, in.blocked, in.weights);
  }
  auto rms_error = [](const torch::Tensor& got, const torch::Tensor& want) {
    const auto g = got.to(torch::kFloat64), w = want.to(torch::kFloat64);
    return ((g - w).norm() / w.norm()).item<double>();
  };
  for (std::int64_t rows : {0, 21}) {  // one chunk; 21 + 21 + 21 + 1 rows
    AttentionChunkRows chunk(rows);
    const CoreResult got = run_core(in.q, in.k, in.v, in.blocked, in.weights);
    EXPECT_EQ(got.out.scalar_type(), torch::kBFloat16);
    EXPECT_EQ(got.dk.scalar_type(), torch::kBFloat16);
    const std::pair<torch::Tensor, torch::Tensor> pairs[] = {
        {got.out, plain.out}, {got.dq, plain.dq}, {got.dk, plain.dk}, {got.dv, plain.dv}};
    const torch::Tensor truths[] = {truth.out, truth.dq, truth.dk, truth.dv};
    const char* names[] = {"out", "dq", "dk", "dv"};
    for (int i = 0; i < 4; ++i) {
      const double core_error = rms_error(pairs[i].first, truths[i]);
      const double plain_error = rms_error(pairs[i].second, truths[i]);
      EXPECT_LT(core_error, 2e-2) << names[i] << ", rows " << rows;
      EXPECT_LE(core_error, 1.05 * plain_error) << names[i] << ", rows " << rows;
    }
  }
}

namespace {

// Rows of different lengths; collate pads them (either side) to the longest.
std::vector<rlhf::PromptCompletionIds> rows() {
  return {
      {{1, 5, 9, 13, 4, 7, 22}, {30, 31, 2}},
      {{1, 6, 6, 6}, {11, 12, 19, 14, 15, 2}},
      {{1, 20, 21}, {8, 2}},
      {{1, 5, 9, 13, 4, 7, 22}, {40, 41, 42, 43, 44, 45, 2}},
      {{1, 6, 6, 6}, {11, 12, 3, 2}},
      {{1, 25, 26, 27}, {8, 9, 10, 2}},
  };
}

// Row log-probs and the gradient of their weighted sum with respect to every parameter.
struct ModelResult {
  SequenceLogps logps;
  std::map<std::string, torch::Tensor> grads;
};

ModelResult run_model(rlhf::CausalLM& model, const std::function<SequenceLogps()>& logps) {
  model.zero_grad();
  ModelResult r{logps(), {}};
  const auto weights = torch::arange(1, r.logps.sum.size(0) + 1, torch::kFloat32);
  (r.logps.sum * weights).sum().backward();
  for (const auto& p : model.named_parameters())
    if (p.value().grad().defined()) r.grads[p.key()] = p.value().grad().clone();
  return r;
}

void expect_model_matches(const ModelResult& got, const ModelResult& want, double tol) {
  EXPECT_LT(relative_error(got.logps.sum, want.logps.sum), tol);
  EXPECT_LT(relative_error(got.logps.logits_mean, want.logps.logits_mean), tol);
  ASSERT_EQ(got.grads.size(), want.grads.size());
  // Every parameter trains: 2 layers × 9 tensors + embeddings + final norm (+ lm_head, biases).
  ASSERT_GE(want.grads.size(), 20u);
  for (const auto& [name, grad] : want.grads)
    EXPECT_LT(relative_error(got.grads.at(name), grad), tol) << name;
}

}  // namespace

TEST(AttentionCore, ModelLogpsAndGradientsMatchThePlainForm) {
  for (const auto& config : {rlhf::test::tiny_llama_config(), rlhf::test::tiny_mistral_config()}) {
    auto model = rlhf::test::make_tiny_model(config, 3);
    for (auto side : {rlhf::Padding::right, rlhf::Padding::left}) {
      const auto batch = rlhf::collate(rows(), 0, side);
      const std::function<SequenceLogps()> padded = [&] {
        return rlhf::sequence_logps(model->forward(batch.input_ids, batch.attention_mask),
                                    batch.labels);
      };
      // Packed rows: each pair around its shared prefix (CausalLM::packed_hidden_states).
      const std::function<SequenceLogps()> packed = [&] {
        return rlhf::sequence_logps(rlhf::completion_logits(*model, batch, 2));
      };
      for (const auto* way : {&padded, &packed}) {
        ModelResult want;
        {
          ReferenceAttention reference;
          want = run_model(*model, *way);
        }
        for (std::int64_t chunk_rows : {0, 3}) {
          AttentionChunkRows chunk(chunk_rows);
          expect_model_matches(run_model(*model, *way), want, 1e-5);
        }
      }
    }
  }
}

TEST(AttentionCore, GradientCheckpointingRecomputesTheSameGradients) {
  auto model = rlhf::test::make_tiny_model(rlhf::test::tiny_mistral_config(), 4);
  const auto batch = rlhf::collate(rows(), 0, rlhf::Padding::left);
  const std::function<SequenceLogps()> packed = [&] {
    return rlhf::sequence_logps(rlhf::completion_logits(*model, batch, 2));
  };
  ModelResult want;
  {
    ReferenceAttention reference;
    want = run_model(*model, packed);
  }
  model->set_gradient_checkpointing(true);
  AttentionChunkRows chunk(4);
  expect_model_matches(run_model(*model, packed), want, 1e-5);
}

TEST(AttentionCore, CachedDecodingMatchesThePlainForm) {
  // Prefill then one token at a time through the KV cache, with a left-padded row.
  auto model = rlhf::test::make_tiny_model(rlhf::test::tiny_mistral_config(), 5);
  torch::NoGradGuard no_grad;
  const auto ids = torch::tensor({{0, 0, 1, 5, 9, 13, 4, 7}, {1, 6, 6, 6, 11, 12, 19, 14}});
  const auto mask = torch::tensor({{0, 0, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1, 1}});
  auto decode = [&] {
    rlhf::KVCache cache;
    std::vector<torch::Tensor> logits = {
        model->forward_with_cache(ids.narrow(1, 0, 5), mask.narrow(1, 0, 5), cache)};
    for (std::int64_t t = 5; t < 8; ++t)
      logits.push_back(model->forward_with_cache(ids.narrow(1, t, 1), mask.narrow(1, t, 1), cache));
    return torch::cat(logits, 1);
  };
  torch::Tensor want;
  {
    ReferenceAttention reference;
    want = decode();
  }
  AttentionChunkRows chunk(2);
  EXPECT_LT(relative_error(decode(), want), 1e-5);
}
