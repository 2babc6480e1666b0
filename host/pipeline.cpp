#include "pipeline.hpp"

#include <unistd.h>

#include <toml++/toml.h>
#include <torch/cuda.h>
#include <algorithm>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <thread>

#include "adapter_folder.hpp"
#include "checkpoint_quantizer.hpp"
#include "plugin_registry.hpp"
#include "rlhf/adapter.hpp"
#include "rlhf/algorithm.hpp"
#include "rlhf/data_source.hpp"
#include "rlhf/error.hpp"
#include "rlhf/quantizer.hpp"
#include "rlhf/reward_model.hpp"
#include "rlhf/toolkit/chat_template.hpp"
#include "set_override.hpp"
#include "toml_floats.hpp"

namespace rlhf::host {

namespace fs = std::filesystem;

namespace {

// Tables a pipeline may have at its top level.
const std::vector<std::string> kTopLevel = {"run", "model", "quantizer", "adapter", "stage"};
// Keys of a [[stage]] the host reads; everything else belongs to the algorithm.
const std::vector<std::string> kStageHostKeys = {"name",         "algorithm", "data",
                                                 "reward_model", "model",     "adapter"};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// Wraps rlhf::Error from the registry/plugins with the location of the key that named them.
template <class F>
auto located(const Config& config, const std::string& key, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    throw ConfigError(config.location(key),
                      config.key_path().empty() ? key : config.key_path() + "." + key, e.what());
  }
}

void check_top_level(const Config& root) {
  for (const auto& key : root.keys()) {
    if (std::find(kTopLevel.begin(), kTopLevel.end(), key) != kTopLevel.end()) continue;
    bool is_table = root.raw()->get(key)->is_table() || root.raw()->get(key)->is_array_of_tables();
    std::string message = std::string("unknown ") + (is_table ? "table" : "top-level key");
    if (auto close = closest_match(key, kTopLevel); !close.empty())
      message += " (did you mean '" + close + "'?)";
    else
      message += " (known tables: " + join(kTopLevel) + ")";
    throw ConfigError(root.location(key), key, message);
  }
}

ModelSpec read_model(const Config& model) {
  ModelSpec spec;
  spec.path = model.require<std::string>("path");
  const auto dtype = model.get<std::string>("dtype", "float32");
  spec.dtype = located(model, "dtype", [&] { return parse_dtype(dtype); });
  // "auto" (the default): the model folder's own template, checked with the folder
  // (check_model_dir).
  spec.chat_template = model.get<std::string>("chat_template", "auto");
  if (spec.chat_template != "auto")
    located(model, "chat_template", [&] { return ChatTemplate::get(spec.chat_template); });
  return spec;
}

void check_model_dir(const Config& model, const ModelSpec& spec) {
  std::error_code ec;
  if (!fs::is_directory(spec.path, ec))
    model.fail("path", "model folder '" + spec.path.string() + "' does not exist" +
                           " (relative paths are resolved from the current directory, " +
                           fs::current_path().string() + ")");
  if (!fs::exists(spec.path / "config.json", ec))
    model.fail("path", "model folder '" + spec.path.string() +
                           "' has no config.json (expected a Hugging Face model folder)");
  // The folder's Jinja template parses (an unsupported construct names its line) before a run.
  // (A named template was checked by read_model; its "none" warning comes when the stage starts.)
  if (spec.chat_template == "auto")
    located(model, "chat_template",
            [&] { return ChatTemplate::for_model(spec.chat_template, spec.path); });
}

// `over`'s keys merged over a copy of `base` (either may be null).
std::shared_ptr<toml::table> merged(const toml::table* base, const toml::table* over) {
  auto out = std::make_shared<toml::table>(base ? *base : toml::table{});
  if (over)
    for (const auto& [key, value] : *over)
      value.visit([&, &k = key](const auto& v) { out->insert_or_assign(k, v); });
  return out;
}

// Unknown keys of a table merged from `base` (e.g. [adapter]) and a stage's `over` table,
// reported at the place they were written (merged copies carry no source positions).
void check_merged_unknown_keys(const Config& merged_config, const Config& base,
                               const Config& over) {
  auto unknown = merged_config.unknown_keys();
  if (unknown.empty()) return;
  const auto& first = unknown.front();
  const std::string key = first.key_path.substr(merged_config.key_path().size() + 1);
  const bool from_over = over.raw() && over.raw()->contains(key);
  const Config& origin = from_over ? over : base;
  std::string message = "unknown key";
  if (!first.suggestion.empty()) message += " (did you mean '" + first.suggestion + "'?)";
  // The key's own position, as Config::unknown_keys() reports it.
  std::string location = origin.location(key);
  if (origin.raw())
    if (auto it = origin.raw()->find(key); it != origin.raw()->end() && it->first.source().begin)
      location = origin.file() + ":" + std::to_string(it->first.source().begin.line) + ":" +
                 std::to_string(it->first.source().begin.column);
  throw ConfigError(location, origin.key_path() + "." + key, message);
}

const toml::table* table_or_null(const Config& parent, const std::string& key) {
  const toml::node* n = parent.raw() ? parent.raw()->get(key) : nullptr;
  if (n && !n->is_table()) parent.table(key);  // throws "expected table, got …"
  return n ? n->as_table() : nullptr;
}

template <class T>
std::shared_ptr<T> create_from_table(PluginRegistry& registry, PluginKind kind, const Config& table,
                                     std::string& name_out) {
  name_out = table.require<std::string>("plugin");
  return located(table, "plugin", [&] { return registry.create<T>(kind, name_out, table); });
}

void check_stage_name(const Config& probe, const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find_first_of("/\\") != std::string::npos)
    probe.fail("name", "stage name '" + name + "' must be usable as a folder name");
}

}  // namespace

