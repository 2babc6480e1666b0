// An independent computation of a decoder's logits for tests/families, written from
// docs/formats.md, "Model computation" and transformers' Llama/Qwen2 code: double precision,
// one position and one head at a time, no model code. Rotary inverse frequencies come from the
// caller (the test computes the llama3 ones itself from the formula).
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "rlhf/toolkit/model_config.hpp"

namespace rlhf::families_test {

using StateDict = std::map<std::string, torch::Tensor>;

// Logits [n, V] of one unpadded sequence `ids` (position t = t). Layers l with
// `windowed(l)` see at most `window` keys, the query included.
template <typename Windowed>
torch::Tensor reference_logits(const ModelConfig& c, const StateDict& sd,
                               const std::vector<double>& inv_freq,
                               const std::vector<std::int64_t>& ids, std::int64_t window,
                               Windowed windowed) {
  const auto n = static_cast<std::int64_t>(ids.size());
  const auto hd = c.head_dim, nh = c.num_attention_heads;
  const auto group = nh / c.num_key_value_heads;
  auto W = [&](const std::string& name) { return sd.at(name); };
  auto rms = [&](const torch::Tensor& v, const torch::Tensor& w) {
    const double ms = (v * v).mean().item<double>();
    return w * (v / std::sqrt(ms + c.rms_norm_eps));
  };
  auto linear = [&](const std::string& p, const torch::Tensor& x) {
    torch::Tensor y = torch::mv(W(p + ".weight"), x);
    if (sd.count(p + ".bias")) y = y + W(p + ".bias");
    return y;
  };
  auto rope = [&](const torch::Tensor& v, std::int64_t pos) {
    torch::Tensor out = v.clone();
    auto a = v.accessor<double, 1>();
    auto o = out.accessor<double, 1>();
    const auto half = hd / 2;
    for (std::int64_t j = 0; j < half; ++j) {
      const double angle = static_cast<double>(pos) * inv_freq[static_cast<std::size_t>(j)];
      o[j] = a[j] * std::cos(angle) - a[j + half] * std::sin(angle);
      o[j + half] = a[j + half] * std::cos(angle) + a[j] * std::sin(angle);
    }
    return out;
  };
  auto at = [](auto& v, std::int64_t i) -> auto& { return v[static_cast<std::size_t>(i)]; };

  std::vector<torch::Tensor> x;
  for (std::int64_t t = 0; t < n; ++t) x.push_back(W("model.embed_tokens.weight")[at(ids, t)]);
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    std::vector<torch::Tensor> q, k, v;
    for (std::int64_t t = 0; t < n; ++t) {
      const torch::Tensor h = rms(at(x, t), W(p + "input_layernorm.weight"));
      q.push_back(linear(p + "self_attn.q_proj", h));
      k.push_back(linear(p + "self_attn.k_proj", h));
      v.push_back(linear(p + "self_attn.v_proj", h));
    }
    std::vector<torch::Tensor> attn_out;
    for (std::int64_t t = 0; t < n; ++t) {
      std::vector<torch::Tensor> heads;
      for (std::int64_t head = 0; head < nh; ++head) {
        const std::int64_t kvh = head / group;
        const torch::Tensor qh = rope(at(q, t).narrow(0, head * hd, hd), t);
        std::vector<double> scores;
        std::vector<std::int64_t> keys;
        for (std::int64_t s = 0; s <= t; ++s) {
          if (windowed(l) && t - s >= window) continue;
          const torch::Tensor kh = rope(at(k, s).narrow(0, kvh * hd, hd), s);
          scores.push_back(torch::dot(qh, kh).item<double>() / std::sqrt(static_cast<double>(hd)));
          keys.push_back(s);
        }
        double mx = -1e300, z = 0;
        for (double sc : scores) mx = std::max(mx, sc);
        for (double sc : scores) z += std::exp(sc - mx);
        torch::Tensor out = torch::zeros({hd}, torch::kFloat64);
        for (std::size_t i = 0; i < keys.size(); ++i)
          out += std::exp(scores[i] - mx) / z * at(v, keys[i]).narrow(0, kvh * hd, hd);
        heads.push_back(out);
      }
      attn_out.push_back(linear(p + "self_attn.o_proj", torch::cat(heads)));
    }
    for (std::int64_t t = 0; t < n; ++t) {
      torch::Tensor& xt = at(x, t);
      xt = xt + at(attn_out, t);
      const torch::Tensor h = rms(xt, W(p + "post_attention_layernorm.weight"));
      const torch::Tensor g = linear(p + "mlp.gate_proj", h);
      const torch::Tensor u = linear(p + "mlp.up_proj", h);
      xt = xt + linear(p + "mlp.down_proj", g / (1.0 + torch::exp(-g)) * u);
    }
  }
  const torch::Tensor head =
      sd.count("lm_head.weight") ? W("lm_head.weight") : W("model.embed_tokens.weight");
  std::vector<torch::Tensor> logits;
  for (std::int64_t t = 0; t < n; ++t)
    logits.push_back(torch::mv(head, rms(at(x, t), W("model.norm.weight"))));
  return torch::stack(logits);  // [n, V]
}

}  // namespace rlhf::families_test
