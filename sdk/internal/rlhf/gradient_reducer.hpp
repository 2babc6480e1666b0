// GradientReducer — data parallel: sums the trainable tensors' gradients over the ranks once per
// optimizer step, overlapped with backward (docs/architecture.md, "Data parallel").
//
// The tensors are grouped into buckets (Distributed::buckets) in reverse order, the order in
// which backward completes their gradients. Before the backward of this rank's last micro-batch
// of a step the Trainer calls arm(): from then on, each time a tensor's gradient is complete (a
// post-hook on its gradient accumulator), the buckets whose tensors are all complete are
// started, in bucket order, while backward goes on with earlier layers. finish() starts what is
// left (a tensor with no gradient, or a rank that had no micro-batch this step, contributes
// zeros), waits for every bucket and writes the sums into the gradients. Every rank starts the
// buckets in the same order, so the ranks' reductions always pair up.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rlhf/toolkit/optimizer.hpp"

namespace rlhf {

class Distributed;

class GradientReducer {
 public:
  // Nothing happens (no hooks, finish() returns at once) unless `dist` is active.
  GradientReducer(const NamedTensors& trainable, Distributed& dist);
  ~GradientReducer();  // removes the hooks
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  void arm();
  // `step` (1-based) names the step in an error. Returns how many buckets backward started.
  std::size_t finish(std::int64_t step);
  std::size_t bucket_count() const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the hooks, which outlive nothing
};

}  // namespace rlhf
