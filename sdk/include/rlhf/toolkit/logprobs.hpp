// The one log-prob function: per-sequence log-probabilities of completion tokens.
#pragma once

#include <ATen/core/Tensor.h>

namespace rlhf {

struct SequenceLogps {
  at::Tensor sum;          // [B] Σ_t log π(y_t | x, y_<t) over completion tokens (float32)
  at::Tensor mean;         // [B] sum / tokens
  at::Tensor tokens;       // [B] number of completion tokens (float32)
  at::Tensor logits_mean;  // [B] mean raw logit over completion positions and vocab (detached)
};

// logits: [B, T, V] (any float dtype; computed in float32). labels: [B, T] with kIgnoreIndex
// on masked positions. The logits at position t-1 predict the label at position t.
SequenceLogps sequence_logps(const at::Tensor& logits, const at::Tensor& labels);

// The per-token terms sequence_logps sums: log_softmax(logits)[b, t, tokens[b, t]] as float32
// [B, N], for logits [B, N, V] already aligned with `tokens` [B, N] (the logits that predict each
// token; PPO's per-token KL and ratios). Entries whose token is kIgnoreIndex are 0.
at::Tensor token_logps(const at::Tensor& logits, const at::Tensor& tokens);

// The SFT term of the preference losses that carry one (ORPO's L_SFT, CPO's cpo_alpha, DPO's
// rpo_alpha): the mean negative log-likelihood per completion token over the whole batch,
// −Σ_i sum_i / Σ_i tokens_i (scalar, differentiable). This is TRL's nn.CrossEntropyLoss over the
// chosen rows' labels with padding and prompt ignored: every token weighs the same, so long
// completions weigh more than short ones (not a mean of per-row means). 0 when the batch has no
// completion tokens.
at::Tensor mean_token_nll(const SequenceLogps& chosen);

}  // namespace rlhf
