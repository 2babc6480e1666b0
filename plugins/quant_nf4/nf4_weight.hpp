// NF4Weight — a LinearWeight stored as bitsandbytes NF4 (optionally with double-quantized
// block scales). forward() computes x @ Wᵀ by dequantizing into x's dtype inside a custom
// autograd function that keeps no dense W for backward (it dequantizes again there) and
// returns a gradient for x only: the 4-bit base is frozen, as in QLoRA.
#pragma once

#include <optional>

#include "double_quant.hpp"
#include "nf4_kernels.hpp"
#include "rlhf/linear.hpp"

namespace rlhf::nf4 {

// Everything an NF4 weight consists of (tensor shapes as in
// docs/formats.md, "4-bit checkpoint keys").
struct NF4Storage {
  std::int64_t out_features = 0;
  std::int64_t in_features = 0;
  std::int64_t blocksize = 64;
  torch::ScalarType dtype = torch::kFloat32;  // the quant state's "dtype" (dense() default)
  torch::Tensor packed;                       // uint8 [ceil(n/2), 1]
  torch::Tensor absmax;     // float32 [blocks]; with double quant: uint8 codes [blocks]
  torch::Tensor quant_map;  // float32 [16]
  std::optional<DoubleQuantState> nested;  // double quant: nested_absmax, map, offset
};

class NF4Weight : public LinearWeight {
 public:
  // Validates shapes and dtypes; errors name `name` (the module path).
  NF4Weight(NF4Storage storage, const std::string& name);

  torch::Tensor forward(const torch::Tensor& x) const override;
  torch::Tensor dense(torch::ScalarType dtype = torch::kFloat32) const override;
  std::int64_t in_features() const override { return in_; }
  std::int64_t out_features() const override { return out_; }
  std::int64_t storage_bytes() const override;
  // The transformers/bitsandbytes 4-bit keys: P.weight, P.weight.absmax, P.weight.quant_map,
  // [P.weight.nested_absmax, P.weight.nested_quant_map,] P.weight.quant_state.bitsandbytes__nf4.
  std::vector<std::pair<std::string, torch::Tensor>> state_dict(
      const std::string& prefix) const override;
  std::string format() const override { return "nf4"; }

  std::int64_t blocksize() const { return blocksize_; }
  bool double_quant() const { return nested_offset_.has_value(); }
  // The float32 block scales [blocks] (reconstructed from the codes with double quant).
  torch::Tensor absmax_float() const;
  // The JSON stored in the quant_state tensor.
  std::string quant_state_json() const;

 private:
  std::int64_t out_, in_, blocksize_;
  torch::ScalarType dtype_;
  torch::Tensor packed_, absmax_, quant_map_, nested_absmax_, nested_quant_map_;
  std::optional<float> nested_offset_;
};

}  // namespace rlhf::nf4
