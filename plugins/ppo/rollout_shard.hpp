// PPO on N ranks (rlhf-host --nproc N; docs/algorithms.md, "PPO", "On N ranks"): a batch of
// prompts — a rollout batch, or the eval split — is cut into the chunks one rank generates it in
// (local_rollout_forward_batch_size rows, or per_device_eval_batch_size), each sampled with its
// own seed; rank r takes chunks r, r + N, r + 2N, … and what the chunks made is gathered, so every
// rank holds the whole batch exactly as one rank would have made it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rlhf::ppo {

// This rank's chunks of a batch of `rows` rows cut into chunks of `chunk`: every chunk on one
// rank.
std::vector<std::int64_t> rank_chunks(std::int64_t rows, std::int64_t chunk);

// Completions of some rows of a batch and their scores.
struct ScoredRows {
  std::vector<std::size_t> rows;               // index of each row in the batch
  std::vector<std::vector<std::int64_t>> ids;  // new tokens, the stop token included
  std::vector<bool> has_eos;                   // ended with a stop token
  std::vector<double> scores;                  // the reward model's (float32 values)
  std::int64_t new_tokens = 0;
  double seconds = 0;  // spent generating
};

// Every rank's rows (a collective), in batch order 0 … batch_rows − 1; new_tokens summed over
// the ranks, seconds the longest rank's. One rank: its own rows, sorted.
ScoredRows gather_rows(const ScoredRows& mine, std::size_t batch_rows, const std::string& what);

}  // namespace rlhf::ppo
