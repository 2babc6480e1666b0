// The "nf4" quantizer plugin: bitsandbytes-compatible 4-bit NormalFloat base weights.
//
// Config ([quantizer] table):
//   blocksize    = 64      # elements per absmax block; powers of two from 32 to 4096
//   double_quant = false   # quantize the block scales to 8 bits too (bnb_4bit_use_double_quant);
//                          # false by default, as transformers' BitsAndBytesConfig
// A pre-quantized checkpoint loads with the layout its tensors record; a blocksize or
// double_quant given explicitly must agree with it (contradiction(), load_prequantized()).
#pragma once

#include "rlhf/config.hpp"
#include "rlhf/quantizer.hpp"

namespace rlhf::nf4 {

class NF4Quantizer : public Quantizer {
 public:
  explicit NF4Quantizer(const Config& config);

  std::shared_ptr<LinearWeight> quantize(const torch::Tensor& w, const std::string& name,
                                         torch::ScalarType compute_dtype) override;
  // Loads transformers' 4-bit keys for module `name` as they are (no requantization). Returns
  // nullptr when the checkpoint holds a dense weight for `name`; throws when it holds 4-bit
  // tensors but lacks one (naming the missing tensor) or they are inconsistent.
  std::shared_ptr<LinearWeight> load_prequantized(const TensorSource& source,
                                                  const std::string& name,
                                                  torch::ScalarType compute_dtype) override;
  std::string quantization_config_json() const override;
  // An explicit double_quant that differs from bnb_4bit_use_double_quant.
  std::string contradiction(const std::string& quantization_config_json) const override;

  std::int64_t blocksize() const { return blocksize_; }
  bool double_quant() const { return double_quant_; }

 private:
  std::int64_t blocksize_;
  bool double_quant_;
  // Whether the table set them: only explicit settings contradict a pre-quantized checkpoint.
  bool blocksize_given_, double_quant_given_;
  torch::ScalarType compute_dtype_ = torch::kFloat32;  // last seen, for quantization_config
};

}  // namespace rlhf::nf4
