#include "orpo_algorithm.hpp"

#include "orpo_loss.hpp"
#include "rlhf/config.hpp"

namespace rlhf::orpo {

namespace {
double batch_mean(const at::Tensor& t) {
  return t.detach().to(torch::kDouble).mean().item<double>();
}
}  // namespace

OrpoAlgorithm::OrpoAlgorithm(const Config& config) {
  TrainingConfig defaults;  // TRL ORPOConfig
  defaults.learning_rate = 1e-6;
  defaults.max_length = 1024;
  defaults.max_prompt_length = 512;
  spec_.training = TrainingConfig::read(config, defaults);
  spec_.reference.reference_free = true;  // ORPO needs no reference model
  const double beta = config.get<double>("beta", 0.1);
  if (!(beta > 0)) config.fail("beta", "must be > 0");

  spec_.loss = [beta](const PairLogps& policy, const PairLogps&) {
    OrpoLossOutput out = orpo_loss(policy.chosen, policy.rejected, beta);
    const auto& r_w = out.chosen_rewards;
    const auto& r_l = out.rejected_rewards;
    PairLoss loss;
    loss.loss = out.loss;
    loss.metrics = {{"rewards/chosen", batch_mean(r_w)},
                    {"rewards/rejected", batch_mean(r_l)},
                    {"rewards/accuracies", batch_mean((r_w > r_l).to(torch::kFloat))},
                    {"rewards/margins", batch_mean(r_w - r_l)},
                    {"logps/chosen", batch_mean(policy.chosen.mean)},
                    {"logps/rejected", batch_mean(policy.rejected.mean)},
                    {"logits/chosen", batch_mean(policy.chosen.logits_mean)},
                    {"logits/rejected", batch_mean(policy.rejected.logits_mean)},
                    {"nll_loss", batch_mean(out.nll_loss)},
                    {"log_odds_ratio", batch_mean(out.ratio)},
                    {"log_odds_chosen", batch_mean(out.log_odds_chosen)}};
    loss.predictions = {{"chosen_avg_logps", policy.chosen.mean},
                        {"rejected_avg_logps", policy.rejected.mean}};
    return loss;
  };
}

}  // namespace rlhf::orpo
