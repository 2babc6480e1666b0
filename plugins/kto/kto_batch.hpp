// From Examples to KTO model inputs: unpaired rows (prompt, completion, desirable or not) and
// one padded batch that carries both the rows and the mismatched rows of KTO's reference point.
//
//   rows = tokenize_kto_rows(*ctx.data, Split::train, *tokenizer, chat_template, training);
//   KtoBatch batch = collate_kto(rows, indices, tokenizer->pad_id(), training);
//   KtoLogps policy = split_kto_logps(sequence_logps(completion_logits(model, batch.batch, 2)),
//                                     batch.rows);
//   kto_loss(policy, reference, batch.desirable, beta, …)
//
// Mismatched rows follow TRL's KTOTrainer._get_kl_dataset ("adding a +1 offset to the order of
// completions"): within a batch of N rows, row i's prompt is paired with the completion of row
// i−1, and row 0's with the completion of row N−1 (answer_input_ids = [last] + [:-1]). TRL
// builds them once over the dataset in chunks of the batch size (its train sampler is
// sequential); here they are built from the batch actually drawn, which is what its docstring
// asks for: "the mismatched outputs y' used to estimate the KL term for a batch should be the
// same set as the matched outputs y used to estimate the rewards in that batch, just paired
// with different x".
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "kto_loss.hpp"
#include "rlhf/data_source.hpp"
#include "rlhf/toolkit/batch.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "rlhf/toolkit/logprobs.hpp"

namespace rlhf {
class Tokenizer;
struct TrainingConfig;
}  // namespace rlhf

namespace rlhf::kto {

// One unpaired example, tokenised and truncated (tokenize_completion).
struct KtoRow {
  PromptCompletionIds ids;
  bool desirable = true;
};

// The KTO rows of one example:
// - with `label` (prompt + completion + label): one row, desirable = *label;
// - a preference pair (chosen + rejected, no label): a desirable row (prompt, chosen) then an
//   undesirable row (prompt, rejected) — TRL's unpair_preference_dataset;
// - anything else throws rlhf::Error naming `example.source` ("prefs.jsonl:7").
std::vector<KtoRow> tokenize_kto_rows(const Example& example, const Tokenizer& tokenizer,
                                      const ChatTemplate& chat_template,
                                      const TrainingConfig& config);
// Every example of `split`, in order, flattened (a pair contributes two consecutive rows).
std::vector<KtoRow> tokenize_kto_rows(const DataSource& data, Split split,
                                      const Tokenizer& tokenizer, const ChatTemplate& chat_template,
                                      const TrainingConfig& config);

// The rows of `indices` as one padded batch of 2·N rows: rows 0..N-1 are the rows themselves,
// rows N..2N-1 the mismatched rows (prompt of indices[k], completion of indices[k−1 mod N]),
// truncated again like the rows (max_length, max_prompt_length, truncation_mode: a completion
// cut for a shorter prompt may be cut further). With N = 1 the mismatched row is the row itself
// (hence TRL's batch size > 1 rule).
struct KtoBatch {
  Batch batch;
  std::int64_t rows = 0;    // N
  std::int64_t tokens = 0;  // real (non-padding) tokens of all 2·N rows
  at::Tensor desirable;     // [N] kBool, the rows' labels
};
KtoBatch collate_kto(const std::vector<KtoRow>& rows, const std::vector<std::size_t>& indices,
                     std::int64_t pad_id, const TrainingConfig& config);

// TRL's KL pairing, fixed per dataset: TRL builds its KL dataset once, before shuffling, by
// shifting completions by one row inside each block of `block` rows (dataset.map(batched=True,
// batch_size=per_device_train_batch_size)): row i takes the completion of row i−1 of its block,
// the block's first row that of its last. Returns the partner row of every row of n.
std::vector<std::size_t> kl_partners(std::size_t n, std::size_t block);

// As above, but the mismatched row of indices[k] takes the completion of row
// partners[indices[k]] (kl_partners): the pairing then does not depend on the batch, so the
// reference log-probs of the KL rows can be precomputed per row.
KtoBatch collate_kto(const std::vector<KtoRow>& rows, const std::vector<std::size_t>& indices,
                     const std::vector<std::size_t>& partners, std::int64_t pad_id,
                     const TrainingConfig& config);

// Splits per-row log-probs of a 2·N KtoBatch into its matched and mismatched sums (each [N]).
KtoLogps split_kto_logps(const SequenceLogps& rows, std::int64_t n);

}  // namespace rlhf::kto
