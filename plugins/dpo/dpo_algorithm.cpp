#include "dpo_algorithm.hpp"

#include "dpo_loss.hpp"
#include "rlhf/config.hpp"
#include "rlhf/error.hpp"

namespace rlhf::dpo {

namespace {

double batch_mean(const at::Tensor& t) {
  return t.detach().to(torch::kDouble).mean().item<double>();
}

ChosenRejectedLogps dpo_inputs(const PairLogps& p) {
  return {p.chosen.sum, p.rejected.sum, p.chosen.mean, p.rejected.mean};
}

}  // namespace

DpoAlgorithm::DpoAlgorithm(const Config& config) {
  TrainingConfig defaults;  // TRL DPOConfig
  defaults.learning_rate = 1e-6;
  defaults.max_length = 1024;
  defaults.max_prompt_length = 512;
  spec_.training = TrainingConfig::read(config, defaults);
  spec_.reference = ReferenceOptions::read(config);
  const double beta = config.get<double>("beta", 0.1);
  LossType loss_type = LossType::sigmoid;
  try {
    loss_type = loss_type_from_string(config.get<std::string>("loss_type", "sigmoid"));
  } catch (const Error& e) {
    config.fail("loss_type", e.what());
  }
  const double label_smoothing = config.get<double>("label_smoothing", 0.0);
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
    const auto& r_w = out.chosen_rewards;
    const auto& r_l = out.rejected_rewards;
    PairLoss loss;
    loss.loss = out.losses.mean();
    loss.metrics = {{"rewards/chosen", batch_mean(r_w)},
                    {"rewards/rejected", batch_mean(r_l)},
                    {"rewards/accuracies", batch_mean((r_w > r_l).to(torch::kFloat))},
                    {"rewards/margins", batch_mean(r_w - r_l)},
                    {"logps/chosen", batch_mean(policy.chosen.sum)},
                    {"logps/rejected", batch_mean(policy.rejected.sum)},
                    {"logits/chosen", batch_mean(policy.chosen.logits_mean)},
                    {"logits/rejected", batch_mean(policy.rejected.logits_mean)}};
    loss.predictions = {{"chosen_reward", r_w}, {"rejected_reward", r_l}};
    return loss;
  };
}

}  // namespace rlhf::dpo
