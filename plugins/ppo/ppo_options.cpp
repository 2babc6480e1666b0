#include "ppo_options.hpp"

#include <cmath>

#include "rlhf/config.hpp"

namespace rlhf::ppo {

std::int64_t PpoOptions::rollout_batch_size() const {
  return training.per_device_train_batch_size * training.gradient_accumulation_steps *
         num_mini_batches;
}

PpoOptions PpoOptions::read(const Config& config) {
  PpoOptions o;
  o.training = TrainingConfig::read(config);
  if (config.has("max_steps") && o.training.max_steps > 0)
    config.fail("max_steps",
                "a ppo stage's length is total_episodes (prompts generated for); each rollout "
                "batch then takes num_ppo_epochs × num_mini_batches optimizer steps");
  o.reference = ReferenceOptions::read(config);
  if (o.reference.reference_free)
    config.fail("reference_free", "PPO's KL penalty needs a reference policy");
  if (o.reference.precompute)
    config.fail("precompute_ref_log_probs",
                "PPO scores new completions every rollout: reference log-probs cannot be "
                "precomputed");
  o.num_ppo_epochs = config.get<std::int64_t>("num_ppo_epochs", o.num_ppo_epochs);
  o.num_mini_batches = config.get<std::int64_t>("num_mini_batches", o.num_mini_batches);
  o.kl_coef = config.get<double>("kl_coef", o.kl_coef);
  const auto estimator = config.get<std::string>("kl_estimator", "k1");
  if (estimator == "k1")
    o.kl_estimator = KlEstimator::k1;
  else if (estimator == "k3")
    o.kl_estimator = KlEstimator::k3;
  else
    config.fail("kl_estimator", "'" + estimator + "' is not one of \"k1\", \"k3\"");
  o.cliprange = config.get<double>("cliprange", o.cliprange);
  o.cliprange_value = config.get<double>("cliprange_value", o.cliprange_value);
  o.vf_coef = config.get<double>("vf_coef", o.vf_coef);
  o.gamma = config.get<double>("gamma", o.gamma);
  o.lam = config.get<double>("lam", o.lam);
  o.temperature = config.get<double>("temperature", o.temperature);
  o.response_length = config.get<std::int64_t>("response_length", o.response_length);
  o.missing_eos_penalty = config.get_optional<double>("missing_eos_penalty");
  o.whiten_rewards = config.get<bool>("whiten_rewards", o.whiten_rewards);
  o.total_episodes = config.get<std::int64_t>("total_episodes", o.total_episodes);
  o.num_sample_generations =
      config.get<std::int64_t>("num_sample_generations", o.num_sample_generations);
  o.local_rollout_forward_batch_size = config.get<std::int64_t>("local_rollout_forward_batch_size",
                                                                o.local_rollout_forward_batch_size);
  o.eval_temperature = config.get<double>("eval_temperature", o.temperature);

  constexpr std::int64_t kMax = (std::int64_t{1} << 31) - 1;
  auto in_range = [&](const char* key, std::int64_t v, std::int64_t lo) {
    if (v < lo || v > kMax)
      config.fail(key, "must be between " + std::to_string(lo) + " and " + std::to_string(kMax));
  };
  in_range("num_ppo_epochs", o.num_ppo_epochs, 1);
  in_range("num_mini_batches", o.num_mini_batches, 1);
  in_range("response_length", o.response_length, 1);
  in_range("num_sample_generations", o.num_sample_generations, 0);
  in_range("local_rollout_forward_batch_size", o.local_rollout_forward_batch_size, 1);
  if (o.total_episodes != -1) in_range("total_episodes", o.total_episodes, 1);
  if (!(o.kl_coef >= 0)) config.fail("kl_coef", "must be ≥ 0");
  if (!(o.cliprange > 0)) config.fail("cliprange", "must be > 0");
  if (!(o.cliprange_value > 0)) config.fail("cliprange_value", "must be > 0");
  if (!(o.vf_coef >= 0)) config.fail("vf_coef", "must be ≥ 0");
  if (!(o.gamma >= 0 && o.gamma <= 1)) config.fail("gamma", "must be in [0, 1]");
  if (!(o.lam >= 0 && o.lam <= 1)) config.fail("lam", "must be in [0, 1]");
  if (!(o.temperature > 0)) config.fail("temperature", "must be > 0 (rollouts sample)");
  if (!(o.eval_temperature >= 0)) config.fail("eval_temperature", "must be ≥ 0 (0 = greedy)");
  if (o.rollout_batch_size() > kMax)
    config.fail("num_mini_batches",
                "per_device_train_batch_size × gradient_accumulation_steps × num_mini_batches "
                "is too large");
  return o;
}

}  // namespace rlhf::ppo
