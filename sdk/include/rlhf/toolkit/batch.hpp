// Batching: tokenised sequences → padded tensors (dynamic padding to the longest row).
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "rlhf/toolkit/chat_template.hpp"

namespace rlhf {

constexpr std::int64_t kIgnoreIndex = -100;  // label of a token excluded from losses

struct Batch {
  at::Tensor input_ids;       // [B, T] int64
  at::Tensor attention_mask;  // [B, T] int64, 1 = real token
  at::Tensor labels;          // [B, T] int64, kIgnoreIndex on prompt and padding
};

enum class Padding { right, left };

// One row per pair: prompt ids then completion ids; labels = completion ids (prompt masked).
Batch collate(const std::vector<PromptCompletionIds>& rows, std::int64_t pad_id,
              Padding side = Padding::right);

// Truncation as TRL: the prompt keeps its last `max_prompt_length` tokens ("keep_end"), then
// the completion keeps its first tokens so prompt+completion ≤ max_length.
// `prompt_keep_start` flips the prompt rule to keep its first tokens.
void truncate(PromptCompletionIds& row, std::int64_t max_length, std::int64_t max_prompt_length,
              bool prompt_keep_start = false);

}  // namespace rlhf
