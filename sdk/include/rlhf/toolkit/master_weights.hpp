// MasterWeights — mixed precision for a model trained in bfloat16 or float16: the model computes
// with its narrow weights, AdamW updates float32 copies of them (the masters) and each step
// rounds the masters back into the model.
//
// Why: an AdamW update is about learning_rate × (a number near 1). bfloat16 keeps 8 significant
// bits, so a weight of 0.02 moves only by multiples of 2^-13 ≈ 1.2e-4; with TRL's learning rate
// for a full DPO fine-tune (1e-6) every update rounds away and the model does not train. The
// masters accumulate the small updates exactly as a float32 run would, and the AdamW moments
// are float32 too (docs/algorithms.md, "Training loop").
//
// Float32 tensors (LoRA adapters, heads, a float32 model) are their own masters: nothing is
// copied and a float32 run is bit for bit what it was without this class.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

namespace rlhf {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

class MasterWeights {
 public:
  // `trainable`: the tensors the model computes with (requires_grad). A bfloat16/float16 one
  // gets a float32 master initialised from it.
  explicit MasterWeights(const NamedTensors& trainable);

  // What AdamW updates, gradient clipping measures and checkpoints hold: in `trainable`'s order
  // and names, every tensor float32.
  const NamedTensors& params() const { return masters_; }

  // True when at least one tensor is narrower than float32 (the masters are copies).
  bool mixed() const { return mixed_; }

  // After backward (and the data-parallel all-reduce): each narrow tensor's gradient becomes
  // its master's gradient in float32, and the narrow gradient is released, so the next step's
  // backward starts from none. Gradient accumulation over micro-batches happens before this,
  // in the model's dtype.
  void take_gradients();

  // After the optimizer step, or after loading a checkpoint into params(): rounds every master
  // into its model tensor (round to nearest even) and releases the masters' gradients.
  void write_back();

 private:
  NamedTensors model_;    // the tensors the model computes with
  NamedTensors masters_;  // float32: the same tensor as model_ where that is float32 already
  bool mixed_ = false;
};

}  // namespace rlhf
