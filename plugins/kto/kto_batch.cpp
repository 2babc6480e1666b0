#include "kto_batch.hpp"

#include <algorithm>

#include <torch/torch.h>

#include "rlhf/error.hpp"
#include "rlhf/toolkit/preference_data.hpp"
#include "rlhf/training_config.hpp"

namespace rlhf::kto {

namespace {

std::string where(const Example& example) {
  return example.source.empty() ? std::string("example") : example.source;
}

// `example` with `completion` as its SFT target, tokenised and truncated by the one SFT
// tokenisation (tokenize_completion).
PromptCompletionIds tokenize_with(const Example& example, const std::vector<Message>& completion,
                                  const Tokenizer& tokenizer, const ChatTemplate& chat_template,
                                  const TrainingConfig& config) {
  Example row = example;
  row.completion = completion;
  return tokenize_completion(row, tokenizer, chat_template, config);
}

}  // namespace

std::vector<KtoRow> tokenize_kto_rows(const Example& example, const Tokenizer& tokenizer,
                                      const ChatTemplate& chat_template,
                                      const TrainingConfig& config) {
  if (example.label && !example.completion.empty() && !example.text)
    return {{tokenize_completion(example, tokenizer, chat_template, config), *example.label}};
  if (!example.label && !example.chosen.empty() && !example.rejected.empty())
    return {{tokenize_with(example, example.chosen, tokenizer, chat_template, config), true},
            {tokenize_with(example, example.rejected, tokenizer, chat_template, config), false}};
  throw Error(where(example) +
              ": not a KTO record (needs prompt, completion and \"label\", or chosen and "
              "rejected; see the jsonl formats)");
}

std::vector<KtoRow> tokenize_kto_rows(const DataSource& data, Split split,
                                      const Tokenizer& tokenizer, const ChatTemplate& chat_template,
                                      const TrainingConfig& config) {
  std::vector<KtoRow> out;
  out.reserve(data.size(split));
  for (std::size_t i = 0; i < data.size(split); ++i)
    for (auto& row : tokenize_kto_rows(data.at(i, split), tokenizer, chat_template, config))
      out.push_back(std::move(row));
  return out;
}

namespace {

// The batch of `indices` whose k-th mismatched row takes the completion of row partner(k).
template <class Partner>
KtoBatch collate_with(const std::vector<KtoRow>& rows, const std::vector<std::size_t>& indices,
                      Partner partner, std::int64_t pad_id, const TrainingConfig& config) {
  const std::size_t n = indices.size();
  std::vector<PromptCompletionIds> ids;
  ids.reserve(2 * n);
  std::vector<std::int64_t> desirable;
  desirable.reserve(n);
  for (auto i : indices) {
    ids.push_back(rows.at(i).ids);
    desirable.push_back(rows.at(i).desirable ? 1 : 0);
  }
  for (std::size_t k = 0; k < n; ++k) {
    PromptCompletionIds mismatched;
    mismatched.prompt = rows.at(indices[k]).ids.prompt;
    mismatched.completion = rows.at(partner(k)).ids.completion;
    truncate(mismatched, config.max_length, config.max_prompt_length,
             config.truncation_mode == "keep_start");
    ids.push_back(std::move(mismatched));
  }
  KtoBatch out;
  for (const auto& r : ids)
    out.tokens += static_cast<std::int64_t>(r.prompt.size() + r.completion.size());
  out.batch = collate(ids, pad_id);
  out.rows = static_cast<std::int64_t>(n);
  out.desirable = torch::tensor(desirable, torch::kInt64).ne(0);
  return out;
}

}  // namespace

KtoBatch collate_kto(const std::vector<KtoRow>& rows, const std::vector<std::size_t>& indices,
                     std::int64_t pad_id, const TrainingConfig& config) {
  const std::size_t n = indices.size();
  return collate_with(
      rows, indices, [&](std::size_t k) { return indices[(k + n - 1) % n]; }, pad_id, config);
}

KtoBatch collate_kto(const std::vector<KtoRow>& rows, const std::vector<std::size_t>& indices,
                     const std::vector<std::size_t>& partners, std::int64_t pad_id,
                     const TrainingConfig& config) {
  return collate_with(
      rows, indices, [&](std::size_t k) { return partners.at(indices[k]); }, pad_id, config);
}

std::vector<std::size_t> kl_partners(std::size_t n, std::size_t block) {
  std::vector<std::size_t> partner(n);
  block = std::max<std::size_t>(1, block);
  for (std::size_t begin = 0; begin < n; begin += block) {
    const std::size_t end = std::min(n, begin + block);
    for (std::size_t i = begin; i < end; ++i) partner[i] = i == begin ? end - 1 : i - 1;
  }
  return partner;
}

KtoLogps split_kto_logps(const SequenceLogps& rows, std::int64_t n) {
  PairLogps halves = split_pair_logps(rows, n);  // first half: matched; second: mismatched
  return {halves.chosen.sum, halves.rejected.sum};
}

}  // namespace rlhf::kto
