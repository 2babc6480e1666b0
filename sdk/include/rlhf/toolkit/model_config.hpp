// ModelConfig — the fields of a Hugging Face `config.json` for LlamaForCausalLM /
// MistralForCausalLM (docs/formats.md, "Llama / Mistral checkpoints").
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rlhf {

struct ModelConfig {
  std::string architecture = "LlamaForCausalLM";  // or MistralForCausalLM
  std::string model_type = "llama";               // "llama" | "mistral"
  std::int64_t vocab_size = 32000;                // V
  std::int64_t hidden_size = 4096;                // H
  std::int64_t intermediate_size = 11008;         // I
  std::int64_t num_hidden_layers = 32;            // L
  std::int64_t num_attention_heads = 32;          // nh
  std::int64_t num_key_value_heads = 32;          // nkv (GQA when < nh)
  std::int64_t head_dim = 128;                    // hd (default H / nh)
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  double rope_scaling_factor = 1.0;  // linear scaling only
  std::int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  std::optional<std::int64_t> sliding_window;  // Mistral; none = full causal
  bool attention_bias = false;
  bool mlp_bias = false;
  std::int64_t bos_token_id = 1;
  std::vector<std::int64_t> eos_token_ids = {2};
  std::optional<std::int64_t> pad_token_id;
  std::string torch_dtype = "float32";

  // Parses config.json; unsupported architecture / rope_scaling type is an rlhf::Error naming
  // the file and key.
  static ModelConfig from_json_file(const std::filesystem::path& path);
  static ModelConfig from_json_string(const std::string& json, const std::string& origin);
  // The config.json text transformers would write for this model.
  std::string to_json() const;
};

}  // namespace rlhf
