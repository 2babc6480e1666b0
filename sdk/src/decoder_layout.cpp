// Decoder layouts for completion_logits: plain rows, and packed rows of segments — single rows
// without their padding, or pairs around their shared prefix (docs/algorithms.md, "Packed rows").
#include "rlhf/decoder_layout.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <numeric>
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

// One example's tokens as they sit in a packed row, and the completion tokens they predict.
struct Segment {
  std::vector<std::int64_t> ids, positions, branches;
  struct Target {
    std::int64_t source;  // index within the segment of the hidden state that predicts it
    std::int64_t token;
    std::int64_t row;  // the batch row
  };
  std::vector<Target> targets;
  std::int64_t length() const { return static_cast<std::int64_t>(ids.size()); }
};

// A row alone: every token in branch 0, visible to every later one.
Segment row_segment(const RowTokens& row, std::int64_t batch_row) {
  Segment s;
  const auto n = static_cast<std::int64_t>(row.ids.size());
  s.ids = row.ids;
  s.positions.resize(static_cast<std::size_t>(n));
  std::iota(s.positions.begin(), s.positions.end(), 0);
  s.branches.assign(static_cast<std::size_t>(n), 0);
  for (std::int64_t k = 1; k < n; ++k)
    if (row.labels[static_cast<std::size_t>(k)] != kIgnoreIndex)
      s.targets.push_back({k - 1, row.labels[static_cast<std::size_t>(k)], batch_row});
  return s;
}

// Two rows around their common leading tokens: shared part (branch 0), the rest of the first
// (branch 1), the rest of the second (branch 2, positions continuing from the shared part).
Segment pair_segment(const RowTokens& first, std::int64_t first_row, const RowTokens& second,
                     std::int64_t second_row) {
  const auto& a = first.ids;
  const auto& b = second.ids;
  const auto s = std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first - a.begin();
  const auto na = static_cast<std::int64_t>(a.size()), nb = static_cast<std::int64_t>(b.size());
  Segment out = row_segment(first, first_row);
  for (std::int64_t k = s; k < na; ++k) out.branches[static_cast<std::size_t>(k)] = 1;
  // Where the second row's logical position k sits in the segment.
  auto index = [&](std::int64_t k) { return k < s ? k : na + (k - s); };
  for (std::int64_t k = s; k < nb; ++k) {
    out.ids.push_back(b[static_cast<std::size_t>(k)]);
    out.positions.push_back(k);
    out.branches.push_back(2);
  }
  for (std::int64_t k = 1; k < nb; ++k)
    if (second.labels[static_cast<std::size_t>(k)] != kIgnoreIndex)
      out.targets.push_back({index(k - 1), second.labels[static_cast<std::size_t>(k)], second_row});
  return out;
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

DecoderLayout packed_layout(const Batch& batch, const ModelConfig& config, int rows_per_example) {
  const auto B = batch.input_ids.size(0);
  if (rows_per_example != 1 && rows_per_example != 2)
    throw Error("packed_layout: rows_per_example is 1 or 2");
  if (B % rows_per_example != 0)
    throw Error("packed_layout: a pair batch has an even number of rows");
  const std::vector<RowTokens> rows = real_tokens(batch);
  std::vector<Segment> segments;
  std::int64_t row_length = 0;
  for (const auto& r : rows)
    row_length = std::max(row_length, static_cast<std::int64_t>(r.ids.size()));
  if (rows_per_example == 2) {
    const auto P = B / 2;
    for (std::int64_t i = 0; i < P; ++i)
      segments.push_back(pair_segment(rows[static_cast<std::size_t>(i)], i,
                                      rows[static_cast<std::size_t>(P + i)], P + i));
  } else {
    for (std::int64_t b = 0; b < B; ++b)
      segments.push_back(row_segment(rows[static_cast<std::size_t>(b)], b));
  }

  // First fit by decreasing length into rows as long as the longest segment.
  std::vector<std::size_t> order(segments.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
    return segments[x].length() > segments[y].length();
  });
  const std::int64_t T = order.empty() ? 0 : segments[order.front()].length();
  std::vector<std::int64_t> fill;  // used length of each packed row
  std::vector<std::pair<std::size_t, std::int64_t>> placed(segments.size());  // (row, offset)
  for (auto k : order) {
    std::size_t r = 0;
    while (r < fill.size() && fill[r] + segments[k].length() > T) ++r;
    if (r == fill.size()) fill.push_back(0);
    placed[k] = {r, fill[r]};
    fill[r] += segments[k].length();
  }
  const auto R = static_cast<std::int64_t>(fill.size());
  DecoderLayout out;
  if (forward_flops(config, R, T) >= forward_flops(config, B, row_length)) return out;

  std::vector<std::int64_t> ids(static_cast<std::size_t>(R * T), 0);
  std::vector<std::int64_t> positions(ids.size(), 0), segment_ids(ids.size(), -1),
      branches(ids.size(), 0);
  struct Target {
    std::int64_t row, source, token;
  };
  std::vector<Target> all_targets;
  for (std::size_t k = 0; k < segments.size(); ++k) {
    const Segment& seg = segments[k];
    const auto start = static_cast<std::int64_t>(placed[k].first) * T + placed[k].second;
    for (std::int64_t t = 0; t < seg.length(); ++t) {
      const auto at = static_cast<std::size_t>(start + t);
      ids[at] = seg.ids[static_cast<std::size_t>(t)];
      positions[at] = seg.positions[static_cast<std::size_t>(t)];
      segment_ids[at] = static_cast<std::int64_t>(k);
      branches[at] = seg.branches[static_cast<std::size_t>(t)];
    }
    for (const auto& target : seg.targets)
      all_targets.push_back({target.row, start + target.source, target.token});
  }
  // Row by row, in each row's order (a row's sum adds its tokens in sequence, as row_layout does).
  std::stable_sort(all_targets.begin(), all_targets.end(),
                   [](const Target& x, const Target& y) { return x.row < y.row; });
  std::vector<std::int64_t> sources, targets, target_rows;
  for (const auto& t : all_targets) {
    sources.push_back(t.source);
    targets.push_back(t.token);
    target_rows.push_back(t.row);
  }
  out.input_ids = int64_tensor(ids).view({R, T});
  out.positions = int64_tensor(positions).view({R, T});
  out.segments = int64_tensor(segment_ids).view({R, T});
  out.branches = int64_tensor(branches).view({R, T});
  out.sources = int64_tensor(sources);
  out.targets = int64_tensor(targets);
  out.rows = int64_tensor(target_rows);
  out.batch_rows = B;
  return out;
}

}  // namespace rlhf::detail
