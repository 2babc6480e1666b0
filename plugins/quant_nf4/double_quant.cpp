#include "double_quant.hpp"

#include <ATen/Parallel.h>

#include <cmath>

#include "rlhf/error.hpp"

namespace rlhf::nf4 {

torch::Tensor signed_dynamic_map() {
  // 7 exponent levels 10^-6 … 10^0; level i holds 2^i fraction values: the midpoints of
  // linspace(0.1, 1, 2^i + 1), with both signs. 254 values, plus 0 and 1.
  static const double kScale[7] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0};
  std::vector<torch::Tensor> parts;
  for (int i = 0; i < 7; ++i) {
    const torch::Tensor bounds = torch::linspace(0.1, 1.0, (1 << i) + 1, torch::kFloat32);
    const torch::Tensor means = (bounds.slice(0, 0, -1) + bounds.slice(0, 1)) / 2.0;
    parts.push_back(means * kScale[i]);
    parts.push_back(means * -kScale[i]);
  }
  parts.push_back(torch::tensor({0.0f, 1.0f}));
  return std::get<0>(torch::cat(parts).sort());
}

std::uint8_t dynamic_map_index(const float* map, float x) {
  // Binary search from the middle with halving steps 64 … 1, remembering the entries that
  // bracket x, then the nearer of pivot and its bracketing neighbour by the float midpoint.
  int pivot = 127, upper_pivot = 255, lower_pivot = 0;
  float lower = -1.0f, upper = 1.0f;
  float val = map[pivot];
  for (int step = 64; step > 0; step >>= 1) {
    if (x > val) {
      lower_pivot = pivot;
      lower = val;
      pivot += step;
    } else {
      upper_pivot = pivot;
      upper = val;
      pivot -= step;
    }
    val = map[pivot];
  }
  if (upper_pivot == 255) upper = map[255];
  if (lower_pivot == 0) lower = map[0];
  if (x > val) return static_cast<std::uint8_t>(x > (upper + val) * 0.5f ? upper_pivot : pivot);
  return static_cast<std::uint8_t>(x < (lower + val) * 0.5f ? lower_pivot : pivot);
}

Blockwise8bit quantize_blockwise_8bit(const torch::Tensor& x, const torch::Tensor& map,
                                      std::int64_t blocksize) {
  const torch::Tensor in = x.detach().to(torch::kCPU, torch::kFloat32).contiguous().view(-1);
  const torch::Tensor code = map.to(torch::kCPU, torch::kFloat32).contiguous();
  if (code.numel() != 256) throw Error("nf4: the 8-bit quantization map must have 256 entries");
  const std::int64_t n = in.numel();
  const std::int64_t blocks = (n + blocksize - 1) / blocksize;
  Blockwise8bit out{torch::empty({n}, torch::kUInt8), torch::empty({blocks}, torch::kFloat32)};
  const float* xp = in.data_ptr<float>();
  const float* mp = code.data_ptr<float>();
  std::uint8_t* cp = out.codes.data_ptr<std::uint8_t>();
  float* ap = out.absmax.data_ptr<float>();
  at::parallel_for(0, blocks, 1, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t start = b * blocksize, end = std::min(n, start + blocksize);
      float m = 0.0f;
      for (std::int64_t i = start; i < end; ++i) m = std::fmax(m, std::fabs(xp[i]));
      ap[b] = m;
      const float recip = 1.0f / m;
      for (std::int64_t i = start; i < end; ++i) cp[i] = dynamic_map_index(mp, xp[i] * recip);
    }
  });
  return out;
}

torch::Tensor dequantize_blockwise_8bit(const torch::Tensor& codes, const torch::Tensor& absmax,
                                        const torch::Tensor& map, std::int64_t blocksize) {
  const std::int64_t n = codes.numel();
  const torch::Tensor values =
      map.to(codes.device(), torch::kFloat32).index_select(0, codes.reshape({-1}).to(torch::kLong));
  return values * absmax.to(torch::kFloat32).repeat_interleave(blocksize).slice(0, 0, n);
}

DoubleQuantState double_quantize(const torch::Tensor& absmax) {
  const torch::Tensor a = absmax.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  DoubleQuantState state;
  state.offset = a.mean().item<float>();
  state.nested_quant_map = signed_dynamic_map();
  Blockwise8bit q =
      quantize_blockwise_8bit(a - state.offset, state.nested_quant_map, kNestedBlocksize);
  state.codes = q.codes;
  state.nested_absmax = q.absmax;
  if (absmax.device() != torch::kCPU) {
    state.codes = state.codes.to(absmax.device());
    state.nested_absmax = state.nested_absmax.to(absmax.device());
    state.nested_quant_map = state.nested_quant_map.to(absmax.device());
  }
  return state;
}

torch::Tensor double_dequantize(const DoubleQuantState& state) {
  return dequantize_blockwise_8bit(state.codes, state.nested_absmax, state.nested_quant_map,
                                   kNestedBlocksize) +
         state.offset;
}

}  // namespace rlhf::nf4
