// Text generation with a KV cache — the one generation function of the SDK (PPO rollouts,
// samples in logs, evaluation).
//
// Prompts are left-padded into one batch (positions count real tokens only, so padding does
// not change a row's result); the prompt runs through the model once, then one token per step
// is decoded against the cache. Each row stops at its first EOS (later slots hold pad_token_id
// and mask 0), the batch stops when every row has or after max_new_tokens.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/types.h>

namespace rlhf {

class CausalLM;
class ChatTemplate;
class Tokenizer;

struct GenerationConfig {
  std::int64_t max_new_tokens = 64;
  bool do_sample = false;    // false: greedy (argmax); true: sample from the filtered softmax
  double temperature = 1.0;  // logits / temperature before top-k / top-p (sampling only)
  std::int64_t top_k = 0;    // keep the k most likely tokens (0 = off)
  double top_p = 1.0;  // nucleus: smallest set with cumulative probability ≥ top_p (1 = off)
  std::vector<std::int64_t> eos_token_ids;  // stop tokens (empty: never stop early)
  std::int64_t pad_token_id = 0;            // left padding of prompts, filler after EOS
  std::uint64_t seed = 0;                   // sampling is deterministic for a given seed
  bool output_logits = false;  // keep each step's raw logits (before temperature/filters)
};

struct GenerationOutput {
  torch::Tensor sequences;        // [B, P + N] int64: left-padded prompts, then new tokens
  torch::Tensor attention_mask;   // [B, P + N] int64: 1 on real prompt tokens and on new tokens
                                  //   up to and including EOS
  torch::Tensor completion_ids;   // [B, N] int64 (N ≤ max_new_tokens), pad after EOS
  torch::Tensor completion_mask;  // [B, N] int64, 1 up to and including the first EOS
  torch::Tensor logits;           // [B, N, V] float32 when output_logits, else undefined
  std::vector<std::vector<std::int64_t>> completions;  // per row, new tokens incl. EOS, no pad
  std::int64_t prompt_length = 0;                      // P
};

// Runs under no-grad. `prompts`: token ids per row (non-empty, unpadded). The model's mode is
// left as it was.
GenerationOutput generate(CausalLM& model, const std::vector<std::vector<std::int64_t>>& prompts,
                          const GenerationConfig& config);

// Where generation stops for the model in `model_dir`: generation_config.json's eos_token_id
// (else config.json's), the tokenizer's EOS, and the template's end-of-turn token ("<|im_end|>"
// for chatml). Throws rlhf::Error naming generation_config.json when it is not a JSON object.
std::vector<std::int64_t> stop_token_ids(const std::filesystem::path& model_dir,
                                         const CausalLM& model, const Tokenizer& tokenizer,
                                         const ChatTemplate& chat_template);

// The text of one generated completion (GenerationOutput::completions[i]): the ids without their
// final stop token, decoded with special tokens skipped.
std::string completion_text(const Tokenizer& tokenizer, std::vector<std::int64_t> ids,
                            const std::vector<std::int64_t>& stop_ids);

}  // namespace rlhf
