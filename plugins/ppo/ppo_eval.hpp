// PPO's evaluation: completions of a prompt set (eval_temperature; 0 = greedy), scored by the
// stage's reward model, written to <stage>/eval_completions.jsonl and summarised as metrics.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rlhf/toolkit/generation.hpp"
#include "rollout.hpp"

namespace rlhf {
struct Stage;
struct StageContext;
}  // namespace rlhf

namespace rlhf::ppo {

// One line per prompt {index, source, prompt, completion, score, completion_tokens}, written
// whole (temp name, then rename); metrics eval_objective/scores (mean),
// eval_objective/scores_std, eval_completion_tokens (mean), eval_num_eos_tokens (fraction) logged
// at `step`. Returns false (writing nothing) when Ctrl-C interrupted the pass.
bool evaluate_prompts(StageContext& ctx, Stage& stage, const std::vector<PromptRow>& rows,
                      const std::vector<std::string>& sources, const PpoOptions& options,
                      const GenerationConfig& generation, std::int64_t step);

}  // namespace rlhf::ppo
