// One LoRA delta on a Linear: delta(x) = scaling * B(A(dropout(x))), A: [r, in], B: [out, r].
// A and B are float32 master tensors (requiring grad), cast to x's dtype in forward.
#pragma once

#include "rlhf/linear.hpp"

namespace rlhf::lora {

class LoraLayer : public AdapterLayer {
 public:
  // init: "default" (A Kaiming-uniform with a = sqrt(5), i.e. U(±1/sqrt(in)); B zeros) or
  // "gaussian" (A ~ N(0, (1/r)²); B zeros), drawn from torch's global generator.
  LoraLayer(std::int64_t in_features, std::int64_t out_features, std::int64_t r, double scaling,
            double dropout, const std::string& init, torch::Device device);

  torch::Tensor forward(const torch::Tensor& x) override;

  torch::Tensor& lora_A() { return a_; }  // [r, in]
  torch::Tensor& lora_B() { return b_; }  // [out, r]
  double scaling() const { return scaling_; }
  // scaling * B @ A as float32 [out, in] (what merge() folds into the base weight).
  torch::Tensor delta_weight() const;

 private:
  torch::Tensor a_, b_;
  double scaling_;
  double dropout_;
};

}  // namespace rlhf::lora
