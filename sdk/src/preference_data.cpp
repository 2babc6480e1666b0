#include "rlhf/toolkit/preference_data.hpp"

#include "map_examples.hpp"

#include "rlhf/error.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "rlhf/training_config.hpp"

namespace rlhf {

namespace {

void truncate_row(PromptCompletionIds& row, const TrainingConfig& config) {
  truncate(row, config.max_length, config.max_prompt_length,
           config.truncation_mode == "keep_start");
}

std::string where(const Example& example) {
  return example.source.empty() ? std::string("example") : example.source;
}

// Every id must index the embeddings: the tokenizer was checked against config.json's
// vocab_size at load, so an id outside [0, vocab_size) is a tokenizer fault; it is reported
// with the example instead of as a LibTorch "index out of range" mid-run.
void check_ids(const PromptCompletionIds& row, const Tokenizer& tokenizer, const Example& example) {
  const std::int64_t vocab = tokenizer.vocab_size();
  for (const auto* ids : {&row.prompt, &row.completion})
    for (const auto id : *ids)
      if (id < 0 || id >= vocab)
        throw Error(where(example) + ": token id " + std::to_string(id) +
                    " is outside the vocabulary (0.." + std::to_string(vocab - 1) + ")");
}

}  // namespace

TokenizedPair tokenize_pair(const Example& example, const Tokenizer& tokenizer,
                            const ChatTemplate& chat_template, const TrainingConfig& config) {
  if (example.chosen.empty() || example.rejected.empty())
    throw Error(where(example) +
                ": not a preference record (needs chosen and rejected; see the jsonl formats)");
  TokenizedPair pair;
  pair.chosen = chat_template.encode(tokenizer, example.prompt, example.chosen);
  pair.rejected = chat_template.encode(tokenizer, example.prompt, example.rejected);
  check_ids(pair.chosen, tokenizer, example);
  check_ids(pair.rejected, tokenizer, example);
  truncate_row(pair.chosen, config);
  truncate_row(pair.rejected, config);
  if (pair.chosen.completion.empty() || pair.rejected.completion.empty())
    throw Error(where(example) + ": completion is empty after truncation (max_length " +
                std::to_string(config.max_length) + ", max_prompt_length " +
                std::to_string(config.max_prompt_length) + ")");
  return pair;
}

std::vector<TokenizedPair> tokenize_pairs(const DataSource& data, Split split,
                                          const Tokenizer& tokenizer,
                                          const ChatTemplate& chat_template,
                                          const TrainingConfig& config) {
  return map_examples<TokenizedPair>(data, split, [&](const Example& example) {
    return tokenize_pair(example, tokenizer, chat_template, config);
  });
}

PromptCompletionIds tokenize_completion(const Example& example, const Tokenizer& tokenizer,
                                        const ChatTemplate& chat_template,
                                        const TrainingConfig& config) {
  PromptCompletionIds row;
  if (example.text) {
    row.completion = tokenizer.encode(*example.text, tokenizer.add_bos_token(), true);
  } else {
    const auto& completion = !example.completion.empty() ? example.completion : example.chosen;
    if (completion.empty())
      throw Error(where(example) +
                  ": not an SFT record (needs prompt+completion, messages, text or chosen)");
    row = chat_template.encode(tokenizer, example.prompt, completion);
  }
  check_ids(row, tokenizer, example);
  truncate_row(row, config);
  if (row.completion.empty())
    throw Error(where(example) + ": completion is empty after truncation (max_length " +
                std::to_string(config.max_length) + ")");
  return row;
}

PairBatch collate_pairs(const std::vector<TokenizedPair>& pairs,
                        const std::vector<std::size_t>& indices, std::int64_t pad_id) {
  std::vector<PromptCompletionIds> rows;
  rows.reserve(2 * indices.size());
  PairBatch out;
  for (auto i : indices) rows.push_back(pairs.at(i).chosen);
  for (auto i : indices) rows.push_back(pairs.at(i).rejected);
  for (const auto& r : rows)
    out.tokens += static_cast<std::int64_t>(r.prompt.size() + r.completion.size());
  out.batch = collate(rows, pad_id);
  out.pairs = static_cast<std::int64_t>(indices.size());
  return out;
}

PairLogps split_pair_logps(const SequenceLogps& rows, std::int64_t pairs) {
  auto half = [pairs](const at::Tensor& t, std::int64_t start) {
    return t.defined() ? t.narrow(0, start, pairs) : at::Tensor();  // e.g. a reference's logits
  };
  PairLogps out;
  out.chosen = {half(rows.sum, 0), half(rows.mean, 0), half(rows.tokens, 0),
                half(rows.logits_mean, 0)};
  out.rejected = {half(rows.sum, pairs), half(rows.mean, pairs), half(rows.tokens, pairs),
                  half(rows.logits_mean, pairs)};
  return out;
}

PairLogps concatenated_forward(CausalLM& model, const PairBatch& batch) {
  const CompletionLogits completion = completion_logits(model, batch.batch, /*rows_per_example=*/2);
  return split_pair_logps(sequence_logps(completion), batch.pairs);
}

}  // namespace rlhf
