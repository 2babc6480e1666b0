#include "simpo_algorithm.hpp"

#include "rlhf/config.hpp"
#include "simpo_loss.hpp"

namespace rlhf::simpo {

SimpoAlgorithm::SimpoAlgorithm(const Config& config) {
  spec_.training = TrainingConfig::read(config, preference_training_defaults());  // TRL CPOConfig
  spec_.reference.reference_free = true;
  const double beta = config.get<double>("beta", 0.1);
  const double gamma = config.get<double>("simpo_gamma", 0.5);
  const double label_smoothing = config.get<double>("label_smoothing", 0.0);
  const double cpo_alpha = config.get<double>("cpo_alpha", 0.0);
  if (!(beta > 0)) config.fail("beta", "must be > 0");
  if (!(gamma >= 0)) config.fail("simpo_gamma", "must be >= 0");
  if (label_smoothing < 0 || label_smoothing >= 0.5)
    config.fail("label_smoothing", "must be in [0, 0.5)");
  if (!(cpo_alpha >= 0)) config.fail("cpo_alpha", "must be >= 0");

  spec_.loss = [=](const PairLogps& policy, const PairLogps&) {
    SimpoLossOutput out =
        simpo_loss(policy.chosen, policy.rejected, beta, gamma, label_smoothing, cpo_alpha);
    PairLoss loss;
    loss.loss = out.loss;
    loss.metrics = pair_reward_metrics(out.chosen_rewards, out.rejected_rewards, policy.chosen.mean,
                                       policy.rejected.mean, policy);
    loss.metrics.emplace_back("nll_loss", batch_mean(out.nll_loss));
    loss.predictions = {{"chosen_reward", out.chosen_rewards},
                        {"rejected_reward", out.rejected_rewards}};
    return loss;
  };
}

}  // namespace rlhf::simpo
