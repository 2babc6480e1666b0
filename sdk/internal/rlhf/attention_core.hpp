// The attention core of every CausalLM layer (sdk/src/attention_core.cpp): softmax of the
// masked, scaled scores q·kᵀ, times v, as one autograd function that saves no T×T tensor for
// backward and recomputes the probabilities there. Internal: the model calls it, and tests hold
// it to the plain autograd form through the two scopes below.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace rlhf::detail {

// q [B, H, Tq, hd], k and v [B, G, Tk, hd] with G dividing H (query head h reads kv head
// h / (H / G)), blocked [B, 1, Tq, Tk] bool (true = key not visible to the query).
// Returns [B, Tq, H, hd] in q's dtype.
at::Tensor attention_core(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          const at::Tensor& blocked);

// While one lives, attention_core runs the plain autograd form it replaces (repeated k and v,
// the float32 softmax output and the rounded probabilities saved for backward).
class ReferenceAttention {
 public:
  ReferenceAttention();
  ~ReferenceAttention();
  ReferenceAttention(const ReferenceAttention&) = delete;
  ReferenceAttention& operator=(const ReferenceAttention&) = delete;

 private:
  bool previous_;
};

// While one lives, attention_core works through `rows` query rows at a time (0: its own choice,
// ~4M scores a chunk), so tests reach the several-chunk path with small tensors.
class AttentionChunkRows {
 public:
  explicit AttentionChunkRows(std::int64_t rows);
  ~AttentionChunkRows();
  AttentionChunkRows(const AttentionChunkRows&) = delete;
  AttentionChunkRows& operator=(const AttentionChunkRows&) = delete;

 private:
  std::int64_t previous_;
};

}  // namespace rlhf::detail
