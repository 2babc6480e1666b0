#include "checkpoint_quantizer.hpp"

#include <nlohmann/json.hpp>

#include <fstream>

#include "plugin_registry.hpp"
#include "rlhf/error.hpp"
#include "rlhf/quantizer.hpp"

namespace rlhf::host {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool flag(const json& q, const char* key) {
  return q.contains(key) && q[key].is_boolean() && q[key].get<bool>();
}

}  // namespace

std::optional<CheckpointQuantization> checkpoint_quantization(const fs::path& model_dir) {
  const fs::path file = model_dir / "config.json";
  std::ifstream in(file);
  if (!in) return std::nullopt;  // the model loader reports a missing config.json
  json config;
  try {
    in >> config;
  } catch (const std::exception&) {
    return std::nullopt;  // ... and a config.json that is not JSON, with its own message
  }
  if (!config.is_object() || !config.contains("quantization_config") ||
      config["quantization_config"].is_null())
    return std::nullopt;
  const json& q = config["quantization_config"];
  const std::string where = file.string() + ": quantization_config";
  if (!q.is_object()) throw Error(where + " must be a JSON object");
  const std::string method = q.contains("quant_method") && q["quant_method"].is_string()
                                 ? q["quant_method"].get<std::string>()
                                 : std::string();
  CheckpointQuantization out;
  out.config_file = file;
  out.json = q.dump();
  if (method == "bitsandbytes" && flag(q, "load_in_4bit")) {
    // transformers' BitsAndBytesConfig default quant type is fp4.
    out.plugin = q.contains("bnb_4bit_quant_type") && q["bnb_4bit_quant_type"].is_string()
                     ? q["bnb_4bit_quant_type"].get<std::string>()
                     : "fp4";
    out.format = "bitsandbytes 4-bit " + out.plugin;
  } else if (method == "bitsandbytes" && flag(q, "load_in_8bit")) {
    out.plugin = "int8";
    out.format = "bitsandbytes 8-bit";
  } else {
    throw Error(where + " has quant_method " + (method.empty() ? "(none)" : "\"" + method + "\"") +
                (method == "bitsandbytes" ? " with neither load_in_4bit nor load_in_8bit" : "") +
                "; rlhf-host loads bitsandbytes 4-bit (nf4) and 8-bit checkpoints");
  }
  return out;
}

std::shared_ptr<Quantizer> quantizer_for_model(PluginRegistry& registry, const fs::path& model_dir,
                                               const std::shared_ptr<Quantizer>& named,
                                               const std::string& named_name) {
  const auto stored = checkpoint_quantization(model_dir);
  if (!stored) return named;
  const std::string needs = stored->config_file.string() +
                            " (quantization_config: " + stored->format + ", quantizer \"" +
                            stored->plugin + "\")";
  if (named) {
    if (named_name != stored->plugin)
      throw Error("quantizer \"" + named_name + "\" contradicts the model's " + needs +
                  ": remove [quantizer], a pre-quantized model loads with its own quantizer");
    const std::string why = named->contradiction(stored->json);
    if (!why.empty())
      throw Error("quantizer \"" + named_name + "\" contradicts the model's " + needs + ": " + why +
                  " (remove the setting, or [quantizer]: the model loads as stored)");
    return named;
  }
  try {
    return registry.create<Quantizer>(PluginKind::quantizer, stored->plugin, Config());
  } catch (const Error& e) {
    throw Error(needs + " needs the quantizer plugin \"" + stored->plugin + "\": " + e.what());
  }
}

}  // namespace rlhf::host
