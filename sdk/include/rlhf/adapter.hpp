// Adapter — parameter-efficient fine-tuning layers attached to a model (kind "adapter").
//
// attach() wraps target Linears (by module name) with AdapterLayers; from then on only the
// adapter's parameters train. set_enabled(false) must give the base model exactly: that is the
// reference policy of DPO-style losses. save() writes the Hugging Face PEFT layout.
//
// Loading a PEFT folder: a table with `path = "DIR"` (the pipeline's [adapter], a stage's
// `adapter` override, or the host's `--adapter DIR`) configures the adapter from
// DIR/adapter_config.json — those settings win; a key the table sets too must agree with the
// folder, else ConfigError at that key naming the file. The host then calls attach() and
// load(DIR) (host/adapter_folder.hpp); without `plugin`, the plugin is adapter_config.json's
// `peft_type`, lower-cased ("LORA" → "lora").
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "rlhf/plugin.hpp"

// torch::Tensor is at::Tensor brought in by a using-declaration; forward-declared the same way
// (a `class Tensor;` in namespace torch conflicts with LibTorch's own headers under clang).
namespace at {
class Tensor;
}
namespace torch {
using at::Tensor;
}

namespace rlhf {

class CausalLM;

class Adapter : public Plugin {
 public:
  // Wraps the target Linears of `model`; freezes every base parameter.
  virtual void attach(CausalLM& model) = 0;
  // Trainable tensors (fp32 master copies), in a fixed order.
  virtual std::vector<torch::Tensor> parameters() = 0;
  // Named trainable tensors in PEFT's key names (checkpoints, optimizer state).
  virtual std::vector<std::pair<std::string, torch::Tensor>> named_parameters() = 0;
  virtual void set_enabled(bool on) = 0;
  virtual bool enabled() const = 0;
  // Dropout on/off.
  virtual void set_training(bool on) = 0;
  // Writes adapter_model.safetensors + adapter_config.json (PEFT) into `dir`.
  virtual void save(const std::filesystem::path& dir) const = 0;
  // Loads weights saved by save() (or by PEFT) into the attached layers. Attached to a
  // weightless model (meta device, `rlhf-host --check`), checks the folder's tensor names,
  // shapes and dtypes from the headers without reading a weight.
  virtual void load(const std::filesystem::path& dir) = 0;
  // Folds the deltas into the base weights (dequantizing quantized ones) and detaches.
  virtual void merge() = 0;
};

}  // namespace rlhf
