// PEFT adapter folders in: a folder holding adapter_config.json + adapter_model.safetensors (as
// PEFT's save_pretrained or a stage's `adapter/` writes it) made into a live Adapter on a model.
//
// The host names no adapter plugin: the folder's adapter_config.json does, through `peft_type`
// lower-cased ("LORA" → plugin "lora"). The plugin is created from a table holding
// `path = "DIR"` (plus, in a pipeline, the keys the table sets), reads its settings from the
// folder (sdk/include/rlhf/adapter.hpp), and is then attached and loaded with the folder's
// weights. Used by pipelines (`[adapter] path`, a stage's `adapter = { path = … }`) and by the
// subcommands' `--adapter DIR`.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

namespace rlhf {
class Adapter;
class CausalLM;
class Config;
}  // namespace rlhf

namespace rlhf::host {

class PluginRegistry;

// The adapter plugin PEFT folder `dir` names: its adapter_config.json's `peft_type`,
// lower-cased. Throws rlhf::Error naming the folder or file when it is missing, not JSON, or has
// no peft_type.
std::string adapter_plugin_of_folder(const std::filesystem::path& dir);

// The adapter of a pipeline table ([adapter], or a stage's merged `adapter`): its `plugin`, or
// without one the plugin `path` names (adapter_plugin_of_folder). `name` and `path` receive
// the plugin's name and the table's `path` (empty without one). Errors are located at the key.
std::shared_ptr<rlhf::Adapter> create_adapter(PluginRegistry& registry, const rlhf::Config& table,
                                              std::string& name, std::filesystem::path& path);

// Attaches `adapter` to `model` and, when `path` is not empty, loads that folder's weights into
// it (on a weightless --check model: checks their names and shapes from the headers).
void attach_adapter(rlhf::Adapter& adapter, rlhf::CausalLM& model,
                    const std::filesystem::path& path);

// PEFT folder `dir` as a live adapter on `model`: its plugin configured from the folder,
// attached, loaded. The one function for `--adapter DIR` (logprobs, export, generate) and a
// frozen reference adapter.
std::shared_ptr<rlhf::Adapter> load_adapter_folder(PluginRegistry& registry,
                                                   const std::filesystem::path& dir,
                                                   rlhf::CausalLM& model);

}  // namespace rlhf::host
