// Pipeline — a parsed, validated pipeline TOML file with every plugin it names constructed.
//
// load_pipeline() does all the checking a run needs before any work starts: TOML syntax,
// unknown tables and keys (with "did you mean"), value types, plugin names and ABI tags,
// plugin-side key validation (each plugin's constructor reads its table), referenced model
// folders, and that output_dir can be created. Every failure is one rlhf::Error line naming
// file:line:column and the key path; nothing is written. `--check` then goes on to the stages'
// inputs (data, tokenizer, model files): pipeline_check.hpp.
//
// File layout (README "Pipeline file"):
//   [run]        output_dir, seed, device, threads, dist_timeout_s, dist_bucket_mb
//   [model]      path, dtype, chat_template
//   [quantizer]  plugin = "<name>" + the plugin's own keys          (optional; a model whose
//                config.json has quantization_config brings its own: checkpoint_quantizer.hpp)
//   [adapter]    plugin = "<name>" + the plugin's own keys, or path = "<PEFT folder>" (optional;
//                adapter_folder.hpp)
//   [[stage]]    name, algorithm, data = { plugin = ..., ... }, reward_model = { plugin = ... },
//                model = { ... } / adapter = { ... } overrides, + the algorithm's own keys
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "rlhf/config.hpp"

namespace toml {
inline namespace v3 {
class table;
}
}  // namespace toml

namespace rlhf {
class Adapter;
class Algorithm;
class DataSource;
class Quantizer;
class RewardModel;
}  // namespace rlhf

namespace rlhf::host {

class PluginRegistry;

// [model], or a stage's merged `model` override.
struct ModelSpec {
  std::filesystem::path path;
  c10::ScalarType dtype = c10::kFloat;
  std::string chat_template = "auto";
};

struct StagePlan {
  std::string name;     // unique; also the stage's folder under output_dir
  rlhf::Config config;  // the [[stage]] table, key path "stage.<name>"
  std::string algorithm_name;
  std::shared_ptr<rlhf::Algorithm> algorithm;
  std::string data_name;  // empty when the stage has no `data`
  std::shared_ptr<rlhf::DataSource> data;
  std::string reward_model_name;
  std::shared_ptr<rlhf::RewardModel> reward_model;
  // True when the stage overrides `model` or `adapter`: it starts from a freshly loaded policy
  // (model from its merged `model`, its own adapter). Otherwise it continues with the policy the
  // previous stage trained.
  bool fresh_policy = false;
  ModelSpec model;                         // effective for this stage
  std::shared_ptr<rlhf::Adapter> adapter;  // effective for this stage (may be null)
  std::string adapter_name;
  std::filesystem::path adapter_path;  // the PEFT folder it starts from (`path`), or empty
  // The quantizer of this stage's model: [quantizer], or the one its checkpoint needs.
  std::shared_ptr<rlhf::Quantizer> quantizer;
};

struct Pipeline {
  std::filesystem::path file;
  std::shared_ptr<toml::table> document;                    // after --set; Configs point into it
  std::vector<std::shared_ptr<toml::table>> merged_tables;  // stage overrides merged over globals

  std::filesystem::path output_dir;
  std::uint64_t seed = 42;
  c10::Device device = c10::Device(c10::kCPU);
  int threads = 0;  // 0 = every core; data parallel: split between the machine's ranks
  // Data parallel: how long a rank waits for the others at a rendezvous or a collective before
  // it stops the run (docs/architecture.md, "Data parallel").
  int dist_timeout_s = 1800;
  // Data parallel: the gradient all-reduce goes in buckets of at most this many MiB, each started
  // as soon as backward has completed its gradients (PyTorch DDP's bucket_cap_mb).
  double dist_bucket_mb = 32;

  ModelSpec model;
  std::string quantizer_name;
  // [quantizer], or the quantizer [model]'s checkpoint needs (checkpoint_quantizer.hpp).
  std::shared_ptr<rlhf::Quantizer> quantizer;
  std::string adapter_name;
  std::shared_ptr<rlhf::Adapter> adapter;
  std::filesystem::path adapter_path;  // [adapter] path: the PEFT folder to start from
  std::vector<StagePlan> stages;

  // The document as TOML text, after --set overrides (logged at start of a run).
  std::string resolved_toml() const;
};

// Parses `file`, applies `overrides` ("table.key=value", see set_override.hpp), validates it
// and constructs the plugins it names from `registry`. Throws rlhf::Error / ConfigError.
Pipeline load_pipeline(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                       PluginRegistry& registry);

// "cpu" | "cuda" | "cuda:N" | "auto" → a device available here; throws rlhf::Error otherwise.
c10::Device parse_device(const std::string& name);
// "float32" | "bfloat16" → dtype; throws rlhf::Error otherwise.
c10::ScalarType parse_dtype(const std::string& name);
// Throws rlhf::Error unless `dir` exists as a writable folder or could be created (checked
// without writing anything).
void check_output_dir_writable(const std::filesystem::path& dir);

}  // namespace rlhf::host
