// sequence_logps: the one place log-probabilities of completions are computed
// (docs/algorithms.md, "Notation": summed over completion tokens only, logits at t-1 predict
// token t).
#include "rlhf/toolkit/logprobs.hpp"

#include <torch/torch.h>

#include "rlhf/chunked_token_logps.hpp"
#include "rlhf/error.hpp"
#include "rlhf/toolkit/batch.hpp"

namespace rlhf {

SequenceLogps sequence_logps(const at::Tensor& logits, const at::Tensor& labels) {
  if (logits.dim() != 3 || labels.dim() != 2 || logits.size(0) != labels.size(0) ||
      logits.size(1) != labels.size(1))
    throw Error("sequence_logps: expected logits [B, T, V] and labels [B, T]");
  const auto T = logits.size(1);
  SequenceLogps out;
  if (T < 2) {
    const auto zeros = torch::zeros({logits.size(0)}, logits.options().dtype(torch::kFloat32));
    out.sum = zeros;
    out.mean = zeros;
    out.tokens = zeros;
    out.logits_mean = zeros;
    return out;
  }
  const at::Tensor shifted_logits = logits.narrow(1, 0, T - 1).to(torch::kFloat32);  // [B, T-1, V]
  const at::Tensor targets = labels.narrow(1, 1, T - 1);                             // [B, T-1]
  const at::Tensor maskf = (targets != kIgnoreIndex).to(torch::kFloat32);
  out.sum = token_logps(shifted_logits, targets).sum(-1);
  out.tokens = maskf.sum(-1);
  out.mean = out.sum / out.tokens.clamp_min(1.0);
  {
    torch::NoGradGuard no_grad;
    const auto V = static_cast<double>(logits.size(2));
    out.logits_mean =
        (shifted_logits.detach().sum(-1) * maskf).sum(-1) / (out.tokens.clamp_min(1.0) * V);
  }
  return out;
}

SequenceLogps sequence_logps(const CompletionLogits& completion) {
  const auto& c = completion;
  if (c.logits.dim() != 2 || c.targets.dim() != 1 || c.rows.sizes() != c.targets.sizes() ||
      c.logits.size(0) != c.targets.size(0))
    throw Error("sequence_logps: expected completion logits [N, V], targets [N] and rows [N]");
  // token_logps's numbers, a chunk of rows at a time, without keeping a float32 copy of the
  // [N, V] logits for backward (sdk/src/chunked_token_logps.cpp).
  const detail::ChunkedTokenLogps per_token = detail::chunked_token_logps(c.logits, c.targets);
  const at::Tensor zeros = torch::zeros({c.batch_rows}, per_token.logps.options());
  SequenceLogps out;
  out.sum = zeros.index_add(0, c.rows, per_token.logps);
  {
    torch::NoGradGuard no_grad;
    out.tokens =
        zeros.index_add(0, c.rows, torch::ones({c.targets.size(0)}, per_token.logps.options()));
    const auto V = static_cast<double>(c.logits.size(1));
    out.logits_mean =
        zeros.index_add(0, c.rows, per_token.logit_sums) / (out.tokens.clamp_min(1.0) * V);
  }
  out.mean = out.sum / out.tokens.clamp_min(1.0);
  return out;
}

at::Tensor token_logps(const at::Tensor& logits, const at::Tensor& tokens) {
  if (logits.dim() != 3 || tokens.dim() != 2 || logits.size(0) != tokens.size(0) ||
      logits.size(1) != tokens.size(1))
    throw Error("token_logps: expected logits [B, N, V] and tokens [B, N]");
  const at::Tensor z = logits.to(torch::kFloat32);
  const at::Tensor mask = tokens != kIgnoreIndex;
  const at::Tensor safe = tokens.masked_fill(~mask, 0).to(torch::kInt64).unsqueeze(-1);
  // log_softmax(z)[y] = z[y] - logsumexp(z), without materialising log_softmax over V.
  const at::Tensor logps = z.gather(-1, safe).squeeze(-1) - torch::logsumexp(z, -1);
  return logps * mask.to(torch::kFloat32);
}

at::Tensor mean_token_nll(const SequenceLogps& chosen) {
  return -chosen.sum.sum() / chosen.tokens.sum().clamp_min(1.0);
}

}  // namespace rlhf
