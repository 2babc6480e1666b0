// The "ppo" algorithm: PPO as TRL's PPOTrainer runs it ("The N+ implementation details of RLHF
// with PPO", Huang et al. 2024; docs/algorithms.md, "PPO"), on the SDK's stage helpers
// (rlhf/stage.hpp), reference policy (rlhf/reference_policy.hpp), generation
// (rlhf/toolkit/generation.hpp) and the one training loop (rlhf/trainer.hpp):
//
//   for each rollout batch of R = per_device_train_batch_size × gradient_accumulation_steps ×
//   num_mini_batches × ranks prompts (the Trainer's begin_epoch hook, every num_ppo_epochs
//   epochs; on N ranks each generates and scores its chunks and every rank gathers the whole
//   batch, rollout_shard.hpp):
//     generate completions (temperature, response_length, stop at EOS / end of turn);
//     score them with the stage's reward_model (minus missing_eos_penalty without a stop token);
//     per-token log-probs, reference log-probs and values; KL-penalised rewards; GAE; whiten;
//   one Trainer epoch = one PPO epoch: num_mini_batches optimizer steps over the shuffled batch,
//   each of gradient_accumulation_steps micro-batches; loss = L_pg + vf_coef·L_v (rollout.hpp).
//
//   [[stage]]
//   algorithm = "ppo"
//   reward_model = { plugin = "classifier", path = "…" }    # or "rule", or your own plugin
//   data = { plugin = "jsonl", path = "prompts.jsonl" }    # rows with a "prompt" (+ fields)
//   # keys, TRL's names and defaults: num_ppo_epochs = 4, num_mini_batches = 1, kl_coef = 0.05,
//   # kl_estimator = "k1" | "k3", cliprange = 0.2, cliprange_value = 0.2, vf_coef = 0.1,
//   # gamma = 1.0, lam = 0.95, temperature = 0.7, response_length = 53, missing_eos_penalty,
//   # whiten_rewards = false, total_episodes (default num_train_epochs × prompts),
//   # num_sample_generations = 10, local_rollout_forward_batch_size = 64,
//   # eval_temperature (default temperature; 0 = greedy); ref_model / ref_adapter as for dpo;
//   # + every TrainingConfig key except max_steps.
//
// The critic is a scalar head on the policy's own trunk (ValueHead, zero-initialised; its loss
// trains the trunk's trainable weights too), not a separate model initialised from the reward
// model as TRL's: one forward serves policy and critic. The reference is the policy with its
// adapter disabled, a frozen ref_adapter, ref_model, or — full fine-tuning without ref_model — a
// frozen copy of the policy as the stage starts (TRL's ref_policy).
//
// Files in the stage folder: samples.jsonl (num_sample_generations times: a few rollout prompts
// with completions and scores), eval_completions.jsonl (eval_only, or the eval split after
// training: index, source, prompt, completion, score, completion_tokens); on N ranks rank 0
// alone writes them.
#pragma once

#include "ppo_options.hpp"
#include "rlhf/algorithm.hpp"

namespace rlhf::ppo {

class PpoAlgorithm : public Algorithm {
 public:
  explicit PpoAlgorithm(const Config& config);
  void run(StageContext& ctx) override;
  // The stage helpers check instead of running under --check (ctx.check_only).
  void check(StageContext& ctx) override { run(ctx); }

 private:
  PpoOptions options_;
};

}  // namespace rlhf::ppo
