#include "peft_folder.hpp"

#include <nlohmann/json.hpp>

#include <fstream>

#include "rlhf/error.hpp"

namespace rlhf::lora {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A PEFT key that, set, makes PEFT compute something the lora plugin does not.
bool is_set(const json& cfg, const char* key) {
  if (!cfg.contains(key)) return false;
  const json& v = cfg[key];
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_object() || v.is_array()) return !v.empty();
  return true;
}

}  // namespace

LoraOptions read_peft_folder_options(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error("adapter folder '" + dir.string() + "' does not exist (a PEFT adapter folder " +
                "holds " + kAdapterConfigFile + " and " + kAdapterWeightsFile + ")");
  const fs::path file = dir / kAdapterConfigFile;
  const std::string where = file.string();
  std::ifstream in(file);
  if (!in)
    throw Error(where + ": missing; a PEFT adapter folder holds " + kAdapterConfigFile + " and " +
                kAdapterWeightsFile);
  json cfg;
  try {
    in >> cfg;
  } catch (const std::exception& e) {
    throw Error(where + ": not valid JSON: " + e.what());
  }
  if (!cfg.is_object()) throw Error(where + ": expected a JSON object");

  auto fail = [&](const std::string& key, const std::string& what) -> void {
    throw Error(where + ": '" + key + "' " + what);
  };
  std::string peft_type = "LORA";  // PEFT's LoraConfig default
  if (cfg.contains("peft_type"))
    peft_type = cfg["peft_type"].is_string() ? cfg["peft_type"].get<std::string>()
                                             : cfg["peft_type"].dump();
  if (peft_type != "LORA")
    fail("peft_type", "is \"" + peft_type + "\"; the lora plugin loads LORA adapters");

  LoraOptions o;
  try {
    if (cfg.contains("r")) {
      if (!cfg["r"].is_number_integer()) fail("r", "must be an integer");
      o.r = cfg["r"].get<std::int64_t>();
      if (o.r < 1) fail("r", "must be a positive integer");
    }
    if (cfg.contains("lora_alpha")) {
      if (!cfg["lora_alpha"].is_number()) fail("lora_alpha", "must be a number");
      o.alpha = cfg["lora_alpha"].get<double>();
      if (!(o.alpha > 0)) fail("lora_alpha", "must be positive");
    }
    if (cfg.contains("lora_dropout") && !cfg["lora_dropout"].is_null()) {
      if (!cfg["lora_dropout"].is_number()) fail("lora_dropout", "must be a number");
      o.dropout = cfg["lora_dropout"].get<double>();
      if (!(o.dropout >= 0.0 && o.dropout < 1.0)) fail("lora_dropout", "must be in [0, 1)");
    }
    if (cfg.contains("target_modules") && !cfg["target_modules"].is_null()) {
      const json& t = cfg["target_modules"];
      if (t.is_string()) {
        if (t.get<std::string>() != "all-linear")
          fail("target_modules",
               "is the regular expression \"" + t.get<std::string>() +
                   "\", which the lora plugin does not match; list the module names instead");
        o.all_linear = true;
        o.target_modules.clear();
      } else if (t.is_array() && !t.empty()) {
        o.target_modules.clear();
        for (const auto& m : t) {
          if (!m.is_string()) fail("target_modules", "must list module names (strings)");
          o.target_modules.push_back(m.get<std::string>());
        }
      } else {
        fail("target_modules", "must be a non-empty list of module names or \"all-linear\"");
      }
    }
    if (cfg.contains("use_rslora") && !cfg["use_rslora"].is_null()) {
      if (!cfg["use_rslora"].is_boolean()) fail("use_rslora", "must be true or false");
      o.use_rslora = cfg["use_rslora"].get<bool>();
    }
    if (cfg.contains("init_lora_weights") && cfg["init_lora_weights"] == "gaussian")
      o.init = "gaussian";
    if (cfg.contains("bias") && cfg["bias"] != "none")
      fail("bias", "is " + cfg["bias"].dump() + "; only \"none\" is supported");
    for (const char* key : {"use_dora", "fan_in_fan_out", "modules_to_save", "layers_to_transform",
                            "rank_pattern", "alpha_pattern"})
      if (is_set(cfg, key))
        fail(key, "is " + cfg[key].dump() + ", which the lora plugin does not support");
  } catch (const json::exception& e) {
    throw Error(where + ": " + e.what());
  }
  return o;
}

}  // namespace rlhf::lora
