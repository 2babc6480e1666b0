// Test reward model "test_reward_nan": every completion scores 1 except the second, which
// scores NaN (for the checks an algorithm makes on what a reward model returns).
#include <limits>

#include "rlhf/config.hpp"
#include "rlhf/reward_model.hpp"

namespace {

class TestRewardNan : public rlhf::RewardModel {
 public:
  explicit TestRewardNan(const rlhf::Config&) {}
  torch::Tensor score(const std::vector<rlhf::Example>&,
                      const std::vector<std::string>& completions) override {
    auto scores = torch::ones({static_cast<std::int64_t>(completions.size())}, torch::kFloat32);
    if (completions.size() > 1) scores[1] = std::numeric_limits<float>::quiet_NaN();
    return scores;
  }
};

}  // namespace

RLHF_PLUGIN(rlhf::PluginKind::reward_model, TestRewardNan, "test_reward_nan", "0.0.1",
            "test only: the second score is NaN")
