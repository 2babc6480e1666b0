// The "lora" adapter plugin (PEFT-compatible LoRA). Settings: lora_options.hpp.
//
// attach() freezes every model parameter and wraps each target Linear with a LoraLayer;
// save()/load() use PEFT's layout (adapter_model.safetensors with keys
// "base_model.model.<module>.lora_A.weight" / ".lora_B.weight", adapter_config.json);
// merge() folds scaling * B @ A into dense base weights (dequantizing quantized ones).
// Configured with `path` (lora_options.hpp), its settings are the PEFT folder's; the host
// attaches it and then load()s the folder (host/adapter_folder.hpp).
#pragma once

#include "lora_layer.hpp"
#include "lora_options.hpp"
#include "rlhf/adapter.hpp"

namespace rlhf::lora {

class LoraAdapter : public Adapter {
 public:
  explicit LoraAdapter(const Config& config);

  void attach(CausalLM& model) override;
  std::vector<torch::Tensor> parameters() override;
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters() override;
  void set_enabled(bool on) override;
  bool enabled() const override { return enabled_; }
  void set_training(bool on) override;
  void save(const std::filesystem::path& dir) const override;
  void load(const std::filesystem::path& dir) override;
  void merge() override;

  const LoraOptions& options() const { return options_; }

 private:
  struct Target {
    std::string path;  // "model.layers.0.self_attn.q_proj"
    std::shared_ptr<Linear> linear;
    std::shared_ptr<LoraLayer> layer;
  };
  void detach();
  void check_table_targets(
      const std::vector<std::pair<std::string, std::shared_ptr<Linear>>>& linears);
  std::vector<std::pair<std::string, torch::Tensor>> peft_tensors() const;

  LoraOptions options_;
  std::vector<Target> targets_;
  torch::ScalarType model_dtype_ = torch::kFloat32;
  bool enabled_ = true;
  bool training_ = true;
};

// PEFT's tensor names for module `path`.
std::string peft_key_A(const std::string& path);
std::string peft_key_B(const std::string& path);

}  // namespace rlhf::lora
