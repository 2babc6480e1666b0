// The keys of a `ppo` stage (TRL's PPOConfig names and defaults; docs/algorithms.md, "PPO").
#pragma once

#include <cstdint>
#include <optional>

#include "ppo_math.hpp"
#include "rlhf/reference_policy.hpp"
#include "rlhf/training_config.hpp"

namespace rlhf {
class Config;
}

namespace rlhf::ppo {

struct PpoOptions {
  TrainingConfig training;  // + every TrainingConfig key except max_steps (see total_episodes)
  ReferenceOptions reference;
  std::int64_t num_ppo_epochs = 4;    // passes over each rollout batch
  std::int64_t num_mini_batches = 1;  // optimizer steps per pass
  double kl_coef = 0.05;
  KlEstimator kl_estimator = KlEstimator::k1;  // kl_estimator = "k1" | "k3"
  double cliprange = 0.2;
  double cliprange_value = 0.2;
  double vf_coef = 0.1;
  double gamma = 1.0;
  double lam = 0.95;
  double temperature = 0.7;
  std::int64_t response_length = 53;
  std::optional<double> missing_eos_penalty;  // subtracted from the score of a completion
                                              // without a stop token
  bool whiten_rewards = false;
  // Prompts seen over the run (TRL): num_train_epochs × prompts when unset.
  std::int64_t total_episodes = -1;
  // How many times a run writes a few rollout completions with their scores to samples.jsonl.
  std::int64_t num_sample_generations = 10;
  // Rows generated (and scored, and run through the policy and reference) at once.
  std::int64_t local_rollout_forward_batch_size = 64;
  // Sampling temperature of evaluation (eval_only, and the eval split after training); 0 = greedy.
  double eval_temperature = 0.7;

  // Rows per rollout batch: per_device_train_batch_size × gradient_accumulation_steps ×
  // num_mini_batches (TRL's local_batch_size).
  std::int64_t rollout_batch_size() const;
  // Reads and validates every key; a bad value throws rlhf::ConfigError located at its key.
  static PpoOptions read(const Config& config);
};

}  // namespace rlhf::ppo
