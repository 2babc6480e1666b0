#include "lora_options.hpp"

#include <toml++/toml.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <set>
#include <sstream>

#include "peft_folder.hpp"

namespace rlhf::lora {

namespace {

std::string number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// With `path`: the folder's settings, and every key the table sets too checked against them.
LoraOptions from_folder(const Config& config, const LoraOptions& table, const std::string& path) {
  LoraOptions folder;
  try {
    folder = read_peft_folder_options(path);
  } catch (const Error& e) {
    config.fail("path", e.what());
  }
  folder.path = path;
  const std::string file = (std::filesystem::path(path) / kAdapterConfigFile).string();
  auto agree = [&](const std::string& key, bool same, const std::string& mine,
                   const std::string& peft_key, const std::string& theirs) {
    if (same) return;
    config.fail(key, "is " + mine + ", but " + file + " has " + peft_key + " = " + theirs +
                         ": an adapter folder's settings are its own (remove '" + key +
                         "' or set it to " + theirs + ")");
  };
  if (config.has("r"))
    agree("r", table.r == folder.r, std::to_string(table.r), "r", std::to_string(folder.r));
  for (const char* key : {"alpha", "lora_alpha"})
    if (config.has(key))
      agree(key, table.alpha == folder.alpha, number(table.alpha), "lora_alpha",
            number(folder.alpha));
  if (config.has("dropout"))
    agree("dropout", table.dropout == folder.dropout, number(table.dropout), "lora_dropout",
          number(folder.dropout));
  if (config.has("use_rslora"))
    agree("use_rslora", table.use_rslora == folder.use_rslora, table.use_rslora ? "true" : "false",
          "use_rslora", folder.use_rslora ? "true" : "false");
  if (config.has("init"))
    config.fail("init", "has no effect with 'path': the adapter's weights are loaded from " + path +
                            " (remove 'init')");
  if (config.has("target_modules")) {
    auto targets = std::make_shared<LoraOptions>();
    targets->target_modules = table.target_modules;
    targets->all_linear = table.all_linear;
    folder.table_targets = std::move(targets);
  }
  return folder;
}

}  // namespace

LoraOptions LoraOptions::from_config(const Config& config) {
  LoraOptions o;
  o.r = config.get<std::int64_t>("r", o.r);
  if (o.r < 1) config.fail("r", "must be a positive integer, got " + std::to_string(o.r));
  const bool has_alpha = config.has("alpha"), has_lora_alpha = config.has("lora_alpha");
  if (has_alpha && has_lora_alpha)
    config.fail("lora_alpha", "give either 'alpha' or its alias 'lora_alpha', not both");
  o.alpha = has_lora_alpha ? config.get<double>("lora_alpha", o.alpha)
                           : config.get<double>("alpha", o.alpha);
  if (!(o.alpha > 0)) config.fail(has_lora_alpha ? "lora_alpha" : "alpha", "must be positive");
  o.dropout = config.get<double>("dropout", o.dropout);
  if (!(o.dropout >= 0.0 && o.dropout < 1.0)) config.fail("dropout", "must be in [0, 1)");
  // target_modules: a list of names, or the string "all-linear".
  const toml::table* table = config.raw();
  const bool is_string = table && (*table)["target_modules"].is_string();
  if (is_string) {
    const auto value = config.require<std::string>("target_modules");
    if (value != "all-linear")
      config.fail("target_modules",
                  "must be a list of module names or \"all-linear\", got \"" + value + "\"");
    o.all_linear = true;
    o.target_modules.clear();
  } else {
    o.target_modules = config.get<std::vector<std::string>>("target_modules", o.target_modules);
    if (o.target_modules.empty()) config.fail("target_modules", "must name at least one module");
  }
  o.use_rslora = config.get<bool>("use_rslora", o.use_rslora);
  o.init = config.get<std::string>("init", o.init);
  if (o.init != "default" && o.init != "gaussian")
    config.fail("init", "must be \"default\" or \"gaussian\", got \"" + o.init + "\"");
  const auto bias = config.get<std::string>("bias", "none");
  if (bias != "none") config.fail("bias", "only \"none\" is supported, got \"" + bias + "\"");
  if (const auto path = config.get_optional<std::string>("path")) {
    if (path->empty()) config.fail("path", "is empty; name a PEFT adapter folder");
    return from_folder(config, o, *path);
  }
  return o;
}

double LoraOptions::scaling() const {
  return use_rslora ? alpha / std::sqrt(static_cast<double>(r)) : alpha / static_cast<double>(r);
}

bool LoraOptions::targets(const std::string& path) const {
  if (all_linear) return true;
  for (const auto& t : target_modules) {
    if (path == t) return true;
    if (path.size() > t.size() && path.compare(path.size() - t.size(), t.size(), t) == 0 &&
        path[path.size() - t.size() - 1] == '.')
      return true;
  }
  return false;
}

std::string adapter_config_json(const LoraOptions& o, const std::vector<std::string>& modules) {
  const std::set<std::string> names(modules.begin(), modules.end());
  nlohmann::ordered_json j;
  j["peft_type"] = "LORA";
  j["task_type"] = "CAUSAL_LM";
  j["r"] = o.r;
  // PEFT configs usually carry an integer lora_alpha; keep it integral when it is.
  if (o.alpha == std::floor(o.alpha))
    j["lora_alpha"] = static_cast<std::int64_t>(o.alpha);
  else
    j["lora_alpha"] = o.alpha;
  j["lora_dropout"] = o.dropout;
  j["target_modules"] = std::vector<std::string>(names.begin(), names.end());
  j["bias"] = "none";
  j["use_rslora"] = o.use_rslora;
  j["init_lora_weights"] =
      o.init == "gaussian" ? nlohmann::ordered_json("gaussian") : nlohmann::ordered_json(true);
  j["fan_in_fan_out"] = false;
  j["base_model_name_or_path"] = nullptr;
  j["modules_to_save"] = nullptr;
  j["inference_mode"] = true;
  j["layers_to_transform"] = nullptr;
  j["rank_pattern"] = nlohmann::ordered_json::object();
  j["alpha_pattern"] = nlohmann::ordered_json::object();
  j["use_dora"] = false;
  return j.dump(2) + "\n";
}

}  // namespace rlhf::lora
