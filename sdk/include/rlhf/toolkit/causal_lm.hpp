// CausalLM — a Llama/Mistral decoder-only language model with Hugging Face semantics
// (docs/formats.md, "Model computation"): RMSNorm, rotate-half RoPE, grouped-query attention
// with causal + padding masks (+ sliding window), SwiGLU MLP. Every projection is an
// rlhf::Linear.
//
// Shapes: B = batch, T = sequence length, H = hidden size, V = vocab size.
#pragma once

#include <torch/nn/module.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rlhf/linear.hpp"
#include "rlhf/toolkit/model_config.hpp"

namespace rlhf {

class Quantizer;

// Per-layer key/value cache for incremental decoding.
struct KVCache {
  std::vector<torch::Tensor> keys;    // per layer: [B, nkv, T_cached, hd]
  std::vector<torch::Tensor> values;  // per layer: [B, nkv, T_cached, hd]
  torch::Tensor attention_mask;       // [B, T_cached] of everything seen so far (1 = real)
  std::int64_t length() const { return attention_mask.defined() ? attention_mask.size(1) : 0; }
};

// Where the constructor gets each weight from (a checkpoint loader; random init by default).
// Names are transformers' tensor names / module paths.
struct WeightInit {
  // A dense tensor ("model.embed_tokens.weight", "model.norm.weight", "….q_proj.bias", …) of
  // `shape`; returned in the model dtype, with requires_grad as it should train.
  std::function<torch::Tensor(const std::string& name, const std::vector<std::int64_t>& shape)>
      tensor;
  // The base weight [out, in] of projection `module` ("model.layers.0.self_attn.q_proj",
  // "lm_head").
  std::function<std::shared_ptr<LinearWeight>(const std::string& module, std::int64_t out,
                                              std::int64_t in)>
      linear;
};

class CausalLM : public torch::nn::Module {
 public:
  // Random-initialised model (std 0.02 normal linears/embeddings, ones for norms, zeros for
  // biases and the pad row of the embeddings, as HF's `_init_weights`) in `dtype`, drawn from
  // torch's global generator (seed it with torch::manual_seed). Parameters require grad.
  CausalLM(const ModelConfig& config, torch::ScalarType dtype);
  // A model whose weights come from `init` (used by load_causal_lm; nothing is allocated twice).
  CausalLM(const ModelConfig& config, torch::ScalarType dtype, const WeightInit& init);

  const ModelConfig& config() const { return config_; }
  torch::ScalarType dtype() const { return dtype_; }

  // input_ids: [B, T] int64; attention_mask: [B, T] (1 = real token, 0 = padding, left or
  // right). Position ids count real tokens only. Returns logits [B, T, V] in the model dtype.
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);
  // Final normalised hidden states [B, T, H] (for scalar heads: reward model, critic).
  torch::Tensor hidden_states(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);
  // Final normalised hidden states [B, T, H] of packed rows: a row holds several segments
  // (sequences without padding), and a segment may hold sequences that share a prefix (a prompt
  // with its chosen and its rejected completion). `positions` [B, T] is each token's rotary
  // position in its own sequence (a branch continues from the end of the shared prefix);
  // key j ≤ i is visible to query i when segments[j] == segments[i] and branches[j] is 0 (the
  // shared prefix) or equals branches[i]. segments = -1 marks padding. Each sequence's hidden
  // states equal those of hidden_states() on that sequence alone.
  torch::Tensor packed_hidden_states(const torch::Tensor& input_ids, const torch::Tensor& positions,
                                     const torch::Tensor& segments, const torch::Tensor& branches);
  // The output projection applied to hidden states: [.., H] → [.., V].
  torch::Tensor lm_head(const torch::Tensor& hidden);
  // Incremental step for generation: feeds `input_ids` [B, T_new] with their mask [B, T_new]
  // after whatever `cache` holds, appends to the cache, returns logits [B, T_new, V].
  torch::Tensor forward_with_cache(const torch::Tensor& input_ids,
                                   const torch::Tensor& attention_mask, KVCache& cache);

  // Every projection with its Hugging Face module path, in checkpoint order:
  // "model.layers.0.self_attn.q_proj", …, "model.layers.0.mlp.down_proj", … (not lm_head).
  std::vector<std::pair<std::string, std::shared_ptr<Linear>>> named_linears() const;

  // The full state under Hugging Face tensor names (projections through
  // LinearWeight::state_dict, so a quantized model yields bitsandbytes keys).
  std::vector<std::pair<std::string, torch::Tensor>> hf_state_dict() const;

  // Writes config.json, generation_config.json (bos/eos/pad ids of the config) and
  // model.safetensors (sharded above `max_shard_bytes`) into `dir`
  // (written to a temporary folder, then renamed). `extra_config_json` is merged into config.json
  // (e.g. a quantization_config). The model knows no tokenizer: complete_saved_folder
  // (rlhf/tokenizer_files.hpp) adds the tokenizer files, as a tokenizer's own save_pretrained.
  void save_pretrained(const std::filesystem::path& dir,
                       std::int64_t max_shard_bytes = std::int64_t{5} << 30,
                       const std::string& extra_config_json = "") const;

  // Recompute each decoder layer in backward instead of storing its activations.
  void set_gradient_checkpointing(bool on) { gradient_checkpointing_ = on; }

  // Implementation members, public for the implementation files and tests.
  struct Impl;
  std::shared_ptr<Impl> impl;

 private:
  ModelConfig config_;
  torch::ScalarType dtype_;
  bool gradient_checkpointing_ = false;
};

struct LoadOptions {
  torch::ScalarType dtype = torch::kFloat32;  // compute/storage dtype of non-quantized weights
  torch::Device device = torch::kCPU;
  Quantizer* quantizer = nullptr;  // when set: every projection goes through it
};

// Loads a Hugging Face model directory (config.json + model.safetensors or a sharded index).
// Weights are read from the memory-mapped file one tensor at a time, so peak memory is one copy
// of the model plus one tensor.
std::shared_ptr<CausalLM> load_causal_lm(const std::filesystem::path& dir,
                                         const LoadOptions& options = {});

}  // namespace rlhf
