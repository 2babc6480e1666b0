#include "lora_adapter.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "peft_folder.hpp"
#include "rlhf/error.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/file_writer.hpp"
#include "rlhf/toolkit/safetensors.hpp"

namespace rlhf::lora {
namespace fs = std::filesystem;

namespace {

const std::string kPrefix = "base_model.model.";

std::string shape_of(at::IntArrayRef shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The device a base weight lives on (its first parameter or buffer).
torch::Device device_of(const LinearWeight& w) {
  for (const auto& p : w.parameters()) return p.device();
  for (const auto& b : w.buffers()) return b.device();
  return torch::kCPU;
}

}  // namespace

std::string peft_key_A(const std::string& path) { return kPrefix + path + ".lora_A.weight"; }
std::string peft_key_B(const std::string& path) { return kPrefix + path + ".lora_B.weight"; }

LoraAdapter::LoraAdapter(const Config& config) : options_(LoraOptions::from_config(config)) {}

void LoraAdapter::detach() {
  for (auto& t : targets_)
    if (t.linear->adapter() == t.layer) t.linear->set_adapter(nullptr);
  targets_.clear();
}

void LoraAdapter::attach(CausalLM& model) {
  detach();
  for (auto& p : model.parameters()) p.requires_grad_(false);
  model_dtype_ = model.dtype();
  const auto linears = model.named_linears();
  std::set<std::string> matched;  // configured names that matched some module
  for (const auto& [path, linear] : linears) {
    if (!options_.targets(path)) continue;
    for (const auto& t : options_.target_modules)
      if (path == t ||
          (path.size() > t.size() && path.substr(path.size() - t.size() - 1) == "." + t))
        matched.insert(t);
    auto layer = std::make_shared<LoraLayer>(linear->in_features(), linear->out_features(),
                                             options_.r, options_.scaling(), options_.dropout,
                                             options_.init, device_of(*linear->weight()));
    layer->set_enabled(enabled_);
    layer->set_training(training_);
    linear->set_adapter(layer);
    targets_.push_back({path, linear, layer});
  }
  for (const auto& t : options_.target_modules)
    if (!matched.count(t)) {
      detach();
      throw Error("lora: target module '" + t + "' matches no module of the model (module paths " +
                  "look like '" + (linears.empty() ? std::string("?") : linears.front().first) +
                  "'; check target_modules)");
    }
  if (targets_.empty()) throw Error("lora: target_modules matched no module of the model");
  if (options_.table_targets) check_table_targets(linears);
}

// With `path` and target_modules in the table too: both must select the same modules (compared
// by effect, so ["q_proj", "v_proj"] agrees with a folder listing "v_proj", "q_proj", and
// "all-linear" with a folder listing every projection).
void LoraAdapter::check_table_targets(
    const std::vector<std::pair<std::string, std::shared_ptr<Linear>>>& linears) {
  std::vector<std::string> only_table, only_folder;
  for (const auto& [path, linear] : linears) {
    const bool table = options_.table_targets->targets(path), folder = options_.targets(path);
    if (table && !folder) only_table.push_back(path);
    if (folder && !table) only_folder.push_back(path);
  }
  if (only_table.empty() && only_folder.empty()) return;
  std::string folder_list;
  for (const auto& t : options_.target_modules)
    folder_list += (folder_list.empty() ? "" : ", ") + t;
  if (options_.all_linear) folder_list = "all-linear";
  const std::string differs = !only_table.empty() ? "also wraps '" + only_table.front() + "'"
                                                  : "does not wrap '" + only_folder.front() + "'";
  detach();
  throw Error("lora: target_modules of the [adapter] table " + differs + ", unlike " +
              (options_.path / kAdapterConfigFile).string() + " (target_modules: " + folder_list +
              "): an adapter folder's settings are its own (remove target_modules)");
}

std::vector<torch::Tensor> LoraAdapter::parameters() {
  std::vector<torch::Tensor> out;
  for (auto& t : targets_) {
    out.push_back(t.layer->lora_A());
    out.push_back(t.layer->lora_B());
  }
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> LoraAdapter::named_parameters() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& t : targets_) {
    out.emplace_back(peft_key_A(t.path), t.layer->lora_A());
    out.emplace_back(peft_key_B(t.path), t.layer->lora_B());
  }
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> LoraAdapter::peft_tensors() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& t : targets_) {
    out.emplace_back(peft_key_A(t.path), t.layer->lora_A().detach());
    out.emplace_back(peft_key_B(t.path), t.layer->lora_B().detach());
  }
  return out;
}

void LoraAdapter::set_enabled(bool on) {
  enabled_ = on;
  for (auto& t : targets_) t.layer->set_enabled(on);
}

void LoraAdapter::set_training(bool on) {
  training_ = on;
  for (auto& t : targets_) t.layer->set_training(on);
}

