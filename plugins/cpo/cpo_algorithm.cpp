#include "cpo_algorithm.hpp"

#include "cpo_loss.hpp"
#include "rlhf/config.hpp"

namespace rlhf::cpo {

CpoAlgorithm::CpoAlgorithm(const Config& config) {
  spec_.training = TrainingConfig::read(config, preference_training_defaults());  // TRL CPOConfig
  spec_.reference.reference_free = true;
  const double beta = config.get<double>("beta", 0.1);
  const double label_smoothing = config.get<double>("label_smoothing", 0.0);
  const double cpo_alpha = config.get<double>("cpo_alpha", 1.0);
  if (!(beta > 0)) config.fail("beta", "must be > 0");
  if (label_smoothing < 0 || label_smoothing >= 0.5)
    config.fail("label_smoothing", "must be in [0, 0.5)");
  if (!(cpo_alpha >= 0)) config.fail("cpo_alpha", "must be >= 0");

  spec_.loss = [=](const PairLogps& policy, const PairLogps&) {
    CpoLossOutput out = cpo_loss(policy.chosen, policy.rejected, beta, label_smoothing, cpo_alpha);
    PairLoss loss;
    loss.loss = out.loss;
    loss.metrics = pair_reward_metrics(out.chosen_rewards, out.rejected_rewards, policy.chosen.sum,
                                       policy.rejected.sum, policy);
    loss.metrics.emplace_back("nll_loss", batch_mean(out.nll_loss));
    loss.predictions = {{"chosen_reward", out.chosen_rewards},
                        {"rejected_reward", out.rejected_rewards}};
    return loss;
  };
}

}  // namespace rlhf::cpo