c10::Device parse_device(const std::string& name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "auto")
    return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (name.size() > 5) {
      const std::string digits = name.substr(5);
      if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos)
        throw Error("unknown device '" + name + "' (known: cpu, cuda, cuda:N, auto)");
      // More digits than an int holds is no device here either (std::stoi would throw).
      index = digits.size() > 9 ? std::numeric_limits<int>::max() : std::stoi(digits);
    }
    const int count =
        torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
    if (index >= count)
      throw Error("device '" + name + "' is not available here (" + std::to_string(count) +
                  " CUDA devices; this LibTorch build " +
                  (torch::cuda::is_available() ? "has" : "may lack") +
                  " CUDA); use device = \"cpu\" or \"auto\"");
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw Error("unknown device '" + name + "' (known: cpu, cuda, cuda:N, auto)");
}

c10::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32") return c10::kFloat;
  if (name == "bfloat16") return c10::kBFloat16;
  throw Error("unknown dtype '" + name + "' (known: float32, bfloat16)");
}

void check_output_dir_writable(const fs::path& dir) {
  // Walk up to the first folder that exists; it must be writable (and every existing ancestor
  // a folder), so create_directories() will succeed later. Nothing is created now.
  fs::path probe = fs::absolute(dir);
  std::error_code ec;
  while (!fs::exists(probe, ec)) {
    if (!probe.has_parent_path() || probe.parent_path() == probe) break;
    probe = probe.parent_path();
  }
  if (!fs::is_directory(probe, ec))
    throw Error("output_dir '" + dir.string() + "' cannot be created: '" + probe.string() +
                "' is not a folder");
  if (::access(probe.c_str(), W_OK | X_OK) != 0)
    throw Error("output_dir '" + dir.string() + "' is not writable: no write permission on '" +
                probe.string() + "'");
}

std::string Pipeline::resolved_toml() const {
  std::ostringstream out;
  out << toml::toml_formatter(*document);
  return shortest_toml_floats(out.str());
}

