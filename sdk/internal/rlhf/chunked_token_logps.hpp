// The per-token log-probs of completion logits (sdk/src/chunked_token_logps.cpp), computed a
// chunk of rows at a time and saving no float32 copy of the logits for backward. Internal: what
// sequence_logps(const CompletionLogits&) sums; tests hold it to token_logps.
#pragma once

#include <ATen/core/Tensor.h>

namespace rlhf::detail {

struct ChunkedTokenLogps {
  at::Tensor logps;       // [N] float32: log_softmax(logits)[n, targets[n]], 0 where ignored
  at::Tensor logit_sums;  // [N] float32, detached: Σ_v logits[n, v] (for logits_mean)
};

// logits [N, V] in any float dtype (computed in float32, as token_logps does), targets [N] with
// kIgnoreIndex where a row counts for nothing. `logps` is differentiable in `logits`.
ChunkedTokenLogps chunked_token_logps(const at::Tensor& logits, const at::Tensor& targets);

}  // namespace rlhf::detail
