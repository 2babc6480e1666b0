// The attention core softmax(mask(q·kᵀ/√hd))·v as one autograd function that saves no T×T
// tensor for backward (FlashAttention's recomputation, without its tiling over keys).
//
// Written with plain autograd ops, backward keeps every layer's float32 softmax output and its
// model-dtype copy: B·H·T²·6 bytes per layer in bfloat16, the largest activation of a training
// step. This function saves q, k and v (k and v un-repeated) and the mask, and backward
// recomputes the probabilities from them: one more q·kᵀ and softmax per layer, in exchange for
// the T×T tensors. Both directions run in chunks of query rows (softmax is per row, so a chunk
// is exact), which also bounds the transient T×T tensors of forward and backward to one chunk.
//
// Grouped-query attention without repeating k and v: query heads g·R … g·R + R − 1 read kv head
// g, so q is viewed as [B, G, R·T, hd] and multiplied with k [B, G, Tk, hd] directly; backward's
// dk = dsᵀ·q then sums over the R query heads inside the matrix product.
//
// The numbers are the plain form's (kept below for tests, sdk/internal/rlhf/attention_core.hpp):
// scores in the model dtype, scaled and masked in place, softmax in float32, probabilities rounded
// to the model dtype before ·v; backward recomputes the same probabilities with the same kernels
// and applies softmax's own backward.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "causal_lm_impl.hpp"
#include "rlhf/attention_core.hpp"

