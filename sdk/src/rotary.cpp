// Rotary position embeddings, transformers' rotate-half convention
// (docs/formats.md, "Model computation").
#include "causal_lm_impl.hpp"

namespace rlhf::detail {

void rotary_tables(const ModelConfig& config, const torch::Tensor& positions,
                   torch::ScalarType dtype, torch::Tensor& cos, torch::Tensor& sin) {
  const auto hd = config.head_dim;
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(positions.device());
  // inv_freq[j] = 1 / theta^(2j/hd), built in float32 from integer exponents like transformers.
  const torch::Tensor exponent =
      torch::arange(0, hd, 2, f32.dtype(torch::kInt64)).to(torch::kFloat32) /
      static_cast<double>(hd);
  const torch::Tensor inv_freq = 1.0 / torch::pow(config.rope_theta, exponent);
  // Linear scaling divides the positions by the factor.
  torch::Tensor pos = positions.to(torch::kFloat32);
  if (config.rope_scaling_factor != 1.0) pos = pos / config.rope_scaling_factor;
  const torch::Tensor freqs = pos.unsqueeze(-1) * inv_freq;  // [B, T, hd/2]
  const torch::Tensor emb = torch::cat({freqs, freqs}, -1);  // [B, T, hd]
  cos = emb.cos().to(dtype).unsqueeze(1);
  sin = emb.sin().to(dtype).unsqueeze(1);
}

torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos,
                           const torch::Tensor& sin) {
  const auto half = x.size(-1) / 2;
  // rotate_half(x) = cat(-x[hd/2:], x[:hd/2])
  const torch::Tensor rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

}  // namespace rlhf::detail
