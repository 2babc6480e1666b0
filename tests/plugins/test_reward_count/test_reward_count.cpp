// Test reward model "test_reward_count": returns one score fewer than there are completions
// (for the checks an algorithm makes on what a reward model returns).
#include "rlhf/config.hpp"
#include "rlhf/reward_model.hpp"

namespace {

class TestRewardCount : public rlhf::RewardModel {
 public:
  explicit TestRewardCount(const rlhf::Config&) {}
  torch::Tensor score(const std::vector<rlhf::Example>&,
                      const std::vector<std::string>& completions) override {
    const auto n = static_cast<std::int64_t>(completions.size());
    return torch::ones({n > 0 ? n - 1 : 0}, torch::kFloat32);
  }
};

}  // namespace

RLHF_PLUGIN(rlhf::PluginKind::reward_model, TestRewardCount, "test_reward_count", "0.0.1",
            "test only: one score fewer than completions")
