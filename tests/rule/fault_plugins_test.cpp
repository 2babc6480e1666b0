// The two misbehaving reward models in tests/plugins/ (for the checks an algorithm makes on
// what a RewardModel returns) do what their names say.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "plugin_registry.hpp"
#include "rlhf/config.hpp"
#include "rlhf/reward_model.hpp"

using rlhf::PluginKind;
using rlhf::host::PluginRegistry;

TEST(RewardFaultPlugins, NanForTheSecondScoreAndOneScoreTooFew) {
  PluginRegistry registry({std::filesystem::path(RLHF_TEST_PLUGIN_DIR) / "reward_faults"});
  EXPECT_EQ(registry.names(PluginKind::reward_model),
            (std::vector<std::string>{"test_reward_count", "test_reward_nan"}));
  const std::vector<rlhf::Example> examples(3);
  const std::vector<std::string> completions = {"a", "b", "c"};

  auto nan = registry.create<rlhf::RewardModel>(PluginKind::reward_model, "test_reward_nan",
                                                rlhf::Config());
  torch::Tensor s = nan->score(examples, completions);
  ASSERT_EQ(s.numel(), 3);
  EXPECT_EQ(s[0].item<float>(), 1.0f);
  EXPECT_TRUE(std::isnan(s[1].item<float>()));
  EXPECT_EQ(s[2].item<float>(), 1.0f);

  auto count = registry.create<rlhf::RewardModel>(PluginKind::reward_model, "test_reward_count",
                                                  rlhf::Config());
  EXPECT_EQ(count->score(examples, completions).numel(), 2);
}
