// Rotary position embeddings, transformers' rotate-half convention
// (docs/formats.md, "Model computation").
#include <cmath>

#include "causal_lm_impl.hpp"
#include "rlhf/rope_frequencies.hpp"

namespace rlhf::detail {

namespace {

// transformers' `_compute_llama3_parameters` (modeling_rope_utils.py): wavelengths longer than
// original_max_position_embeddings / low_freq_factor are divided by `factor`, those shorter than
// original_max_position_embeddings / high_freq_factor are kept, and the band between is a linear
// blend of the two by the smooth factor.
torch::Tensor llama3_scaled(const ModelConfig& c, const torch::Tensor& inv_freq) {
  const double factor = c.rope_scaling_factor, low = c.rope_low_freq_factor,
               high = c.rope_high_freq_factor;
  const double old_context = static_cast<double>(c.rope_original_max_position_embeddings);
  const double low_freq_wavelen = old_context / low, high_freq_wavelen = old_context / high;
  const torch::Tensor wavelen = 2 * M_PI / inv_freq;
  torch::Tensor scaled = torch::where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq);
  const torch::Tensor smooth = (old_context / wavelen - low) / (high - low);
  const torch::Tensor smoothed = (1 - smooth) * scaled / factor + smooth * scaled;
  const torch::Tensor medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen);
  return torch::where(medium, smoothed, scaled);
}

}  // namespace

torch::Tensor rope_inverse_frequencies(const ModelConfig& config, torch::Device device) {
  const auto hd = config.head_dim;
  // inv_freq[j] = 1 / theta^(2j/hd), built in float32 from integer exponents like transformers.
  const torch::Tensor exponent =
      torch::arange(0, hd, 2, torch::TensorOptions().dtype(torch::kInt64).device(device))
          .to(torch::kFloat32) /
      static_cast<double>(hd);
  const torch::Tensor inv_freq = 1.0 / torch::pow(config.rope_theta, exponent);
  return config.rope_type == "llama3" ? llama3_scaled(config, inv_freq) : inv_freq;
}

void rotary_tables(const ModelConfig& config, const torch::Tensor& positions,
                   torch::ScalarType dtype, torch::Tensor& cos, torch::Tensor& sin) {
  const torch::Tensor inv_freq = rope_inverse_frequencies(config, positions.device());
  // Linear scaling divides the positions by the factor (llama3 scaled the frequencies instead).
  torch::Tensor pos = positions.to(torch::kFloat32);
  if (config.rope_type != "llama3" && config.rope_scaling_factor != 1.0)
    pos = pos / config.rope_scaling_factor;
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
