#include "requantize.hpp"

#include "rlhf/error.hpp"
#include "rlhf/linear.hpp"
#include "rlhf/quantizer.hpp"
#include "rlhf/toolkit/causal_lm.hpp"

namespace rlhf::host {

int requantize_projections(CausalLM& model, Quantizer* quantizer) {
  torch::NoGradGuard no_grad;
  int dequantized = 0;
  for (const auto& [path, linear] : model.named_linears()) {
    const auto& weight = linear->weight();
    const bool quantized = weight->format() != "dense";
    if (!quantized && !quantizer) continue;
    const torch::Tensor dense = weight->dense(model.dtype());
    dequantized += quantized ? 1 : 0;
    if (quantizer) {
      auto q = quantizer->quantize(dense, path, model.dtype());
      if (!q) throw Error(path + ": the quantizer returned no weight");
      linear->set_weight(std::move(q));
    } else {
      linear->set_weight(std::make_shared<DenseWeight>(dense));
    }
  }
  return dequantized;
}

}  // namespace rlhf::host
