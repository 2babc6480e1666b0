// ModelConfig — the fields of a Hugging Face `config.json` for LlamaForCausalLM (Llama 2 and 3),
// MistralForCausalLM and Qwen2ForCausalLM (docs/formats.md, "Llama / Mistral checkpoints").
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rlhf {

struct ModelConfig {
  std::string architecture = "LlamaForCausalLM";  // or MistralForCausalLM, Qwen2ForCausalLM
  std::string model_type = "llama";               // "llama" | "mistral" | "qwen2"
  std::int64_t vocab_size = 32000;                // V
  std::int64_t hidden_size = 4096;                // H
  std::int64_t intermediate_size = 11008;         // I
  std::int64_t num_hidden_layers = 32;            // L
  std::int64_t num_attention_heads = 32;          // nh
  std::int64_t num_key_value_heads = 32;          // nkv (GQA when < nh)
  std::int64_t head_dim = 128;                    // hd (default H / nh)
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  // rope_scaling: "default" (none), "linear" (positions / factor) or "llama3" (Llama 3.1's
  // inverse-frequency smoothing with the three fields below). A factor other than 1 with type
  // "default" means linear.
  std::string rope_type = "default";
  double rope_scaling_factor = 1.0;
  double rope_low_freq_factor = 1.0;                          // llama3
  double rope_high_freq_factor = 4.0;                         // llama3
  std::int64_t rope_original_max_position_embeddings = 8192;  // llama3
  std::int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  std::optional<std::int64_t> sliding_window;  // Mistral, Qwen2; none = full causal
  // Qwen2: layers numbered max_window_layers and above use the sliding window (Mistral: 0, all).
  std::int64_t max_window_layers = 0;
  bool attention_bias = false;  // q, k, v and o projections have a bias
  bool qkv_bias = false;        // Qwen2: q, k and v have a bias, o has none
  bool mlp_bias = false;
  std::int64_t bos_token_id = 1;
  std::vector<std::int64_t> eos_token_ids = {2};
  std::optional<std::int64_t> pad_token_id;
  std::string torch_dtype = "float32";

  // Whether decoder layer `layer` (from 0) masks keys beyond the sliding window.
  bool layer_uses_sliding_window(std::int64_t layer) const {
    return sliding_window.has_value() && layer >= max_window_layers;
  }

  // Parses config.json; unsupported architecture / rope_scaling type is an rlhf::Error naming
  // the file and key.
  static ModelConfig from_json_file(const std::filesystem::path& path);
  static ModelConfig from_json_string(const std::string& json, const std::string& origin);
  // The config.json text transformers would write for this model.
  std::string to_json() const;
};

}  // namespace rlhf
