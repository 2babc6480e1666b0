// Blockwise NF4 quantization and dequantization, bit-compatible with bitsandbytes
// (docs/formats.md, "NF4").
//
// n = numel of the weight, flattened row-major; blocks = ceil(n / blocksize).
//   packed: uint8 [ceil(n/2), 1], byte k = idx[2k] << 4 | idx[2k+1] (first element high nibble;
//           an odd n pads the last low nibble with the index of 0.0, i.e. 7)
//   absmax: float32 [blocks], max |w| of each block (the last block may be partial)
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace rlhf::nf4 {

// Block sizes bitsandbytes accepts for 4-bit: powers of two from 32 to 4096.
bool is_supported_blocksize(std::int64_t blocksize);

struct NF4Blocks {
  torch::Tensor packed;  // uint8 [ceil(n/2), 1]
  torch::Tensor absmax;  // float32 [blocks]
};

// Quantizes any floating-point tensor (computed in float32 on the CPU; results are moved back
// to w's device).
NF4Blocks nf4_quantize(const torch::Tensor& w, std::int64_t blocksize);

// Dequantizes to a flat [n] tensor of `dtype` (float32, bfloat16 or float16) on packed's device:
// w[i] = quant_map[idx[i]] * absmax[i / blocksize], the product taken in float32 then rounded.
// CPU: vectorised lookup-table kernel parallel over blocks. Other devices: torch ops.
torch::Tensor nf4_dequantize(const torch::Tensor& packed, const torch::Tensor& absmax,
                             const torch::Tensor& quant_map, std::int64_t numel,
                             std::int64_t blocksize, torch::ScalarType dtype);

// The same computation with plain torch ops (any device); the non-CPU path of nf4_dequantize.
torch::Tensor nf4_dequantize_torch_ops(const torch::Tensor& packed, const torch::Tensor& absmax,
                                       const torch::Tensor& quant_map, std::int64_t numel,
                                       std::int64_t blocksize, torch::ScalarType dtype);

}  // namespace rlhf::nf4
