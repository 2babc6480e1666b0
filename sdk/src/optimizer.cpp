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
  // Each gradient's sum of squares in its own dtype (LibTorch's float sum is a cascade sum:
  // 5e-9 relative to a float64 sum on the 100M bench model, where torch's fp32 vector norm is
  // off by 4e-4), then their total in float64, read once. Converting each gradient to float64
  // and reading each sum with .item() cost 6x as much (bench/README.md, "Gradient clipping").
  std::vector<torch::Tensor> grads, sums;
  for (const auto& [name, p] : params) {
    if (!p.grad().defined()) continue;
    grads.push_back(p.grad());
    sums.push_back(p.grad().square().sum().to(torch::kDouble));
  }
  if (grads.empty()) return 0.0;
  const double total = std::sqrt(torch::stack(sums).sum().item<double>());
  if (max_norm > 0 && total > max_norm) {
    const double scale = max_norm / (total + 1e-6);  // torch's clip_coef
    for (auto& g : grads) g.mul_(scale);
  }
  return total;
}

}  // namespace rlhf
