// One PPO rollout batch and the update on it (docs/algorithms.md, "PPO"): generated sequences,
// their per-token log-probs, reference log-probs and values, the scores, and from those the
// advantages and returns; then the clipped losses of a micro-batch of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "ppo_options.hpp"
#include "rlhf/example.hpp"
#include "rlhf/trainer.hpp"

namespace rlhf {
class CausalLM;
class RewardModel;
}  // namespace rlhf

namespace rlhf::ppo {

// One prompt of the stage, tokenised with the chat template (generation prompt included).
struct PromptRow {
  std::vector<std::int64_t> ids;
  Example example;  // what the reward model scores a completion against
};

// Prompts and their completions as one batch: [R, P + N], the prompts left-padded to P, the
// completions right-padded to N.
struct Sequences {
  at::Tensor input_ids;            // [R, P + N] int64
  at::Tensor attention_mask;       // [R, P + N] int64
  at::Tensor labels;               // [R, N] the completion ids, kIgnoreIndex on padding
  at::Tensor mask;                 // [R, N] float32, 1 on real completion tokens
  std::int64_t prompt_length = 0;  // P
  // The rows `index` (int64 [k]) of this batch.
  Sequences rows(const at::Tensor& index) const;
};
Sequences pad_sequences(const std::vector<std::vector<std::int64_t>>& prompts,
                        const std::vector<std::vector<std::int64_t>>& completions,
                        std::int64_t pad_id);

// The critic: a scalar head (Linear hidden → 1 with bias, float32) on the policy's final hidden
// state, sharing the policy's trunk (docs/algorithms.md, "PPO": which critic rlhf-host uses).
struct ValueHead {
  at::Tensor weight;  // [1, H]
  at::Tensor bias;    // [1]
  static ValueHead zeros(std::int64_t hidden_size);
  at::Tensor values(const at::Tensor& hidden) const;  // [.., H] → [..] float32
};

// What one forward of the policy gives for the completion positions of `seq`.
struct PolicyTokens {
  at::Tensor logps;    // [R, N] log π(y_t) with logits / temperature (0 on padding)
  at::Tensor values;   // [R, N] V_t (undefined without a head; 0 on padding)
  at::Tensor entropy;  // [R, N] entropy of the temperature-scaled distribution (no grad)
};
// The logits at position P − 1 + t predict completion token t; values are read at the same
// positions (TRL). Differentiable when grad mode is on.
PolicyTokens policy_tokens(CausalLM& model, const ValueHead* head, const Sequences& seq,
                           double temperature);

struct Rollout {
  Sequences seq;
  std::vector<std::size_t> prompts;      // row → index of its prompt in the split
  std::vector<std::string> completions;  // decoded completion texts
  std::vector<bool> has_eos;
  at::Tensor scores;      // [R] after missing_eos_penalty
  at::Tensor logps;       // [R, N] old policy log-probs
  at::Tensor ref_logps;   // [R, N]
  at::Tensor values;      // [R, N] old values
  at::Tensor advantages;  // [R, N] whitened
  at::Tensor returns;     // [R, N]
  Metrics metrics;        // objective/*, val/num_eos_tokens of this rollout batch
};

// From logps, ref_logps, values, scores and seq.mask: the per-token KL, rewards, GAE advantages
// (whitened) and returns, and the rollout's metrics (TRL's objective/* names).
void compute_advantages(Rollout& rollout, const PpoOptions& options);

// The PPO loss of rollout rows `indices` under the current policy:
// L_pg + vf_coef·L_v, with policy/*, loss/*, val/* metrics (TRL's names).
StepOutput ppo_step(CausalLM& model, const ValueHead& head, const Rollout& rollout,
                    const std::vector<std::size_t>& indices, const PpoOptions& options);

// ctx.reward_model's scores of `completions` (one per example), checked: one finite float per
// completion, else rlhf::Error naming the stage and the first bad completion's prompt source.
at::Tensor checked_scores(RewardModel& reward_model, const std::string& stage_name,
                          const std::vector<Example>& prompts,
                          const std::vector<std::string>& completions);

}  // namespace rlhf::ppo
