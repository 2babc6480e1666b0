// Internal: the module tree of CausalLM, named as transformers names it, so named_parameters()
// reads "model.layers.0.self_attn.q_proj.base.weight" (".base" is the Linear's LinearWeight).
// Shared by causal_lm.cpp, attention.cpp, rotary.cpp, layer_checkpoint.cpp and the loader.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "rlhf/toolkit/causal_lm.hpp"

namespace rlhf::detail {

// transformers' LlamaRMSNorm: normalise in float32, cast back, then scale.
struct RMSNorm : torch::nn::Module {
  RMSNorm(torch::Tensor w, double eps_) : eps(eps_) {
    weight = register_parameter("weight", w, w.requires_grad());
  }
  torch::Tensor forward(const torch::Tensor& x) const;
  torch::Tensor weight;  // [H]
  double eps;
};

struct EmbedTokens : torch::nn::Module {
  explicit EmbedTokens(torch::Tensor w) {
    weight = register_parameter("weight", w, w.requires_grad());
  }
  torch::Tensor weight;  // [V, H]
};

// Per-call attention inputs shared by every layer.
struct AttentionInputs {
  torch::Tensor cos, sin;  // [B, 1, T_new, hd] in the model dtype
  torch::Tensor blocked;   // [B, 1, T_new, T_all] bool: true = key not visible to the query
  // `blocked` plus the keys beyond the sliding window; defined when some layer uses the window.
  torch::Tensor blocked_in_window;
};

struct Attention : torch::nn::Module {
  std::shared_ptr<Linear> q_proj, k_proj, v_proj, o_proj;
  std::int64_t num_heads = 0, num_kv_heads = 0, head_dim = 0;
  bool sliding_window = false;  // masks with AttentionInputs::blocked_in_window
  // x: [B, T, H]. With `past_k`/`past_v` defined ([B, nkv, T_past, hd]) the new keys/values
  // are appended; the full (rotated) keys/values are returned through `k_out`/`v_out` when
  // those are non-null.
  torch::Tensor forward(const torch::Tensor& x, const AttentionInputs& in,
                        const torch::Tensor& past_k, const torch::Tensor& past_v,
                        torch::Tensor* k_out, torch::Tensor* v_out);
};

struct MLP : torch::nn::Module {
  std::shared_ptr<Linear> gate_proj, up_proj, down_proj;
  torch::Tensor forward(const torch::Tensor& x);  // down(silu(gate(x)) * up(x))
};

struct DecoderLayer : torch::nn::Module {
  std::shared_ptr<RMSNorm> input_layernorm, post_attention_layernorm;
  std::shared_ptr<Attention> self_attn;
  std::shared_ptr<MLP> mlp;
  // x += attn(norm1(x)); x += mlp(norm2(x))
  torch::Tensor forward(const torch::Tensor& x, const AttentionInputs& in,
                        const torch::Tensor& past_k = {}, const torch::Tensor& past_v = {},
                        torch::Tensor* k_out = nullptr, torch::Tensor* v_out = nullptr);
};

// "model." in transformers: embeddings, decoder layers, final norm.
struct Backbone : torch::nn::Module {
  std::shared_ptr<EmbedTokens> embed_tokens;
  torch::nn::ModuleList layers;
  std::vector<std::shared_ptr<DecoderLayer>> layer_list;  // same objects, typed
  std::shared_ptr<RMSNorm> norm;
};

// Rotary tables for the given positions [B, T] (int64): cos/sin [B, 1, T, hd] in `dtype`,
// computed in float32 as transformers does.
void rotary_tables(const ModelConfig& config, const torch::Tensor& positions,
                   torch::ScalarType dtype, torch::Tensor& cos, torch::Tensor& sin);
// q' = q*cos + rotate_half(q)*sin on [B, heads, T, hd].
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos,
                           const torch::Tensor& sin);

// Runs `layer` on `x` without storing its activations; recomputes them in backward.
torch::Tensor checkpointed_layer(DecoderLayer& layer, const torch::Tensor& x,
                                 const AttentionInputs& in);

}  // namespace rlhf::detail

namespace rlhf {

struct CausalLM::Impl {
  std::shared_ptr<detail::Backbone> model;
  std::shared_ptr<Linear> lm_head;  // null when tied to the embeddings
};

}  // namespace rlhf
