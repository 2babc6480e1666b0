// A tiny CausalLM with weights large enough that attention, RoPE and masking errors show up in
// the logits (HF's std-0.02 init gives logits too small to tell implementations apart).
#pragma once

#include <torch/torch.h>

#include "rlhf/toolkit/causal_lm.hpp"

namespace rlhf::test {

// Mistral-shaped: GQA 4/2, sliding window 3, linear RoPE scaling 2.
inline ModelConfig tiny_mistral_config() {
  ModelConfig c;
  c.architecture = "MistralForCausalLM";
  c.model_type = "mistral";
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.rope_scaling_factor = 2.0;
  c.sliding_window = 3;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return c;
}

// Llama-shaped: GQA 4/1, tied embeddings, attention biases, no window.
inline ModelConfig tiny_llama_config() {
  ModelConfig c;
  c.vocab_size = 48;
  c.hidden_size = 32;
  c.intermediate_size = 40;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 1;
  c.head_dim = 8;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 500.0;
  c.tie_word_embeddings = true;
  c.attention_bias = true;
  return c;
}

inline WeightInit strong_init() {
  WeightInit init;
  init.tensor = [](const std::string& name, const std::vector<std::int64_t>& shape) {
    torch::Tensor t;
    if (name.find("norm") != std::string::npos)
      t = 1.0 + 0.3 * torch::randn(shape);
    else if (name.find("bias") != std::string::npos)
      t = 0.2 * torch::randn(shape);
    else
      t = torch::randn(shape);
    return t.requires_grad_(true);
  };
  init.linear = [](const std::string&, std::int64_t out, std::int64_t in) {
    return std::make_shared<DenseWeight>(
        (torch::randn({out, in}) / std::sqrt(static_cast<double>(in)) * 1.5).requires_grad_(true));
  };
  return init;
}

inline std::shared_ptr<CausalLM> make_tiny_model(const ModelConfig& c, std::uint64_t seed = 0) {
  torch::manual_seed(seed);
  return std::make_shared<CausalLM>(c, torch::kFloat32, strong_init());
}

}  // namespace rlhf::test