void LoraAdapter::save(const fs::path& dir) const {
  if (targets_.empty()) throw Error("lora: save() before attach(): nothing to save");
  fs::create_directories(dir);
  std::vector<std::string> modules;
  for (const auto& t : targets_) modules.push_back(t.path.substr(t.path.rfind('.') + 1));
  // Each file is written under a temporary name and renamed, so a crash leaves no half file;
  // the host writes the whole folder under a temporary name too (rlhf/toolkit/replace_dir.hpp).
  save_safetensors(dir / "adapter_model.safetensors", peft_tensors(), {{"format", "pt"}});
  write_file_atomically(dir / "adapter_config.json", adapter_config_json(options_, modules));
}

void LoraAdapter::load(const fs::path& dir) {
  if (targets_.empty()) throw Error("lora: load() before attach(): attach to a model first");
  const fs::path config_path = dir / "adapter_config.json";
  std::ifstream in(config_path);
  if (!in) throw Error("lora: cannot read '" + config_path.string() + "'");
  nlohmann::json cfg;
  try {
    in >> cfg;
  } catch (const std::exception& e) {
    throw Error("lora: '" + config_path.string() + "' is not valid JSON: " + e.what());
  }
  if (cfg.value("peft_type", std::string("LORA")) != "LORA")
    throw Error("lora: '" + config_path.string() + "' has peft_type \"" +
                cfg.value("peft_type", std::string()) + "\", not LORA");
  if (cfg.contains("r") && cfg["r"].get<std::int64_t>() != options_.r)
    throw Error("lora: '" + config_path.string() +
                "' has r = " + std::to_string(cfg["r"].get<std::int64_t>()) +
                " but the adapter is configured with r = " + std::to_string(options_.r) +
                "; set r to match");
  if (cfg.contains("lora_alpha") && cfg["lora_alpha"].get<double>() != options_.alpha) {
    std::ostringstream msg;
    msg << "lora: '" << config_path.string() << "' has lora_alpha = " << cfg["lora_alpha"].dump()
        << " but the adapter is configured with alpha = " << options_.alpha
        << "; set alpha to match";
    throw Error(msg.str());
  }
  if (cfg.value("use_rslora", false) != options_.use_rslora)
    throw Error("lora: '" + config_path.string() +
                "' has use_rslora = " + (cfg.value("use_rslora", false) ? "true" : "false") +
                ", which differs from the adapter's setting");

  const fs::path weights_path = dir / kAdapterWeightsFile;
  std::error_code ec;
  if (!fs::exists(weights_path, ec)) {
    const bool pickle = fs::exists(dir / "adapter_model.bin", ec);
    throw Error("lora: '" + weights_path.string() + "' is missing" +
                (pickle ? " (the folder has adapter_model.bin, a pickle, which rlhf-host does not "
                          "read: save it with safe_serialization=True)"
                        : ""));
  }
  SafetensorsFile file(weights_path);
  std::set<std::string> expected;
  for (const auto& t : targets_) {
    expected.insert(peft_key_A(t.path));
    expected.insert(peft_key_B(t.path));
  }
  for (const auto& name : file.names())
    if (!expected.count(name))
      throw Error("lora: '" + weights_path.string() + "' holds tensor '" + name +
                  "' for a module this adapter does not wrap (an adapter of another base model, " +
                  "or other target_modules)");
  torch::NoGradGuard no_grad;
  for (auto& t : targets_) {
    for (auto [key, param] :
         {std::pair<std::string, torch::Tensor*>{peft_key_A(t.path), &t.layer->lora_A()},
          {peft_key_B(t.path), &t.layer->lora_B()}}) {
      if (!file.contains(key))
        throw Error("lora: '" + weights_path.string() + "' lacks tensor '" + key +
                    "' (target_modules wraps module '" + t.path + "')");
      // Shape and dtype from the header, so `--check` (a weightless model on the meta device)
      // validates the folder without reading a weight.
      const SafetensorsEntry& entry = file.entry(key);
      if (at::IntArrayRef(entry.shape) != param->sizes())
        throw Error("lora: tensor '" + key + "' in '" + weights_path.string() + "' has shape " +
                    shape_of(entry.shape) + ", the model needs " + shape_of(param->sizes()) +
                    " (an adapter of another base model, or another r)");
      if (!at::isFloatingType(entry.scalar_type))
        throw Error("lora: tensor '" + key + "' in '" + weights_path.string() + "' has dtype " +
                    entry.dtype + "; LoRA weights must be floating-point");
      if (param->is_meta()) continue;
      param->copy_(file.load(key).to(param->device(), torch::kFloat32));
    }
  }
}

void LoraAdapter::merge() {
  torch::NoGradGuard no_grad;
  for (auto& t : targets_) {
    const torch::Tensor base = t.linear->weight()->dense(torch::kFloat32);
    const torch::Tensor merged =
        (base + t.layer->delta_weight().to(base.device())).to(model_dtype_);
    t.linear->set_weight(std::make_shared<DenseWeight>(merged));
  }
  detach();
}

}  // namespace rlhf::lora
