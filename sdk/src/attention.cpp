// Grouped-query self-attention with causal, padding and sliding-window masks
// (docs/formats.md, "Model computation").
#include "causal_lm_impl.hpp"
#include "rlhf/attention_core.hpp"

namespace rlhf::detail {

torch::Tensor RMSNorm::forward(const torch::Tensor& x) const {
  torch::Tensor h = x.to(torch::kFloat32);
  h = h * torch::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * h.to(x.scalar_type());
}

torch::Tensor Attention::forward(const torch::Tensor& x, const AttentionInputs& in,
                                 const torch::Tensor& past_k, const torch::Tensor& past_v,
                                 torch::Tensor* k_out, torch::Tensor* v_out) {
  const auto B = x.size(0), T = x.size(1);
  torch::Tensor q = q_proj->forward(x).view({B, T, num_heads, head_dim}).transpose(1, 2);
  torch::Tensor k = k_proj->forward(x).view({B, T, num_kv_heads, head_dim}).transpose(1, 2);
  torch::Tensor v = v_proj->forward(x).view({B, T, num_kv_heads, head_dim}).transpose(1, 2);
  q = apply_rotary(q, in.cos, in.sin);
  k = apply_rotary(k, in.cos, in.sin);
  if (past_k.defined() && past_k.size(2) > 0) {
    k = torch::cat({past_k, k}, 2);
    v = torch::cat({past_v, v}, 2);
  }
  if (k_out) *k_out = k;
  if (v_out) *v_out = v;
  // The core saves q, k and v and recomputes the T×T probabilities in backward
  // (sdk/src/attention_core.cpp); its output [B, T, H, hd] flattens without a copy.
  const torch::Tensor& blocked = sliding_window ? in.blocked_in_window : in.blocked;
  const torch::Tensor out = attention_core(q, k, v, blocked).reshape({B, T, num_heads * head_dim});
  return o_proj->forward(out);
}

torch::Tensor MLP::forward(const torch::Tensor& x) {
  return down_proj->forward(torch::silu(gate_proj->forward(x)) * up_proj->forward(x));
}

torch::Tensor DecoderLayer::forward(const torch::Tensor& x, const AttentionInputs& in,
                                    const torch::Tensor& past_k, const torch::Tensor& past_v,
                                    torch::Tensor* k_out, torch::Tensor* v_out) {
  torch::Tensor h =
      x + self_attn->forward(input_layernorm->forward(x), in, past_k, past_v, k_out, v_out);
  return h + mlp->forward(post_attention_layernorm->forward(h));
}

}  // namespace rlhf::detail
