// Double quantization of NF4 block scales (bitsandbytes `compress_statistics`,
// transformers `bnb_4bit_use_double_quant`; docs/formats.md, "Double quantization").
//
//   offset = mean(absmax)
//   codes, nested_absmax = 8-bit blockwise quantization of (absmax - offset), block 256, with
//                          bitsandbytes' signed dynamic map
//   absmax ≈ nested_quant_map[codes[i]] * nested_absmax[i / 256] + offset
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace rlhf::nf4 {

constexpr std::int64_t kNestedBlocksize = 256;

// bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): 256 sorted
// float32 values in [-1, 1], built with float32 torch::linspace as bitsandbytes does.
torch::Tensor signed_dynamic_map();

// Index into the sorted 256-entry `map` for a normalised value, with bitsandbytes' binary
// search and float32 midpoint rounding (its dQuantize), so codes match bit for bit.
std::uint8_t dynamic_map_index(const float* map, float x);

struct Blockwise8bit {
  torch::Tensor codes;   // uint8 [n]
  torch::Tensor absmax;  // float32 [ceil(n / blocksize)]
};

// 8-bit blockwise quantization of a float32 vector against `map` (CPU).
Blockwise8bit quantize_blockwise_8bit(const torch::Tensor& x, const torch::Tensor& map,
                                      std::int64_t blocksize);
// map[codes[i]] * absmax[i / blocksize] as float32 (any device).
torch::Tensor dequantize_blockwise_8bit(const torch::Tensor& codes, const torch::Tensor& absmax,
                                        const torch::Tensor& map, std::int64_t blocksize);

struct DoubleQuantState {
  torch::Tensor codes;             // uint8 [blocks]: the stored "absmax"
  torch::Tensor nested_absmax;     // float32 [ceil(blocks / 256)]
  torch::Tensor nested_quant_map;  // float32 [256]
  float offset = 0.0f;             // nested_offset
};

DoubleQuantState double_quantize(const torch::Tensor& absmax);
// Reconstructs the float32 NF4 absmax [blocks].
torch::Tensor double_dequantize(const DoubleQuantState& state);

}  // namespace rlhf::nf4
