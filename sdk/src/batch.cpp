// Batching of tokenised (prompt, completion) rows: dynamic padding and TRL-style truncation.
#include "rlhf/toolkit/batch.hpp"

#include <torch/torch.h>

#include "rlhf/error.hpp"

namespace rlhf {

Batch collate(const std::vector<PromptCompletionIds>& rows, std::int64_t pad_id, Padding side) {
  if (rows.empty()) throw Error("collate: empty batch");
  std::int64_t T = 0;
  for (const auto& r : rows)
    T = std::max<std::int64_t>(T, static_cast<std::int64_t>(r.prompt.size() + r.completion.size()));
  const auto B = static_cast<std::int64_t>(rows.size());
  Batch b;
  b.input_ids = torch::full({B, T}, pad_id, torch::kInt64);
  b.attention_mask = torch::zeros({B, T}, torch::kInt64);
  b.labels = torch::full({B, T}, kIgnoreIndex, torch::kInt64);
  auto ids = b.input_ids.accessor<std::int64_t, 2>();
  auto mask = b.attention_mask.accessor<std::int64_t, 2>();
  auto labels = b.labels.accessor<std::int64_t, 2>();
  for (std::int64_t i = 0; i < B; ++i) {
    const auto& r = rows[static_cast<std::size_t>(i)];
    const auto n = static_cast<std::int64_t>(r.prompt.size() + r.completion.size());
    std::int64_t t = side == Padding::left ? T - n : 0;
    for (auto id : r.prompt) {
      ids[i][t] = id;
      mask[i][t++] = 1;
    }
    for (auto id : r.completion) {
      ids[i][t] = id;
      labels[i][t] = id;
      mask[i][t++] = 1;
    }
  }
  return b;
}

void truncate(PromptCompletionIds& row, std::int64_t max_length, std::int64_t max_prompt_length,
              bool prompt_keep_start) {
  auto& p = row.prompt;
  if (max_prompt_length > 0 && static_cast<std::int64_t>(p.size()) > max_prompt_length) {
    if (prompt_keep_start)
      p.resize(static_cast<std::size_t>(max_prompt_length));
    else
      p.erase(p.begin(), p.end() - max_prompt_length);
  }
  if (max_length > 0) {
    const auto room = std::max<std::int64_t>(0, max_length - static_cast<std::int64_t>(p.size()));
    if (static_cast<std::int64_t>(row.completion.size()) > room)
      row.completion.resize(static_cast<std::size_t>(room));
  }
}

}  // namespace rlhf
