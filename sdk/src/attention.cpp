// Grouped-query self-attention with causal, padding and sliding-window masks
// (docs/formats.md, "Model computation").
#include <cmath>
#include <limits>

#include "causal_lm_impl.hpp"

namespace rlhf::detail {

namespace {

// [B, nkv, T, hd] → [B, nkv*n_rep, T, hd]; query head j reads kv head j / n_rep.
torch::Tensor repeat_kv(const torch::Tensor& x, std::int64_t n_rep) {
  if (n_rep == 1) return x;
  const auto s = x.sizes();
  return x.unsqueeze(2)
      .expand({s[0], s[1], n_rep, s[2], s[3]})
      .reshape({s[0], s[1] * n_rep, s[2], s[3]});
}

// The lowest finite value of a floating dtype (float's lowest would round to -inf in bfloat16).
double lowest_finite(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kBFloat16:
      return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    case torch::kHalf:
      return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
    case torch::kDouble:
      return std::numeric_limits<double>::lowest();
    default:
      return std::numeric_limits<float>::lowest();
  }
}

}  // namespace

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
  const auto n_rep = num_heads / num_kv_heads;
  const torch::Tensor kr = repeat_kv(k, n_rep), vr = repeat_kv(v, n_rep);

  // Scores and mask in the model dtype, softmax in float32, as transformers' eager attention
  // does: scaling and masking work in place on the fresh scores, so the only float32 T×T tensors
  // are softmax's input and output (an earlier version cast first and masked a float32 copy).
  // Blocked entries get the dtype's lowest finite value, not -inf, so a query with no visible
  // key (a padding position) yields a uniform row instead of NaN, which would poison the
  // gradients. Rows with a visible key come out bit for bit as with a float32 mask: exp of the
  // lowest value underflows to 0 either way.
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  torch::Tensor scores = torch::matmul(q, kr.transpose(-1, -2)).mul_(scale);
  const torch::Tensor& blocked = sliding_window ? in.blocked_in_window : in.blocked;
  scores.masked_fill_(blocked, lowest_finite(scores.scalar_type()));
  const torch::Tensor probs = torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());
  const torch::Tensor out =
      torch::matmul(probs, vr).transpose(1, 2).reshape({B, T, num_heads * head_dim});
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
