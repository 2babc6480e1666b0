// From Examples to model inputs for the preference losses (DPO, ORPO, …) and SFT:
// tokenise with the chat template, truncate as TRL does, collate with dynamic padding, and run
// chosen and rejected through ONE concatenated forward (docs/algorithms.md, "Notation").
//
//   auto pairs = tokenize_pairs(*ctx.data, Split::train, *tokenizer, chat_template, training);
//   PairBatch batch = collate_pairs(pairs, indices, tokenizer->pad_id());
//   PairLogps out = concatenated_forward(*model, batch);    // out.chosen.sum, out.rejected.mean, …
//
// Truncation (TrainingConfig): the prompt keeps its last `max_prompt_length` tokens
// (truncation_mode = "keep_end", TRL's default; "keep_start" keeps its first), then each
// completion keeps its first tokens so that prompt + completion ≤ max_length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "rlhf/data_source.hpp"
#include "rlhf/toolkit/batch.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "rlhf/toolkit/logprobs.hpp"

namespace rlhf {

class CausalLM;
class Tokenizer;
struct StageContext;
struct TrainingConfig;

// One preference pair, tokenised and truncated.
struct TokenizedPair {
  PromptCompletionIds chosen;    // prompt + chosen completion
  PromptCompletionIds rejected;  // prompt + rejected completion
};

// Tokenises one example; an example without chosen/rejected throws rlhf::Error naming
// `example.source` ("prefs.jsonl:7").
TokenizedPair tokenize_pair(const Example& example, const Tokenizer& tokenizer,
                            const ChatTemplate& chat_template, const TrainingConfig& config);
// Every example of `split`, in order.
std::vector<TokenizedPair> tokenize_pairs(const DataSource& data, Split split,
                                          const Tokenizer& tokenizer,
                                          const ChatTemplate& chat_template,
                                          const TrainingConfig& config);

// One SFT row: prompt + completion (prompt masked from the loss), or for a `text` example the
// whole text as completion (every token trains).
PromptCompletionIds tokenize_completion(const Example& example, const Tokenizer& tokenizer,
                                        const ChatTemplate& chat_template,
                                        const TrainingConfig& config);

// The rows of `indices` as one padded batch of 2·P rows: chosen rows 0..P-1, then rejected.
struct PairBatch {
  Batch batch;
  std::int64_t pairs = 0;
  std::int64_t tokens = 0;  // real (non-padding) tokens in the batch
};
PairBatch collate_pairs(const std::vector<TokenizedPair>& pairs,
                        const std::vector<std::size_t>& indices, std::int64_t pad_id);

// Log-probs of the chosen and rejected halves from one forward over the whole PairBatch.
struct PairLogps {
  SequenceLogps chosen;    // each field [P]
  SequenceLogps rejected;  // each field [P]
};
PairLogps concatenated_forward(CausalLM& model, const PairBatch& batch);

// Splits per-row log-probs of a 2·P batch into its chosen and rejected halves.
PairLogps split_pair_logps(const SequenceLogps& rows, std::int64_t pairs);

}  // namespace rlhf
