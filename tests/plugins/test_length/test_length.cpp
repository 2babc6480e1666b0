// Test reward model "test_length": a completion scores `scale` times its length in bytes.
#include "rlhf/config.hpp"
#include "rlhf/reward_model.hpp"

namespace {

class TestLength : public rlhf::RewardModel {
 public:
  explicit TestLength(const rlhf::Config& config) : scale_(config.get<double>("scale", 1.0)) {}
  torch::Tensor score(const std::vector<rlhf::Example>&,
                      const std::vector<std::string>& completions) override {
    std::vector<float> scores;
    for (const auto& c : completions) scores.push_back(static_cast<float>(scale_ * c.size()));
    return torch::tensor(scores, torch::kFloat32);
  }

 private:
  double scale_;
};

}  // namespace

RLHF_PLUGIN(rlhf::PluginKind::reward_model, TestLength, "test_length", "0.0.1",
            "test only: scores a completion by its length")
