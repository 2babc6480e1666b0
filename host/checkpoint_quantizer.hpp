// Pre-quantized checkpoints: a model folder whose config.json carries `quantization_config`
// (as `rlhf-host quantize` or transformers + bitsandbytes write it) loads with the quantizer
// plugin its format needs, without the user naming it, as transformers does.
//
// The plugin comes from the format, never from a list in the host:
//   quant_method "bitsandbytes", load_in_4bit → the plugin named by bnb_4bit_quant_type
//                                               ("nf4"; transformers' default "fp4")
//   quant_method "bitsandbytes", load_in_8bit → "int8"
//   anything else                             → an error naming config.json
// created with its defaults: it loads the stored tensors as they are (their quant state records
// blocksize, double quantization, dtype).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace rlhf {
class Quantizer;
}  // namespace rlhf

namespace rlhf::host {

class PluginRegistry;

struct CheckpointQuantization {
  std::filesystem::path config_file;  // <model>/config.json
  std::string plugin;                 // the quantizer plugin that loads it ("nf4")
  std::string format;                 // for messages: "bitsandbytes 4-bit nf4"
  std::string json;                   // the quantization_config object, as JSON text
};

// nullopt for a dense checkpoint (no quantization_config, or null). Throws rlhf::Error naming
// config.json when it cannot be read or its quantization_config is not one rlhf-host loads.
std::optional<CheckpointQuantization> checkpoint_quantization(
    const std::filesystem::path& model_dir);

// The quantizer to load `model_dir` with:
//  - a dense checkpoint: `named` (the pipeline's [quantizer], may be null: dense);
//  - a quantized one: `named` when it is the plugin the checkpoint needs and its explicit
//    settings agree (Quantizer::contradiction); without `named`, that plugin made by `registry`
//    with its defaults. A `named` plugin (`named_name`) that contradicts is an rlhf::Error naming
//    both and config.json.
std::shared_ptr<rlhf::Quantizer> quantizer_for_model(PluginRegistry& registry,
                                                     const std::filesystem::path& model_dir,
                                                     const std::shared_ptr<rlhf::Quantizer>& named,
                                                     const std::string& named_name);

}  // namespace rlhf::host
