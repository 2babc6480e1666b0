// chunked_token_logps (what sequence_logps(const CompletionLogits&) sums) against token_logps's
// plain autograd form on the same logits: log-probs, logit sums and the gradient with respect
// to the logits, over several chunks of rows, with ignored targets, in float32 and bfloat16.
#include <gtest/gtest.h>

#include "rlhf/chunked_token_logps.hpp"
#include "rlhf/toolkit/batch.hpp"
#include "rlhf/toolkit/logprobs.hpp"

namespace {

struct Result {
  torch::Tensor logps, sums, grad;
};

// 37 rows of a 70,000-token vocabulary: ~2.6M logits, three chunks of rows. Rows 5 and 30 are
// ignored targets.
torch::Tensor logits_of(torch::ScalarType dtype) {
  torch::manual_seed(21);
  return (3 * torch::randn({37, 70000})).to(dtype);
}

torch::Tensor targets() {
  torch::manual_seed(22);
  torch::Tensor t = torch::randint(0, 70000, {37}, torch::kInt64);
  t[5] = rlhf::kIgnoreIndex;
  t[30] = rlhf::kIgnoreIndex;
  return t;
}

// The gradient of Σ_n w_n · logps_n, w = 1 … N.
Result plain(const torch::Tensor& logits0, const torch::Tensor& targets) {
  const torch::Tensor logits = logits0.detach().requires_grad_(true);
  const torch::Tensor z = logits.to(torch::kFloat32);
  Result r;
  r.logps = rlhf::token_logps(z.unsqueeze(0), targets.unsqueeze(0)).squeeze(0);
  r.sums = z.detach().sum(-1);
  (r.logps * torch::arange(1, 38, torch::kFloat32)).sum().backward();
  r.grad = logits.grad();
  return r;
}

Result chunked(const torch::Tensor& logits0, const torch::Tensor& targets) {
  const torch::Tensor logits = logits0.detach().requires_grad_(true);
  const auto out = rlhf::detail::chunked_token_logps(logits, targets);
  EXPECT_FALSE(out.logit_sums.requires_grad());
  (out.logps * torch::arange(1, 38, torch::kFloat32)).sum().backward();
  return {out.logps.detach(), out.logit_sums, logits.grad()};
}

}  // namespace

TEST(ChunkedTokenLogps, EqualsTokenLogpsInFloat32AndBFloat16) {
  // The same float32 operations on the same float32 values, row by row, so the two agree to the
  // last bits in both dtypes (bfloat16 logits are cast up exactly, and both round the float32
  // gradient to bfloat16 once); the bound allows only for a reduction summed in another order.
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    const torch::Tensor logits = logits_of(dtype), t = targets();
    const Result want = plain(logits, t), got = chunked(logits, t);
    EXPECT_EQ(got.grad.scalar_type(), dtype);
    EXPECT_EQ(got.logps[5].item<float>(), 0.0f);
    EXPECT_TRUE(torch::allclose(got.logps, want.logps, 1e-6, 1e-5)) << got.logps - want.logps;
    EXPECT_TRUE(torch::allclose(got.sums, want.sums, 1e-6, 1e-3));
    const double scale = want.grad.abs().max().item<double>();
    EXPECT_LT(
        (got.grad.to(torch::kFloat64) - want.grad.to(torch::kFloat64)).abs().max().item<double>(),
        1e-6 * scale);
    // Ignored rows get no gradient; the others' gradients sum to 0 (Σ softmax = 1 = the target).
    EXPECT_EQ(got.grad[30].abs().max().item<double>(), 0.0);
    if (dtype == torch::kFloat32) {
      EXPECT_NEAR(got.grad[7].sum().item<double>(), 0.0, 1e-3);
    }
  }
}
