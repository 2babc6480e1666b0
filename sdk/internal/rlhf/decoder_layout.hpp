// How a batch of (prompt, completion) rows goes through the decoder for completion_logits
// (sdk/src/completion_logits.cpp): which rows the decoder runs, and which of their hidden states
// predicts each completion token (docs/algorithms.md, "Packed rows").
#pragma once

#include <ATen/core/Tensor.h>

#include "rlhf/toolkit/batch.hpp"
#include "rlhf/toolkit/model_config.hpp"

namespace rlhf::detail {

struct DecoderLayout {
  at::Tensor input_ids;       // [R, T]
  at::Tensor attention_mask;  // [R, T]: plain rows (positions, segments, branches undefined)
  at::Tensor positions;       // [R, T]: packed rows (CausalLM::packed_hidden_states)
  at::Tensor segments;        // [R, T]
  at::Tensor branches;        // [R, T]
  at::Tensor sources;         // [N]: index into the [R·T] hidden states predicting targets[n]
  at::Tensor targets;         // [N]: the completion tokens, row by row
  at::Tensor rows;            // [N]: the batch row of each target
  std::int64_t batch_rows = 0;
};

// The batch as it is: row b's token t is predicted by its hidden state at t − 1.
DecoderLayout row_layout(const Batch& batch);

// The batch packed without padding: each example becomes one segment — a row's real tokens, or
// with rows_per_example = 2 rows i and P + i (P = B/2) around their shared prefix: the common
// leading tokens once (branch 0), then the rest of row i (branch 1), then the rest of row P + i
// (branch 2, positions continuing from the shared part) — and the segments are placed into rows
// as long as the longest segment, first fit by decreasing length. Returns an undefined
// `input_ids` when that costs at least as many FLOPs as the plain rows (a packed pair row is
// longer than either of its rows, and attention grows with the square of a row's length).
DecoderLayout packed_layout(const Batch& batch, const ModelConfig& config, int rows_per_example);

}  // namespace rlhf::detail
