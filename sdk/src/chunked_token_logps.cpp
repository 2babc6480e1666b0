// log_softmax(logits)[n, y_n] over completion logits [N, V] as one autograd function working
// through chunks of rows.
//
// token_logps's plain autograd form casts the logits to float32 and takes logsumexp, which keeps
// that float32 copy for backward (4 bytes per logit: 128 MiB for 1,000 completion tokens of a
// 32k vocabulary, 0.5 GiB with a 128k one) on top of the model-dtype logits, and its forward and
// backward each make [N, V] float32 temporaries. This function saves the logits as they are and
// the per-row log-sum-exp, and recomputes softmax = exp(z − lse) a chunk of rows at a time in
// backward, writing the gradient straight in the logits' dtype. The numbers are token_logps's:
// the same float32 z, logsumexp and gather in forward; in backward the same products
// −g·exp(z − lse), plus g at the target, cast to the logits' dtype.
#include "rlhf/chunked_token_logps.hpp"

#include <torch/torch.h>

#include <algorithm>

#include "rlhf/toolkit/batch.hpp"

namespace rlhf::detail {

namespace {

// About 1M logits a chunk: 4 MiB of float32, a few temporaries of it.
constexpr std::int64_t kChunkLogits = std::int64_t{1} << 20;

std::int64_t chunk_rows(std::int64_t V) { return std::max<std::int64_t>(1, kChunkLogits / V); }

struct TokenLogps : torch::autograd::Function<TokenLogps> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                torch::Tensor logits, torch::Tensor targets) {
    const auto N = logits.size(0), V = logits.size(1);
    const auto f32 = logits.options().dtype(torch::kFloat32);
    const torch::Tensor mask = targets != kIgnoreIndex;
    const torch::Tensor safe = targets.masked_fill(~mask, 0).to(torch::kInt64);
    torch::Tensor logps = torch::empty({N}, f32), lse = torch::empty({N}, f32),
                  sums = torch::empty({N}, f32);
    const std::int64_t rows = chunk_rows(V);
    for (std::int64_t r0 = 0; r0 < N; r0 += rows) {
      const auto c = std::min(rows, N - r0);
      const torch::Tensor z = logits.narrow(0, r0, c).to(torch::kFloat32);
      const torch::Tensor chunk_lse = torch::logsumexp(z, -1);
      lse.narrow(0, r0, c).copy_(chunk_lse);
      logps.narrow(0, r0, c).copy_(z.gather(-1, safe.narrow(0, r0, c).unsqueeze(-1)).squeeze(-1) -
                                   chunk_lse);
      sums.narrow(0, r0, c).copy_(z.sum(-1));
    }
    logps.mul_(mask.to(torch::kFloat32));
    ctx->save_for_backward({logits, safe, mask, lse});
    ctx->mark_non_differentiable({sums});
    return {logps, sums};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &logits = saved[0], &safe = saved[1], &mask = saved[2], &lse = saved[3];
    const auto N = logits.size(0), V = logits.size(1);
    // d logps[n] / d z[n, v] = [v = y_n] − softmax(z[n])_v, for the rows that count.
    const torch::Tensor g = grad_out[0] * mask.to(torch::kFloat32);
    torch::Tensor grad = torch::empty({N, V}, logits.options());
    const std::int64_t rows = chunk_rows(V);
    for (std::int64_t r0 = 0; r0 < N; r0 += rows) {
      const auto c = std::min(rows, N - r0);
      const torch::Tensor gc = g.narrow(0, r0, c).unsqueeze(-1);
      torch::Tensor d =
          (logits.narrow(0, r0, c).to(torch::kFloat32) - lse.narrow(0, r0, c).unsqueeze(-1))
              .exp_()
              .mul_(-gc);
      d.scatter_add_(-1, safe.narrow(0, r0, c).unsqueeze(-1), gc);
      grad.narrow(0, r0, c).copy_(d);
    }
    return {grad, torch::Tensor()};
  }
};

}  // namespace

ChunkedTokenLogps chunked_token_logps(const at::Tensor& logits, const at::Tensor& targets) {
  const auto out = TokenLogps::apply(logits, targets);
  return {out[0], out[1]};
}

}  // namespace rlhf::detail
