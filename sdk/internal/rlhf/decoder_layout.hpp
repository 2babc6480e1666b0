// How a batch of (prompt, completion) rows goes through the decoder for completion_logits
// (sdk/src/completion_logits.cpp): which rows the decoder runs, and which of their hidden states
// predicts each completion token.
#pragma once

#include <ATen/core/Tensor.h>

#include "rlhf/toolkit/batch.hpp"
#include "rlhf/toolkit/model_config.hpp"

namespace rlhf::detail {

struct DecoderLayout {
  at::Tensor input_ids;       // [R, T]
  at::Tensor attention_mask;  // [R, T]: plain rows (positions/branches undefined)
  at::Tensor positions;       // [R, T]: packed rows (CausalLM::packed_hidden_states)
  at::Tensor branches;        // [R, T]
  at::Tensor sources;         // [N]: index into the [R·T] hidden states predicting targets[n]
  at::Tensor targets;         // [N]: the completion tokens, row by row
  at::Tensor rows;            // [N]: the batch row of each target
  std::int64_t batch_rows = 0;
};

// The batch as it is: row b's token t is predicted by its hidden state at t − 1.
DecoderLayout row_layout(const Batch& batch);

// Rows i and P + i (P = B/2) packed into one row: their common leading tokens once, then the rest
// of row i (branch 1), then the rest of row P + i (branch 2), whose positions continue from the
// shared part. Returns an undefined `input_ids` when that costs more FLOPs than the plain rows
// (short shared prefixes: a packed row is longer, and attention grows with its square).
DecoderLayout shared_prefix_layout(const Batch& batch, const ModelConfig& config);

}  // namespace rlhf::detail
