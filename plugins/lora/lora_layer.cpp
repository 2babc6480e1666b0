#include "lora_layer.hpp"

#include <torch/nn/init.h>

#include <cmath>

namespace rlhf::lora {

LoraLayer::LoraLayer(std::int64_t in_features, std::int64_t out_features, std::int64_t r,
                     double scaling, double dropout, const std::string& init, torch::Device device)
    : scaling_(scaling), dropout_(dropout) {
  const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  a_ = torch::empty({r, in_features}, options);
  b_ = torch::zeros({out_features, r}, options);
  {
    torch::NoGradGuard no_grad;
    if (init == "gaussian")
      a_.normal_(0.0, 1.0 / static_cast<double>(r));
    else
      torch::nn::init::kaiming_uniform_(a_, std::sqrt(5.0));
  }
  a_.requires_grad_(true);
  b_.requires_grad_(true);
}

torch::Tensor LoraLayer::forward(const torch::Tensor& x) {
  const auto dtype = x.scalar_type();
  const torch::Tensor h = training() && dropout_ > 0.0 ? torch::dropout(x, dropout_, true) : x;
  return torch::matmul(torch::matmul(h, a_.to(dtype).t()), b_.to(dtype).t()) * scaling_;
}

torch::Tensor LoraLayer::delta_weight() const {
  return torch::matmul(b_.detach(), a_.detach()) * scaling_;
}

}  // namespace rlhf::lora