Pipeline load_pipeline(const fs::path& file, const std::vector<std::string>& overrides,
                       PluginRegistry& registry) {
  Pipeline p;
  p.file = file;
  {
    std::error_code ec;
    if (!fs::exists(file, ec)) throw Error(file.string() + ": pipeline file does not exist");
    if (fs::is_directory(file, ec))
      throw Error(file.string() + ": is a folder, not a pipeline file");
    std::ifstream in(file, std::ios::binary);
    if (!in) throw Error(file.string() + ": cannot open pipeline file for reading");
    std::stringstream text;
    text << in.rdbuf();
    try {
      p.document = std::make_shared<toml::table>(toml::parse(text.str(), file.string()));
    } catch (const toml::parse_error& e) {
      const auto& at = e.source().begin;
      throw ConfigError(
          file.string() + ":" + std::to_string(at.line) + ":" + std::to_string(at.column), "",
          "TOML syntax error: " + std::string(e.description()));
    }
  }
  for (const auto& assignment : overrides) apply_override(*p.document, assignment);

  const std::string name = file.string();
  Config root(p.document.get(), name, "");
  check_top_level(root);
  for (const auto& key : kTopLevel) root.declare(key);

  // [run]
  if (!root.has("run")) throw ConfigError(name, "run", "missing [run] table (needs output_dir)");
  Config run = root.table("run");
  p.output_dir = run.require<std::string>("output_dir");
  p.seed = static_cast<std::uint64_t>(run.get<std::int64_t>("seed", 42));
  const auto device = run.get<std::string>("device", "cpu");
  p.device = located(run, "device", [&] { return parse_device(device); });
  p.threads = run.get<int>("threads", 0);
  if (p.threads < 0) run.fail("threads", "must be >= 0 (0 = every core)");
  // Far more threads than cores only slows a run down, and a pool of 100000 never finishes
  // starting: the bound leaves room for a pipeline written on a larger machine.
  const int hardware = static_cast<int>(std::thread::hardware_concurrency());
  const int max_threads = std::max(64, 4 * hardware);
  if (p.threads > max_threads)
    run.fail("threads", "must be at most " + std::to_string(max_threads) + " (4 x the " +
                            std::to_string(hardware) +
                            " hardware threads here, at least 64; 0 = every core), got " +
                            std::to_string(p.threads));
  p.dist_timeout_s = run.get<int>("dist_timeout_s", 1800);
  if (p.dist_timeout_s < 1 || p.dist_timeout_s > 7 * 24 * 3600)
    run.fail("dist_timeout_s",
             "must be between 1 and 604800 seconds, got " + std::to_string(p.dist_timeout_s));
  p.dist_bucket_mb = run.get<double>("dist_bucket_mb", 32.0);
  if (!(p.dist_bucket_mb > 0 && p.dist_bucket_mb <= 65536))
    run.fail("dist_bucket_mb",
             "must be above 0 and at most 65536 (MiB), got " + std::to_string(p.dist_bucket_mb));
  run.check_no_unknown_keys();

  // [model]
  if (!root.has("model")) throw ConfigError(name, "model", "missing [model] table (needs path)");
  Config model = root.table("model");
  p.model = read_model(model);
  model.check_no_unknown_keys();

  // [quantizer], [adapter]
  const toml::table* adapter_table = table_or_null(root, "adapter");
  if (table_or_null(root, "quantizer")) {
    Config q = root.table("quantizer");
    p.quantizer =
        create_from_table<Quantizer>(registry, PluginKind::quantizer, q, p.quantizer_name);
    q.check_no_unknown_keys();
  }
  if (adapter_table) {
    Config a = root.table("adapter");
    p.adapter = create_adapter(registry, a, p.adapter_name, p.adapter_path);
    a.check_no_unknown_keys();
  }

  // [[stage]]
  const toml::node* stage_node = p.document->get("stage");
  if (!stage_node)
    throw ConfigError(name, "stage", "no [[stage]] entries: a pipeline needs at least one stage");
  const toml::array* stage_array = stage_node->as_array();
  if (!stage_array || !stage_array->is_array_of_tables())
    throw ConfigError(root.location("stage"), "stage",
                      "expected [[stage]] tables (an array of tables)");
  // A pre-quantized model brings its quantizer (checkpoint_quantizer.hpp): a format rlhf-host
  // cannot load is reported at the model's `path`, a [quantizer] that contradicts it at its
  // `plugin`.
  const std::shared_ptr<Quantizer> named_quantizer = p.quantizer;
  const auto quantizer_of = [&](const Config& model_table,
                                const ModelSpec& spec) -> std::shared_ptr<Quantizer> {
    const auto stored =
        located(model_table, "path", [&] { return checkpoint_quantization(spec.path); });
    if (!stored) return named_quantizer;
    if (named_quantizer)
      return located(root.table("quantizer"), "plugin", [&] {
        return quantizer_for_model(registry, spec.path, named_quantizer, p.quantizer_name);
      });
    return located(model_table, "path",
                   [&] { return quantizer_for_model(registry, spec.path, nullptr, ""); });
  };
  std::set<std::string> seen;
  std::vector<bool> model_overridden;  // stages whose quantizer is their own model's
  for (std::size_t i = 0; i < stage_array->size(); ++i) {
    const toml::table* table = (*stage_array)[i].as_table();
    Config probe(table, name, "stage[" + std::to_string(i) + "]");
    StagePlan stage;
    stage.name = probe.require<std::string>("name");
    check_stage_name(probe, stage.name);
    if (!seen.insert(stage.name).second)
      probe.fail("name", "duplicate stage name '" + stage.name + "'");
    stage.config = Config(table, name, "stage." + stage.name);
    const Config& sc = stage.config;
    for (const auto& key : kStageHostKeys) sc.declare(key);

    stage.algorithm_name = sc.require<std::string>("algorithm");
    stage.algorithm = located(sc, "algorithm", [&] {
      return registry.create<Algorithm>(PluginKind::algorithm, stage.algorithm_name, sc);
    });
    if (table_or_null(sc, "data"))
      stage.data = create_from_table<DataSource>(registry, PluginKind::data, sc.table("data"),
                                                 stage.data_name);
    if (table_or_null(sc, "reward_model"))
      stage.reward_model = create_from_table<RewardModel>(
          registry, PluginKind::reward_model, sc.table("reward_model"), stage.reward_model_name);

    const toml::table* model_over = table_or_null(sc, "model");
    const toml::table* adapter_over = table_or_null(sc, "adapter");
    stage.fresh_policy = model_over || adapter_over;
    model_overridden.push_back(model_over != nullptr);
    stage.model = p.model;
    stage.adapter = p.adapter;
    stage.adapter_name = p.adapter_name;
    stage.adapter_path = p.adapter_path;
    if (model_over) {
      auto table_copy = merged(root.raw()->get("model")->as_table(), model_over);
      p.merged_tables.push_back(table_copy);
      Config m(table_copy.get(), name, "stage." + stage.name + ".model");
      stage.model = read_model(m);
      check_merged_unknown_keys(m, model, Config(model_over, name, m.key_path()));
      check_model_dir(m, stage.model);
      stage.quantizer = quantizer_of(m, stage.model);
    }
    if (adapter_over) {
      auto table_copy = merged(adapter_table, adapter_over);
      p.merged_tables.push_back(table_copy);
      Config a(table_copy.get(), name, "stage." + stage.name + ".adapter");
      stage.adapter = create_adapter(registry, a, stage.adapter_name, stage.adapter_path);
      check_merged_unknown_keys(a, Config(adapter_table, name, "adapter"),
                                Config(adapter_over, name, a.key_path()));
    }
    sc.check_no_unknown_keys();
    p.stages.push_back(std::move(stage));
  }

  check_model_dir(model, p.model);
  p.quantizer = quantizer_of(model, p.model);
  for (std::size_t i = 0; i < p.stages.size(); ++i)
    if (!model_overridden[i]) p.stages[i].quantizer = p.quantizer;
  located(run, "output_dir", [&] {
    check_output_dir_writable(p.output_dir);
    return 0;
  });
  return p;
}

}  // namespace rlhf::host
