// rlhf::Linear — every projection of the model
// (docs/architecture.md, "Linear, quantizers and adapters").
//
//   y = base(x) [+ bias] [+ adapter(x)]
//
// `base` is a LinearWeight: dense by default (DenseWeight), or whatever a Quantizer made
// (e.g. NF4 storage that computes x @ Wᵀ without keeping a dense W for autograd). An
// AdapterLayer (LoRA) may be attached and adds its delta; switching it off yields the base
// model exactly, which is how DPO gets its reference policy without a second copy of weights.
#pragma once

#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rlhf {

// The base weight of a Linear: W of shape [out_features, in_features], y = x @ Wᵀ.
// A torch Module registered as the Linear's child "base": a dense weight registers W as a
// parameter (trainable in a full fine-tune), a quantized one registers its storage as buffers,
// so Module::to(device) and named_parameters()/named_buffers() see them.
class LinearWeight : public torch::nn::Module {
 public:
  ~LinearWeight() override;

  // x: [..., in_features] in the compute dtype. Returns [..., out_features] in x's dtype.
  // Differentiable with respect to x (and W when W is trainable).
  virtual torch::Tensor forward(const torch::Tensor& x) const = 0;

  // W reconstructed as a dense tensor [out, in] of `dtype` (for merging, export, benchmarks).
  virtual torch::Tensor dense(torch::ScalarType dtype = torch::kFloat32) const = 0;

  virtual std::int64_t in_features() const = 0;
  virtual std::int64_t out_features() const = 0;

  // Bytes this weight occupies in memory (storage plus quantization state).
  virtual std::int64_t storage_bytes() const = 0;

  // The tensors to write for this weight under module path `prefix` (e.g.
  // "model.layers.0.self_attn.q_proj"), in the checkpoint layout of its format:
  // dense → {prefix + ".weight": W}; NF4 → the bitsandbytes 4-bit keys.
  virtual std::vector<std::pair<std::string, torch::Tensor>> state_dict(
      const std::string& prefix) const = 0;

  // A short name of the storage format ("dense", "nf4", …), for logs and benchmarks.
  virtual std::string format() const = 0;
};

// A plain dense weight (the default base weight).
class DenseWeight : public LinearWeight {
 public:
  explicit DenseWeight(torch::Tensor weight);  // [out, in]
  torch::Tensor forward(const torch::Tensor& x) const override;
  torch::Tensor dense(torch::ScalarType dtype = torch::kFloat32) const override;
  std::int64_t in_features() const override { return weight_.size(1); }
  std::int64_t out_features() const override { return weight_.size(0); }
  std::int64_t storage_bytes() const override;
  std::vector<std::pair<std::string, torch::Tensor>> state_dict(
      const std::string& prefix) const override;
  std::string format() const override { return "dense"; }
  const torch::Tensor& weight() const { return weight_; }

 private:
  torch::Tensor weight_;
};

// A delta added to a Linear's output (LoRA and friends). Not part of the model's module tree:
// the Adapter plugin that made it owns its parameters (Adapter::parameters()), so the base
// model's named_parameters() stay exactly the checkpoint's.
class AdapterLayer {
 public:
  virtual ~AdapterLayer();
  // x: the Linear's input [..., in]; returns the delta [..., out] in x's dtype.
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  void set_enabled(bool on) { enabled_ = on; }
  bool enabled() const { return enabled_; }
  // Training mode (dropout on) vs evaluation.
  void set_training(bool on) { training_ = on; }
  bool training() const { return training_; }

 private:
  bool enabled_ = true;
  bool training_ = true;
};

class Linear : public torch::nn::Module {
 public:
  explicit Linear(std::shared_ptr<LinearWeight> weight, torch::Tensor bias = {});

  torch::Tensor forward(const torch::Tensor& x);

  const std::shared_ptr<LinearWeight>& weight() const { return weight_; }
  // Replaces the base weight (e.g. dense → quantized, or back after merging); shapes must agree.
  void set_weight(std::shared_ptr<LinearWeight> weight);
  const torch::Tensor& bias() const { return bias_; }

  const std::shared_ptr<AdapterLayer>& adapter() const { return adapter_; }
  // Attaches (or with nullptr, detaches) an adapter.
  void set_adapter(std::shared_ptr<AdapterLayer> adapter);

  std::int64_t in_features() const { return weight_->in_features(); }
  std::int64_t out_features() const { return weight_->out_features(); }

 private:
  std::shared_ptr<LinearWeight> weight_;
  torch::Tensor bias_;
  std::shared_ptr<AdapterLayer> adapter_;
};

}  // namespace rlhf
