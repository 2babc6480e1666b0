// Float32 master weights for a bfloat16/float16 model
// (sdk/include/rlhf/toolkit/master_weights.hpp).
#include "rlhf/toolkit/master_weights.hpp"

#include <torch/autograd.h>

namespace rlhf {

namespace {

bool narrow(const at::Tensor& t) {
  return t.is_floating_point() && t.scalar_type() != at::kFloat && t.scalar_type() != at::kDouble;
}

}  // namespace

MasterWeights::MasterWeights(const NamedTensors& trainable) : model_(trainable) {
  masters_.reserve(trainable.size());
  for (const auto& [name, t] : trainable) {
    if (!narrow(t)) {
      masters_.emplace_back(name, t);
      continue;
    }
    mixed_ = true;
    masters_.emplace_back(name, t.detach().to(at::kFloat).set_requires_grad(true));
  }
}

void MasterWeights::take_gradients() {
  if (!mixed_) return;
  for (std::size_t i = 0; i < model_.size(); ++i) {
    at::Tensor& p = model_[i].second;
    at::Tensor& m = masters_[i].second;
    if (!narrow(p) || !p.grad().defined()) continue;
    m.mutable_grad() = p.grad().to(at::kFloat);
    p.mutable_grad().reset();  // freed now: the float32 copy holds it
  }
}

void MasterWeights::write_back() {
  if (!mixed_) return;
  at::NoGradGuard no_grad;
  for (std::size_t i = 0; i < model_.size(); ++i) {
    at::Tensor& p = model_[i].second;
    at::Tensor& m = masters_[i].second;
    if (!narrow(p)) continue;
    p.copy_(m);
    m.mutable_grad().reset();  // only the step needs it; AdamW keeps its moments
  }
}

}  // namespace rlhf
