#include "orpo_algorithm.hpp"

#include "orpo_loss.hpp"
#include "rlhf/config.hpp"

namespace rlhf::orpo {

OrpoAlgorithm::OrpoAlgorithm(const Config& config) {
  spec_.training = TrainingConfig::read(config, preference_training_defaults());  // TRL ORPOConfig
  spec_.reference.reference_free = true;  // ORPO needs no reference model
  const double beta = config.get<double>("beta", 0.1);
  if (!(beta > 0)) config.fail("beta", "must be > 0");

  spec_.loss = [beta](const PairLogps& policy, const PairLogps&) {
    OrpoLossOutput out = orpo_loss(policy.chosen, policy.rejected, beta);
    PairLoss loss;
    loss.loss = out.loss;
    loss.metrics = pair_reward_metrics(out.chosen_rewards, out.rejected_rewards, policy.chosen.mean,
                                       policy.rejected.mean, policy);
    loss.metrics.insert(loss.metrics.end(), {{"nll_loss", batch_mean(out.nll_loss)},
                                             {"log_odds_ratio", batch_mean(out.ratio)},
                                             {"log_odds_chosen", batch_mean(out.log_odds_chosen)}});
    loss.predictions = {{"chosen_avg_logps", policy.chosen.mean},
                        {"rejected_avg_logps", policy.rejected.mean}};
    return loss;
  };
}

}  // namespace rlhf::orpo
