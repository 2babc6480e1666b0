// Int8Weight — per-row absmax 8-bit weights in bitsandbytes' LLM.int8 storage layout:
//   CB  int8 [out, in] = round(W * 127 / SCB[row])      (checkpoint key P.weight)
//   SCB float32 [out]  = max |W[row, :]|                 (checkpoint key P.SCB)
//   W ≈ CB * SCB[row] / 127
// forward() dequantizes into x's dtype inside a custom autograd function (no dense W kept for
// backward; gradient for x only). No outlier decomposition: this is weight-only int8.
#pragma once

#include "rlhf/linear.hpp"

namespace rlhf::int8 {

class Int8Weight : public LinearWeight {
 public:
  Int8Weight(torch::Tensor cb, torch::Tensor scb, const std::string& name);
  // Quantizes a dense [out, in] weight.
  static std::shared_ptr<Int8Weight> quantize(const torch::Tensor& w, const std::string& name);

  torch::Tensor forward(const torch::Tensor& x) const override;
  torch::Tensor dense(torch::ScalarType dtype = torch::kFloat32) const override;
  std::int64_t in_features() const override { return cb_.size(1); }
  std::int64_t out_features() const override { return cb_.size(0); }
  std::int64_t storage_bytes() const override { return cb_.numel() + scb_.numel() * 4; }
  std::vector<std::pair<std::string, torch::Tensor>> state_dict(
      const std::string& prefix) const override;
  std::string format() const override { return "int8"; }

 private:
  torch::Tensor cb_, scb_;
};

// CB * SCB / 127 in `dtype` (float32 product, then rounded).
torch::Tensor int8_dequantize(const torch::Tensor& cb, const torch::Tensor& scb,
                              torch::ScalarType dtype);

}  // namespace rlhf::int8
