#include "adapter_folder.hpp"

#include <toml++/toml.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>

#include "plugin_registry.hpp"
#include "rlhf/adapter.hpp"
#include "rlhf/config.hpp"
#include "rlhf/error.hpp"
#include "rlhf/toolkit/causal_lm.hpp"

namespace rlhf::host {

namespace fs = std::filesystem;

std::string adapter_plugin_of_folder(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error("adapter folder '" + dir.string() +
                "' does not exist (a PEFT adapter folder holds adapter_config.json and "
                "adapter_model.safetensors)");
  const fs::path file = dir / "adapter_config.json";
  std::ifstream in(file);
  if (!in)
    throw Error(file.string() +
                ": missing; a PEFT adapter folder holds adapter_config.json and "
                "adapter_model.safetensors");
  nlohmann::json config;
  try {
    in >> config;
  } catch (const std::exception& e) {
    throw Error(file.string() + ": not valid JSON: " + e.what());
  }
  if (!config.is_object() || !config.contains("peft_type") || !config["peft_type"].is_string())
    throw Error(file.string() +
                ": no \"peft_type\" (e.g. \"LORA\"), so no adapter plugin to load " +
                "it with; set [adapter] plugin");
  std::string name = config["peft_type"].get<std::string>();
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name;
}

std::shared_ptr<Adapter> create_adapter(PluginRegistry& registry, const Config& table,
                                        std::string& name, fs::path& path) {
  path = table.get<std::string>("path", "");
  const auto plugin = table.get_optional<std::string>("plugin");
  if (plugin) {
    name = *plugin;
  } else if (!path.empty()) {
    try {
      name = adapter_plugin_of_folder(path);
    } catch (const Error& e) {
      table.fail("path", e.what());
    }
  } else {
    name = table.require<std::string>("plugin");  // throws: names the missing key
  }
  const std::string key = plugin ? "plugin" : "path";
  try {
    return registry.create<Adapter>(PluginKind::adapter, name, table);
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    table.fail(key, plugin ? std::string(e.what())
                           : std::string(e.what()) + " (named by " +
                                 (path / "adapter_config.json").string() + " peft_type)");
  }
}

void attach_adapter(Adapter& adapter, CausalLM& model, const fs::path& path) {
  adapter.attach(model);
  if (!path.empty()) adapter.load(path);
}

std::shared_ptr<Adapter> load_adapter_folder(PluginRegistry& registry, const fs::path& dir,
                                             CausalLM& model) {
  adapter_plugin_of_folder(dir);  // a missing folder or config: one line naming it, no key
  toml::table table;
  table.insert("path", dir.string());
  const Config config(&table, "--adapter", "");
  std::string name;
  fs::path path;
  auto adapter = create_adapter(registry, config, name, path);
  config.check_no_unknown_keys();
  attach_adapter(*adapter, model, path);
  return adapter;
}

}  // namespace rlhf::host
