// The "lora" adapter's settings ([adapter] table), their validation and PEFT's
// adapter_config.json (docs/formats.md, "LoRA adapters").
//
//   r              = 8                       # rank
//   alpha          = 8                       # scaling numerator; PEFT's name `lora_alpha` is
//                                            # accepted as an alias (give one of the two)
//   dropout        = 0.0                     # on the adapter input, training only
//   target_modules = ["q_proj", "v_proj"]    # module names or suffixes, or "all-linear"
//   use_rslora     = false                   # scaling alpha / sqrt(r) instead of alpha / r
//   init           = "default"               # A Kaiming-uniform, B zero; "gaussian": A ~ N(0, 1/r)
//   bias           = "none"                  # the only supported value
//   path           = "runs/sft/sft/adapter"  # a PEFT adapter folder to start from (below)
// Defaults are PEFT's LoraConfig defaults.
//
// With `path`, the folder's adapter_config.json gives r, alpha, dropout, target_modules and
// use_rslora (peft_folder.hpp), as PeftModel.from_pretrained takes them, and the host loads the
// folder's weights after attach(). A key the table sets as well must agree with the folder: a
// contradicting one is a ConfigError at that key naming the file (target_modules is compared by
// the modules it selects, at attach()); `init` is refused (the folder's weights are loaded).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "rlhf/config.hpp"

namespace rlhf::lora {

struct LoraOptions {
  std::int64_t r = 8;
  double alpha = 8.0;
  double dropout = 0.0;
  std::vector<std::string> target_modules = {"q_proj", "v_proj"};
  bool all_linear = false;  // target_modules = "all-linear"
  bool use_rslora = false;
  std::string init = "default";  // "default" | "gaussian"
  std::filesystem::path path;    // the PEFT folder these settings were read from (or empty)
  // With `path`: the target_modules the table gave as well (null when it gave none), checked at
  // attach() to select the same modules as the folder's.
  std::shared_ptr<const LoraOptions> table_targets;

  // Reads and validates every key; bad values throw rlhf::ConfigError at the key.
  static LoraOptions from_config(const Config& config);

  double scaling() const;
  // True when module path `path` (e.g. "model.layers.0.self_attn.q_proj") is a target:
  // `all-linear`, or the path equals a target or ends with "." + target (PEFT's rule).
  bool targets(const std::string& path) const;
};

// PEFT's adapter_config.json for these options; `modules` are the wrapped module names
// (last path component, sorted and unique).
std::string adapter_config_json(const LoraOptions& options,
                                const std::vector<std::string>& modules);

}  // namespace rlhf::lora
