// Test adapter "test_constant": one trainable tensor of `size` elements filled with `value`.
// attach() freezes the model's parameters and counts them; it adds no layers.
#include <fstream>

#include "rlhf/adapter.hpp"
#include "rlhf/config.hpp"
#include "rlhf/error.hpp"
#include "rlhf/toolkit/causal_lm.hpp"

namespace {

class TestConstant : public rlhf::Adapter {
 public:
  explicit TestConstant(const rlhf::Config& config)
      : param_(
            torch::full({config.get<std::int64_t>("size", 3)}, config.get<double>("value", 0.5))) {}
  void attach(rlhf::CausalLM& model) override {
    frozen_ = 0;
    for (auto& p : model.parameters()) p.set_requires_grad(false), ++frozen_;
  }
  std::vector<torch::Tensor> parameters() override { return {param_}; }
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters() override {
    return {{"test_constant.weight", param_}};
  }
  void set_enabled(bool on) override { enabled_ = on; }
  bool enabled() const override { return enabled_; }
  void set_training(bool) override {}
  void save(const std::filesystem::path& dir) const override {
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "test_constant.txt") << param_.sum().item<double>() << " " << frozen_;
  }
  void load(const std::filesystem::path& dir) override {
    double sum = 0;
    if (!(std::ifstream(dir / "test_constant.txt") >> sum))
      throw rlhf::Error((dir / "test_constant.txt").string() + ": cannot read");
    param_.fill_(sum / static_cast<double>(param_.numel()));
  }
  void merge() override {}

 private:
  torch::Tensor param_;
  std::int64_t frozen_ = 0;
  bool enabled_ = true;
};

}  // namespace

RLHF_PLUGIN(rlhf::PluginKind::adapter, TestConstant, "test_constant", "0.0.1",
            "test only: one constant tensor, no layers")
