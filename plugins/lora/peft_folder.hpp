// A PEFT LoRA adapter folder as the lora plugin reads it (`path = "DIR"`): the settings of its
// adapter_config.json, which win over defaults (docs/formats.md, "LoRA adapters").
//
// adapter_config.json → LoraOptions:
//   r → r (default 8), lora_alpha → alpha (default 8), lora_dropout → dropout (default 0),
//   target_modules → target_modules (a list, "all-linear", or null: PEFT's Llama default
//   ["q_proj", "v_proj"]), use_rslora → use_rslora, init_lora_weights → init (unused: the
//   folder's weights are loaded).
// Refused, naming the key and the file, because the adapter would compute something else than
// PEFT does: peft_type other than "LORA", bias other than "none", use_dora, fan_in_fan_out,
// modules_to_save, layers_to_transform, a non-empty rank_pattern or alpha_pattern, and a
// target_modules regular expression (a string other than "all-linear").
#pragma once

#include <filesystem>
#include <string>

#include "lora_options.hpp"

namespace rlhf::lora {

inline constexpr const char* kAdapterConfigFile = "adapter_config.json";
inline constexpr const char* kAdapterWeightsFile = "adapter_model.safetensors";

// Reads `dir`/adapter_config.json. Throws rlhf::Error naming the file (and the key) when the
// folder or file is missing, not JSON, or asks for something the lora plugin does not compute.
LoraOptions read_peft_folder_options(const std::filesystem::path& dir);

}  // namespace rlhf::lora
