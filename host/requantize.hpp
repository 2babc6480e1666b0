// A loaded model's projections stored anew: quantized by another quantizer, or dense (export,
// quantize, bench-quant of a pre-quantized checkpoint).
#pragma once

namespace rlhf {
class CausalLM;
class Quantizer;
}  // namespace rlhf

namespace rlhf::host {

// Replaces every projection's base weight (not lm_head) with `quantizer`'s quantization of its
// dense reconstruction in the model dtype, or, with a null quantizer, with that dense weight.
// Returns how many projections were stored quantized before (each was dequantized once).
int requantize_projections(rlhf::CausalLM& model, rlhf::Quantizer* quantizer);

}  // namespace rlhf::host
