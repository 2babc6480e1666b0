// Quantizer — turns a dense weight into a compact LinearWeight (kind "quantizer").
//
// The model loader calls quantize() for every projection weight (never for embeddings, norms
// or lm_head). A quantizer that has a checkpoint format of its own (e.g. bitsandbytes 4-bit
// keys) can also recognise and load pre-quantized tensors without a dequantize/requantize.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "rlhf/linear.hpp"
#include "rlhf/plugin.hpp"

namespace rlhf {

// Read access to a checkpoint's tensors by name (implemented by the safetensors loader).
class TensorSource {
 public:
  virtual ~TensorSource();
  virtual bool contains(const std::string& name) const = 0;
  // Loads one tensor (CPU, its stored dtype); throws rlhf::Error naming file and tensor.
  virtual torch::Tensor load(const std::string& name) const = 0;
};

class Quantizer : public Plugin {
 public:
  // `w`: dense [out, in] weight (any float dtype, CPU or the target device). `name`: module path
  // ("model.layers.0.self_attn.q_proj"), for messages. `compute_dtype`: dtype of forward().
  virtual std::shared_ptr<LinearWeight> quantize(const torch::Tensor& w, const std::string& name,
                                                 torch::ScalarType compute_dtype) = 0;

  // If `source` holds this quantizer's pre-quantized tensors for module `name`, loads them as
  // they are and returns the weight; otherwise returns nullptr (the loader then quantizes the
  // dense `name + ".weight"`). Default: no checkpoint format.
  virtual std::shared_ptr<LinearWeight> load_prequantized(const TensorSource& source,
                                                          const std::string& name,
                                                          torch::ScalarType compute_dtype) {
    (void)source, (void)name, (void)compute_dtype;
    return nullptr;
  }

  // Whether the weights quantize() returns can be trained directly (their storage is a
  // parameter that takes gradients), so a stage without an adapter can fine-tune them. Packed
  // low-bit storage cannot: such a base trains through an adapter (QLoRA), and a training stage
  // with this quantizer and no adapter is refused (policy_setup_check.hpp). Default: false.
  virtual bool trainable() const { return false; }

  // What `config.json` gains when a model quantized by this plugin is saved
  // (transformers' "quantization_config"), as a JSON string; empty for none.
  virtual std::string quantization_config_json() const { return {}; }

  // Whether this quantizer, as configured, may load a checkpoint of its format whose config.json
  // carries `quantization_config_json` (transformers' object, as JSON text): "" when it may,
  // else what contradicts, in one phrase ("double_quant = false, but bnb_4bit_use_double_quant
  // is true"). Only settings given explicitly count: a default yields to the checkpoint, whose
  // stored tensors carry their own layout. The host asks when a pipeline names a quantizer for
  // a pre-quantized model (host/checkpoint_quantizer.hpp). Default: "".
  virtual std::string contradiction(const std::string& quantization_config_json) const {
    (void)quantization_config_json;
    return {};
  }
};

}  // namespace rlhf
