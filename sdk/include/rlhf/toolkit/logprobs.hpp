// The one log-prob function: per-sequence log-probabilities of completion tokens, from a model's
// full logits or from the completion logits alone.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace rlhf {

class CausalLM;
struct Batch;

struct SequenceLogps {
  at::Tensor sum;          // [B] Σ_t log π(y_t | x, y_<t) over completion tokens (float32)
  at::Tensor mean;         // [B] sum / tokens
  at::Tensor tokens;       // [B] number of completion tokens (float32)
  at::Tensor logits_mean;  // [B] mean raw logit over completion positions and vocab (detached)
};

// logits: [B, T, V] (any float dtype; computed in float32). labels: [B, T] with kIgnoreIndex
// on masked positions. The logits at position t-1 predict the label at position t.
SequenceLogps sequence_logps(const at::Tensor& logits, const at::Tensor& labels);

// The logits a loss over completions needs, and only those: the output projection (a V-wide
// matmul per position, a quarter of a 100M Llama's forward) runs only at the positions whose next
// token is a completion token, and nothing is padded. Flat over the batch, row by row.
struct CompletionLogits {
  at::Tensor logits;            // [N, V] in the model dtype: the logits that predict targets[n]
  at::Tensor targets;           // [N] int64: the completion tokens (labels that are not ignored)
  at::Tensor rows;              // [N] int64: the batch row of each token
  std::int64_t batch_rows = 0;  // B
};

// Runs `batch` ([B, T] input_ids, attention_mask, labels as collate() makes them) through `model`
// and keeps the completion logits: sequence_logps(completion_logits(model, batch)) equals
// sequence_logps(model.forward(batch.input_ids, batch.attention_mask), batch.labels) up to
// float rounding, with fewer FLOPs and no [B, T, V] tensor. When it costs fewer FLOPs than the
// padded rows, the decoder runs packed rows instead (CausalLM::packed_hidden_states): the real
// tokens of several examples in one row, no padding between them. `rows_per_example` = 2 says
// rows i and B/2 + i are two sequences of one example (a chosen and a rejected completion of one
// prompt: collate_pairs' order): their common leading tokens then run once
// (docs/algorithms.md, "Packed rows").
CompletionLogits completion_logits(CausalLM& model, const Batch& batch, int rows_per_example = 1);

// Per-row log-probs ([B] each) of completion logits; logits_mean is the mean raw logit over the
// row's completion positions and vocab, as sequence_logps(logits, labels) defines it.
SequenceLogps sequence_logps(const CompletionLogits& completion);

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