namespace rlhf::detail {

namespace {

std::atomic<bool> reference_attention{false};
std::atomic<std::int64_t> forced_chunk_rows{0};

// About 4M scores per chunk: 16 MiB of float32 softmax, ~60 MiB of transient tensors in backward.
constexpr std::int64_t kChunkScores = std::int64_t{1} << 22;
// Fewer query rows than this make the matrix products inefficient.
constexpr std::int64_t kMinChunkRows = 16;

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

// [B, nkv, T, hd] → [B, nkv*n_rep, T, hd]; query head j reads kv head j / n_rep.
torch::Tensor repeat_kv(const torch::Tensor& x, std::int64_t n_rep) {
  if (n_rep == 1) return x;
  const auto s = x.sizes();
  return x.unsqueeze(2)
      .expand({s[0], s[1], n_rep, s[2], s[3]})
      .reshape({s[0], s[1] * n_rep, s[2], s[3]});
}

// Scores and mask in the model dtype, softmax in float32, as transformers' eager attention
// does: scaling and masking work in place on the fresh scores, so the only float32 T×T tensors
// are softmax's input and output. Blocked entries get the dtype's lowest finite value, not -inf,
// so a query with no visible key (a padding position) yields a uniform row instead of NaN, which
// would poison the gradients. Rows with a visible key come out bit for bit as with a float32
// mask: exp of the lowest value underflows to 0 either way.
// The plain form: q [B, H, Tq, hd], k/v [B, nkv, Tk, hd], blocked [B, 1, Tq, Tk] → [B, Tq, H, hd].
torch::Tensor attention_reference(const torch::Tensor& q, const torch::Tensor& k,
                                  const torch::Tensor& v, const torch::Tensor& blocked) {
  const auto n_rep = q.size(1) / k.size(1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  const torch::Tensor kr = repeat_kv(k, n_rep), vr = repeat_kv(v, n_rep);
  torch::Tensor scores = torch::matmul(q, kr.transpose(-1, -2)).mul_(scale);
  scores.masked_fill_(blocked, lowest_finite(scores.scalar_type()));
  const torch::Tensor probs = torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());
  return torch::matmul(probs, vr).transpose(1, 2);
}

// Query rows [r0, r0 + c) of q [B, G, R, T, hd] (grouped view) as [B, G, R·c, hd].
torch::Tensor query_rows(const torch::Tensor& q5, std::int64_t r0, std::int64_t c) {
  const auto s = q5.sizes();
  return q5.narrow(3, r0, c).reshape({s[0], s[1], s[2] * c, s[4]});
}

// Rows [r0, r0 + c) of x [B, T, H, hd] in the grouped layout [B, G, R·c, hd].
torch::Tensor grouped_rows(const torch::Tensor& x, std::int64_t G, std::int64_t r0,
                           std::int64_t c) {
  const auto B = x.size(0), H = x.size(2), hd = x.size(3);
  return x.narrow(1, r0, c)
      .reshape({B, c, G, H / G, hd})
      .permute({0, 2, 3, 1, 4})
      .reshape({B, G, H / G * c, hd});
}

// Writes y [B, G, R·c, hd] into rows [r0, r0 + c) of out [B, T, H, hd].
void put_rows(torch::Tensor& out, const torch::Tensor& y, std::int64_t r0, std::int64_t c) {
  const auto B = out.size(0), T = out.size(1), H = out.size(2), hd = out.size(3);
  const auto G = y.size(1), R = H / G;
  out.view({B, T, G, R, hd})
      .narrow(1, r0, c)
      .copy_(y.view({B, G, R, c, hd}).permute({0, 3, 1, 2, 4}));
}

struct Chunking {
  std::int64_t rows;  // query rows per chunk
  std::int64_t count;
};

Chunking chunking(std::int64_t B, std::int64_t H, std::int64_t T, std::int64_t Tk) {
  if (const std::int64_t forced = forced_chunk_rows; forced > 0) {
    const std::int64_t rows = std::min(forced, T);
    return {rows, (T + rows - 1) / rows};
  }
  const std::int64_t per_row = std::max<std::int64_t>(1, B * H * Tk);
  const std::int64_t rows = std::clamp(kChunkScores / per_row, std::min(kMinChunkRows, T), T);
  return {rows, (T + rows - 1) / rows};
}

// Query rows [r0, r0 + c) and the keys [k0, k0 + kn) they can see, with their part of the mask
// [B, 1, c, kn]. A key no row of the chunk sees would get probability exactly 0 in every row (exp
// of the lowest finite value underflows), so leaving it out changes only the order of softmax's
// sum; causal masking thus skips about half the scores, and packed rows the other segments. A row
// that sees no key at all (a padding query) is uniform over every key, so its chunk keeps them.
struct RowChunk {
  std::int64_t r0, c, k0, kn;
  torch::Tensor blocked;
};

RowChunk row_chunk(const torch::Tensor& blocked, std::int64_t r0, std::int64_t c) {
  const torch::Tensor rows = blocked.narrow(2, r0, c);
  RowChunk chunk{r0, c, 0, blocked.size(3), rows};
  const torch::Tensor visible = ~rows;
  if (!visible.any(-1).all().item<bool>()) return chunk;
  const torch::Tensor keys = visible.flatten(0, 2).any(0).nonzero();
  chunk.k0 = keys.min().item<std::int64_t>();
  chunk.kn = keys.max().item<std::int64_t>() + 1 - chunk.k0;
  chunk.blocked = rows.narrow(3, chunk.k0, chunk.kn);
  return chunk;
}

// Float32 probabilities of query rows qc [B, G, R·c, hd] against the chunk's keys k [B, G, kn, hd]
// under its mask, shaped [B, G, R·c, kn]: the plain form's numbers.
torch::Tensor probabilities(const torch::Tensor& qc, const torch::Tensor& k, const RowChunk& chunk,
                            double scale) {
  const auto B = qc.size(0), G = qc.size(1);
  torch::Tensor scores = torch::matmul(qc, k.transpose(-1, -2)).mul_(scale);
  scores.view({B, G, -1, chunk.c, chunk.kn})
      .masked_fill_(chunk.blocked.unsqueeze(1), lowest_finite(scores.scalar_type()));
  return torch::softmax(scores, -1, torch::kFloat32);
}

struct RecomputedAttention : torch::autograd::Function<RecomputedAttention> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor q,
                               torch::Tensor k, torch::Tensor v, torch::Tensor blocked) {
    ctx->save_for_backward({q, k, v, blocked});
    const auto B = q.size(0), H = q.size(1), T = q.size(2), hd = q.size(3);
    const auto G = k.size(1), Tk = k.size(2);
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    const torch::Tensor q5 = q.view({B, G, H / G, T, hd});
    const torch::Tensor kc = k.contiguous(), vc = v.contiguous();
    torch::Tensor out = torch::empty({B, T, H, hd}, q.options());
    const Chunking ch = chunking(B, H, T, Tk);
    for (std::int64_t r0 = 0; r0 < T; r0 += ch.rows) {
      const RowChunk chunk = row_chunk(blocked, r0, std::min(ch.rows, T - r0));
      const torch::Tensor probs =
          probabilities(query_rows(q5, r0, chunk.c), kc.narrow(2, chunk.k0, chunk.kn), chunk, scale)
              .to(q.scalar_type());
      put_rows(out, torch::matmul(probs, vc.narrow(2, chunk.k0, chunk.kn)), r0, chunk.c);
    }
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& q = saved[0];
    const torch::Tensor k = saved[1].contiguous(), v = saved[2].contiguous();
    const torch::Tensor& blocked = saved[3];
    const torch::Tensor& dout = grad_out[0];  // [B, T, H, hd]
    const auto B = q.size(0), H = q.size(1), T = q.size(2), hd = q.size(3);
    const auto G = k.size(1), Tk = k.size(2);
    const auto dtype = q.scalar_type();
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    const torch::Tensor q5 = q.view({B, G, H / G, T, hd});
    const Chunking ch = chunking(B, H, T, Tk);

    // Gradients nobody needs are not computed (k and v of a frozen first layer under LoRA).
    const bool need_q = ctx->needs_input_grad(0), need_k = ctx->needs_input_grad(1),
               need_v = ctx->needs_input_grad(2);
    torch::Tensor dq = need_q ? torch::empty({B, T, H, hd}, q.options()) : torch::Tensor();
    // dk and dv sum over every query row: chunk by chunk, in float32.
    const auto sum_options = k.options().dtype(dtype == torch::kDouble ? dtype : torch::kFloat32);
    torch::Tensor dk = need_k ? torch::zeros({B, G, Tk, hd}, sum_options) : torch::Tensor();
    torch::Tensor dv = need_v ? torch::zeros({B, G, Tk, hd}, sum_options) : torch::Tensor();
    for (std::int64_t r0 = 0; r0 < T; r0 += ch.rows) {
      const RowChunk chunk = row_chunk(blocked, r0, std::min(ch.rows, T - r0));
      const torch::Tensor kw = k.narrow(2, chunk.k0, chunk.kn),
                          vw = v.narrow(2, chunk.k0, chunk.kn);
      const torch::Tensor qc = query_rows(q5, r0, chunk.c);
      const torch::Tensor doc = grouped_rows(dout, G, r0, chunk.c);  // [B, G, R·c, hd]
      torch::Tensor p32 = probabilities(qc, kw, chunk, scale);
      // out = probs·v: dv = probsᵀ·dout, dprobs = dout·vᵀ (probs rounded as in forward).
      if (need_v)
        dv.narrow(2, chunk.k0, chunk.kn).add_(torch::matmul(p32.to(dtype).transpose(-1, -2), doc));
      if (!need_q && !need_k) continue;
      // softmax's own backward, in float32 on the float32 probabilities, then the cast back to
      // the scores' dtype, the mask (blocked scores get no gradient) and the scale.
      torch::Tensor ds = torch::_softmax_backward_data(
                             torch::matmul(doc, vw.transpose(-1, -2)).to(torch::kFloat32), p32, -1,
                             torch::kFloat32)
                             .to(dtype);
      p32.reset();
      ds.view({B, G, -1, chunk.c, chunk.kn}).masked_fill_(chunk.blocked.unsqueeze(1), 0);
      ds.mul_(scale);
      // scores = q·kᵀ: dq = ds·k, dk = dsᵀ·q.
      if (need_q) put_rows(dq, torch::matmul(ds, kw), r0, chunk.c);
      if (need_k) dk.narrow(2, chunk.k0, chunk.kn).add_(torch::matmul(ds.transpose(-1, -2), qc));
    }
    return {need_q ? dq.transpose(1, 2) : torch::Tensor(), need_k ? dk.to(dtype) : torch::Tensor(),
            need_v ? dv.to(dtype) : torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

ReferenceAttention::ReferenceAttention() : previous_(reference_attention.exchange(true)) {}
ReferenceAttention::~ReferenceAttention() { reference_attention = previous_; }

AttentionChunkRows::AttentionChunkRows(std::int64_t rows)
    : previous_(forced_chunk_rows.exchange(rows)) {}
AttentionChunkRows::~AttentionChunkRows() { forced_chunk_rows = previous_; }

torch::Tensor attention_core(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const torch::Tensor& blocked) {
  if (reference_attention) return attention_reference(q, k, v, blocked);
  return RecomputedAttention::apply(q, k, v, blocked);
}

}  // namespace rlhf::detail
