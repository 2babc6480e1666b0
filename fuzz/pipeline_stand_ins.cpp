// Stand-ins for the plugins a pipeline names, for pipeline_fuzz. The real plugins need the whole
// SDK (models, training, kernels); the stand-ins read the same keys, through the same code where
// that code is free of LibTorch — TrainingConfig::read (every algorithm), LoraOptions
// (plugins/lora/lora_options.cpp), the JsonlSource constructor (plugins/jsonl/jsonl_source.cpp) —
// and the few keys of dpo, orpo and nf4 by hand. They do nothing else.
#include <torch/torch.h>

#include "jsonl_source.hpp"
#include "lora_options.hpp"
#include "rlhf/adapter.hpp"
#include "rlhf/algorithm.hpp"
#include "rlhf/config.hpp"
#include "rlhf/error.hpp"
#include "rlhf/quantizer.hpp"
#include "rlhf/training_config.hpp"

namespace {

using rlhf::Config;

class StandInAlgorithm : public rlhf::Algorithm {
 public:
  StandInAlgorithm(const std::string& name, const Config& config)
      : training_(rlhf::TrainingConfig::read(config)) {
    if (name == "dpo" || name == "orpo") (void)config.get<double>("beta", 0.1);
    if (name == "dpo") {
      (void)config.get<std::string>("loss_type", "sigmoid");
      (void)config.get<double>("label_smoothing", 0.0);
      (void)config.get<bool>("reference_free", false);
      (void)config.get<bool>("precompute_ref_log_probs", false);
      (void)config.get<std::string>("ref_model", "");
    }
  }
  void run(rlhf::StageContext&) override {}

 private:
  rlhf::TrainingConfig training_;
};

class StandInAdapter : public rlhf::Adapter {
 public:
  explicit StandInAdapter(const Config& config)
      : options_(rlhf::lora::LoraOptions::from_config(config)) {}
  void attach(rlhf::CausalLM&) override {}
  std::vector<torch::Tensor> parameters() override { return {}; }
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters() override { return {}; }
  void set_enabled(bool) override {}
  bool enabled() const override { return true; }
  void set_training(bool) override {}
  void save(const std::filesystem::path&) const override {}
  void load(const std::filesystem::path&) override {}
  void merge() override {}

 private:
  rlhf::lora::LoraOptions options_;
};

class StandInQuantizer : public rlhf::Quantizer {
 public:
  StandInQuantizer(const std::string& name, const Config& config) {
    if (name == "nf4") {
      (void)config.get<std::int64_t>("blocksize", 64);
      (void)config.get<bool>("double_quant", false);
    }
  }
  std::shared_ptr<rlhf::LinearWeight> quantize(const torch::Tensor&, const std::string&,
                                               torch::ScalarType) override {
    return nullptr;
  }
};

}  // namespace

extern "C" __attribute__((visibility("default"))) rlhf::Plugin* rlhf_fuzz_make_plugin(
    rlhf::PluginKind kind, const char* name, const Config& config) {
  switch (kind) {
    case rlhf::PluginKind::algorithm:
      return new StandInAlgorithm(name, config);
    case rlhf::PluginKind::adapter:
      return new StandInAdapter(config);
    case rlhf::PluginKind::quantizer:
      return new StandInQuantizer(name, config);
    case rlhf::PluginKind::data:
      return new rlhf::jsonl::JsonlSource(config);
    default:
      throw rlhf::Error(std::string("no stand-in for plugin '") + name + "'");
  }
}
