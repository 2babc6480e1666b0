// Completions of PPO's prompts, for rollouts and evaluation: the SDK's one generation function
// (rlhf/toolkit/generation.hpp) in chunks, with the decoded texts the reward model scores.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rlhf/toolkit/generation.hpp"
#include "rollout.hpp"

namespace rlhf {
class Tokenizer;
}

namespace rlhf::ppo {

struct Completions {
  std::vector<std::vector<std::int64_t>> ids;  // per prompt: new tokens, the stop token included
  std::vector<std::string> texts;              // decoded without the stop token
  std::vector<bool> has_eos;                   // ended with a stop token
  std::int64_t new_tokens = 0;
  double seconds = 0;  // spent in generate()
};

// Generates for `rows` in chunks of `chunk` prompts; chunk c (0-based) samples with seed
// config.seed + c, so a result depends on the seed and the chunking only.
Completions generate_completions(CausalLM& model, const Tokenizer& tokenizer,
                                 const std::vector<const PromptRow*>& rows,
                                 const GenerationConfig& config, std::int64_t chunk);

}  // namespace rlhf::ppo
