// Decoder layouts for completion_logits: plain rows, and pairs packed around their shared prefix
// (docs/algorithms.md, "Shared-prefix pair forward").
#include "rlhf/decoder_layout.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <vector>

#include "rlhf/error.hpp"

namespace rlhf::detail {

namespace {

// One row's real tokens (attention_mask = 1, in order) and their labels.
struct RowTokens {
  std::vector<std::int64_t> ids, labels;
};

std::vector<RowTokens> real_tokens(const Batch& batch) {
  const at::Tensor ids = batch.input_ids.to(torch::kCPU, torch::kInt64).contiguous();
  const at::Tensor mask = batch.attention_mask.to(torch::kCPU, torch::kInt64).contiguous();
  const at::Tensor labels = batch.labels.to(torch::kCPU, torch::kInt64).contiguous();
  auto i = ids.accessor<std::int64_t, 2>();
  auto m = mask.accessor<std::int64_t, 2>();
  auto l = labels.accessor<std::int64_t, 2>();
  std::vector<RowTokens> rows(static_cast<std::size_t>(ids.size(0)));
  for (std::int64_t b = 0; b < ids.size(0); ++b)
    for (std::int64_t t = 0; t < ids.size(1); ++t)
      if (m[b][t] != 0) {
        rows[static_cast<std::size_t>(b)].ids.push_back(i[b][t]);
        rows[static_cast<std::size_t>(b)].labels.push_back(l[b][t]);
      }
  return rows;
}

at::Tensor int64_tensor(const std::vector<std::int64_t>& values) {
  return torch::tensor(values, torch::kInt64);
}

// Forward FLOPs of `rows` rows padded to `length`: the projections per position, and attention's
// two T×T products per (query, key) pair, masked or not (the score matrix is dense).
double forward_flops(const ModelConfig& c, std::int64_t rows, std::int64_t length) {
  const double H = static_cast<double>(c.hidden_size), I = static_cast<double>(c.intermediate_size);
  const double q = static_cast<double>(c.num_attention_heads * c.head_dim);
  const double kv = static_cast<double>(c.num_key_value_heads * c.head_dim);
  const double per_position = 2.0 * (H * q + 2.0 * H * kv + q * H + 3.0 * H * I);
  const double per_pair = 4.0 * q;
  const double n = static_cast<double>(rows), T = static_cast<double>(length);
  return n * (T * per_position + T * T * per_pair);
}

}  // namespace

DecoderLayout row_layout(const Batch& batch) {
  const at::Tensor labels = batch.labels.to(torch::kCPU, torch::kInt64).contiguous();
  auto l = labels.accessor<std::int64_t, 2>();
  const auto B = labels.size(0), T = labels.size(1);
  std::vector<std::int64_t> sources, targets, rows;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 1; t < T; ++t)
      if (l[b][t] != kIgnoreIndex) {
        sources.push_back(b * T + t - 1);
        targets.push_back(l[b][t]);
        rows.push_back(b);
      }
  DecoderLayout out;
  out.input_ids = batch.input_ids;
  out.attention_mask = batch.attention_mask;
  out.sources = int64_tensor(sources);
  out.targets = int64_tensor(targets);
  out.rows = int64_tensor(rows);
  out.batch_rows = B;
  return out;
}

DecoderLayout shared_prefix_layout(const Batch& batch, const ModelConfig& config) {
  const auto B = batch.input_ids.size(0);
  if (B % 2 != 0) throw Error("shared_prefix_layout: a pair batch has an even number of rows");
  const auto P = B / 2;
  const std::vector<RowTokens> rows = real_tokens(batch);

  // Per pair: the shared length s and the packed length n_first + n_second − s.
  std::vector<std::int64_t> shared(static_cast<std::size_t>(P));
  std::int64_t packed_length = 0, row_length = 0;
  for (std::int64_t i = 0; i < P; ++i) {
    const auto& a = rows[static_cast<std::size_t>(i)].ids;
    const auto& b = rows[static_cast<std::size_t>(P + i)].ids;
    const auto s = std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first - a.begin();
    shared[static_cast<std::size_t>(i)] = s;
    const auto na = static_cast<std::int64_t>(a.size()), nb = static_cast<std::int64_t>(b.size());
    packed_length = std::max(packed_length, na + nb - s);
    row_length = std::max({row_length, na, nb});
  }
  DecoderLayout out;
  if (forward_flops(config, P, packed_length) >= forward_flops(config, B, row_length)) return out;

  const auto T = packed_length;
  std::vector<std::int64_t> ids(static_cast<std::size_t>(P * T), 0);
  std::vector<std::int64_t> positions(static_cast<std::size_t>(P * T), 0);
  std::vector<std::int64_t> branches(static_cast<std::size_t>(P * T), -1);
  std::vector<std::int64_t> sources, targets, target_rows;
  // Targets in batch-row order (all first rows, then all second rows), like row_layout.
  for (int side = 0; side < 2; ++side) {
    for (std::int64_t i = 0; i < P; ++i) {
      const auto& row = rows[static_cast<std::size_t>(side * P + i)];
      const auto s = shared[static_cast<std::size_t>(i)];
      const auto first_length =
          static_cast<std::int64_t>(rows[static_cast<std::size_t>(i)].ids.size());
      // Where logical position k of this row sits in the packed row.
      auto packed_index = [&](std::int64_t k) {
        return side == 0 || k < s ? k : first_length + (k - s);
      };
      const auto n = static_cast<std::int64_t>(row.ids.size());
      for (std::int64_t k = side == 0 ? 0 : s; k < n; ++k) {
        const auto at = static_cast<std::size_t>(i * T + packed_index(k));
        ids[at] = row.ids[static_cast<std::size_t>(k)];
        positions[at] = k;
        branches[at] = k < s ? 0 : side + 1;
      }
      for (std::int64_t k = 1; k < n; ++k)
        if (row.labels[static_cast<std::size_t>(k)] != kIgnoreIndex) {
          sources.push_back(i * T + packed_index(k - 1));
          targets.push_back(row.labels[static_cast<std::size_t>(k)]);
          target_rows.push_back(side * P + i);
        }
    }
  }
  out.input_ids = int64_tensor(ids).view({P, T});
  out.positions = int64_tensor(positions).view({P, T});
  out.branches = int64_tensor(branches).view({P, T});
  out.sources = int64_tensor(sources);
  out.targets = int64_tensor(targets);
  out.rows = int64_tensor(target_rows);
  out.batch_rows = B;
  return out;
}

}  // namespace rlhf::detail
