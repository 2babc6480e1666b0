#include "rlhf/toolkit/optimizer.hpp"

#include <cmath>

#include "rlhf/error.hpp"
#include "rlhf/training_config.hpp"

namespace rlhf {

std::unique_ptr<torch::optim::AdamW> make_adamw(const NamedTensors& params,
                                                const TrainingConfig& config) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& [name, p] : params) {
    if (!p.requires_grad())
      throw Error("optimizer: parameter '" + name + "' does not require grad");
    (p.dim() >= 2 ? decay : no_decay).push_back(p);
  }
  if (decay.empty() && no_decay.empty()) throw Error("optimizer: no trainable parameters");
  auto options = torch::optim::AdamWOptions(config.learning_rate)
                     .betas({config.adam_beta1, config.adam_beta2})
                     .eps(config.adam_epsilon)
                     .weight_decay(config.weight_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (!decay.empty())
    groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(options));
  if (!no_decay.empty()) {
    auto no_decay_options = std::make_unique<torch::optim::AdamWOptions>(options);
    no_decay_options->weight_decay(0.0);
    groups.emplace_back(no_decay, std::move(no_decay_options));
  }
  return std::make_unique<torch::optim::AdamW>(std::move(groups), options);
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

double clip_grad_norm(const NamedTensors& params, double max_norm) {
  torch::NoGradGuard no_grad;
  // The norm is accumulated in float64 so it does not depend on parameter order rounding.
  double total_sq = 0.0;
  std::vector<torch::Tensor> grads;
  for (const auto& [name, p] : params) {
    if (!p.grad().defined()) continue;
    grads.push_back(p.grad());
    total_sq += p.grad().to(torch::kDouble).pow(2).sum().item<double>();
  }
  double total = std::sqrt(total_sq);
  if (max_norm > 0 && total > max_norm) {
    double scale = max_norm / (total + 1e-6);  // torch's clip_coef
    for (auto& g : grads) g.mul_(scale);
  }
  return total;
}

}  // namespace rlhf
