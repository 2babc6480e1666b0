#include "dpo_algorithm.hpp"

#include "dpo_loss.hpp"
#include "rlhf/config.hpp"
#include "rlhf/error.hpp"

namespace rlhf::dpo {

namespace {

ChosenRejectedLogps dpo_inputs(const PairLogps& p) {
  return {p.chosen.sum, p.rejected.sum, p.chosen.mean, p.rejected.mean};
}

}  // namespace

DpoAlgorithm::DpoAlgorithm(const Config& config) {
  spec_.training = TrainingConfig::read(config, preference_training_defaults());  // TRL DPOConfig
  spec_.reference = ReferenceOptions::read(config);
  const double beta = config.get<double>("beta", 0.1);
  LossType loss_type = LossType::sigmoid;
  try {
    loss_type = loss_type_from_string(config.get<std::string>("loss_type", "sigmoid"));
  } catch (const Error& e) {
    config.fail("loss_type", e.what());
  }
  const double label_smoothing = config.get<double>("label_smoothing", 0.0);
  const bool rpo = config.has("rpo_alpha");  // TRL: unset = off
  const double rpo_alpha = config.get<double>("rpo_alpha", 0.0);
  if (rpo && !(rpo_alpha >= 0)) config.fail("rpo_alpha", "must be >= 0");
  if (!(beta > 0)) config.fail("beta", "must be > 0");
  if (label_smoothing < 0 || label_smoothing >= 0.5)
    config.fail("label_smoothing", "must be in [0, 0.5)");
  if (label_smoothing > 0 && (loss_type == LossType::hinge || loss_type == LossType::ipo))
    config.fail("label_smoothing", std::string("has no effect with loss_type \"") +
                                       to_string(loss_type) + "\"; use sigmoid or robust");
  const bool reference_free = spec_.reference.reference_free;

  spec_.loss = [=](const PairLogps& policy, const PairLogps& reference) {
    DpoLossOutput out = dpo_loss(dpo_inputs(policy), dpo_inputs(reference), beta, loss_type,
                                 label_smoothing, reference_free);
    PairLoss loss;
    loss.loss = out.losses.mean();
    loss.metrics = pair_reward_metrics(out.chosen_rewards, out.rejected_rewards, policy.chosen.sum,
                                       policy.rejected.sum, policy);
    if (rpo) {  // RPO: + α·NLL of the chosen completions (dpo_loss.hpp)
      RpoLossOutput with_nll = rpo_loss(out, policy.chosen, rpo_alpha);
      loss.loss = with_nll.loss;
      loss.metrics.emplace_back("nll_loss", batch_mean(with_nll.nll_loss));
    }
    loss.predictions = {{"chosen_reward", out.chosen_rewards},
                        {"rejected_reward", out.rejected_rewards}};
    return loss;
  };
}

}  // namespace rlhf::dpo
