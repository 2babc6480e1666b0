// NF4 quantization (CPU). Mirrors bitsandbytes' kQuantizeBlockwise for NF4: per block, absmax
// in float32, values scaled by the float32 reciprocal of absmax, each mapped through the
// midpoint decision tree (nf4_index), two indices packed per byte, high nibble first.
#include <ATen/Parallel.h>

#include <cmath>

#include "nf4_codebook.hpp"
#include "nf4_kernels.hpp"
#include "rlhf/error.hpp"

namespace rlhf::nf4 {

bool is_supported_blocksize(std::int64_t blocksize) {
  return blocksize >= 32 && blocksize <= 4096 && (blocksize & (blocksize - 1)) == 0;
}

NF4Blocks nf4_quantize(const torch::Tensor& w, std::int64_t blocksize) {
  if (!is_supported_blocksize(blocksize))
    throw Error("nf4: unsupported blocksize " + std::to_string(blocksize) +
                " (powers of two from 32 to 4096)");
  if (!w.defined() || !at::isFloatingType(w.scalar_type()))
    throw Error("nf4: can only quantize floating-point weights, got " +
                std::string(w.defined() ? c10::toString(w.scalar_type()) : "an undefined tensor"));
  const torch::Tensor x = w.detach().to(torch::kCPU, torch::kFloat32).contiguous().view(-1);
  const std::int64_t n = x.numel();
  const std::int64_t blocks = (n + blocksize - 1) / blocksize;
  torch::Tensor packed = torch::empty({(n + 1) / 2, 1}, torch::kUInt8);
  torch::Tensor absmax = torch::empty({blocks}, torch::kFloat32);
  const float* in = x.data_ptr<float>();
  std::uint8_t* out = packed.data_ptr<std::uint8_t>();
  float* amax = absmax.data_ptr<float>();
  const std::int64_t grain = std::max<std::int64_t>(1, 16384 / blocksize);
  at::parallel_for(0, blocks, grain, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t start = b * blocksize;
      const std::int64_t end = std::min(start + blocksize, n);
      float m = 0.0f;
      for (std::int64_t i = start; i < end; ++i) m = std::fmax(m, std::fabs(in[i]));
      amax[b] = m;
      const float recip = 1.0f / m;  // inf for an all-zero block: 0 * inf = NaN → index 0
      // Blocks hold an even number of elements (blocksize ≥ 32), so each starts on a byte.
      for (std::int64_t i = start; i < end; i += 2) {
        const int hi = nf4_index(in[i] * recip);
        const int lo = i + 1 < end ? nf4_index(in[i + 1] * recip) : nf4_index(0.0f);
        out[i / 2] = static_cast<std::uint8_t>(hi << 4 | lo);
      }
    }
  });
  if (w.device() != torch::kCPU) return {packed.to(w.device()), absmax.to(w.device())};
  return {packed, absmax};
}

}  // namespace rlhf::nf4
