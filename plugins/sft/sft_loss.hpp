// Supervised fine-tuning loss (docs/algorithms.md, "SFT"): the mean token-level cross-entropy
// over the completion tokens of the batch (prompt and padding masked, TRL's completion-only
// loss),
//
//   loss = −Σ_{rows} Σ_{t ∈ completion} log π(y_t | x, y_<t) / (number of completion tokens)
//
// and `mean_token_accuracy`: the fraction of those tokens where argmax of the logits at t−1 is
// y_t (TRL's SFTTrainer metric).
#pragma once

#include <ATen/core/Tensor.h>

#include "rlhf/toolkit/logprobs.hpp"

namespace rlhf::sft {

struct SftLossOutput {
  at::Tensor loss;                 // scalar, differentiable
  double mean_token_accuracy = 0;  // in [0, 1]
  std::int64_t completion_tokens = 0;
};

// The completion logits of a batch (completion_logits(model, batch)).
SftLossOutput sft_loss(const CompletionLogits& completion);

}  // namespace rlhf::sft
