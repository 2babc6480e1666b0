#include "rule_reward_model.hpp"

#include <torch/torch.h>

#include <cmath>

#include "big_stack.hpp"
#include "rlhf/data_source.hpp"
#include "rlhf/error.hpp"
#include "rlhf/stage_context.hpp"

namespace rlhf::rule {

RuleRewardModel::RuleRewardModel(const Config& config) {
  for (const Config& table : config.tables("rules")) rules_.emplace_back(table);
  if (rules_.empty())
    config.fail("rules",
                "needs at least one rule, e.g. rules = [{ kind = \"exact\", field = \"answer\" }]");
}

void RuleRewardModel::setup(StageContext& ctx) {
  if (!ctx.data) return;
  for (const Split split : {Split::train, Split::eval})
    for (std::size_t i = 0; i < ctx.data->size(split); ++i) {
      const Example example = ctx.data->at(i, split);
      for (const Rule& rule : rules_)
        rule.check_fields(example,
                          example.source.empty() ? "example " + std::to_string(i) : example.source);
    }
}

torch::Tensor RuleRewardModel::score(const std::vector<Example>& prompts,
                                     const std::vector<std::string>& completions) {
  if (prompts.size() != completions.size())
    throw Error("rule reward model: " + std::to_string(prompts.size()) + " examples but " +
                std::to_string(completions.size()) + " completions");
  std::vector<float> rewards(completions.size());
  run_with_stack(kStackBytes, [&] {
    for (std::size_t i = 0; i < completions.size(); ++i) {
      const std::string where =
          prompts[i].source.empty() ? "example " + std::to_string(i) : prompts[i].source;
      double sum = 0.0;
      for (const Rule& rule : rules_)
        sum += rule.weight() * rule.value(prompts[i], completions[i], where);
      rewards[i] = static_cast<float>(sum);
      // Finite weights can still overflow (a huge weight times a length): never a reward.
      if (!std::isfinite(rewards[i]))
        throw Error(where + ": the rule reward is not a finite float32 (" + std::to_string(sum) +
                    "); are the weights too large?");
    }
  });
  return torch::tensor(rewards, torch::kFloat32);
}

}  // namespace rlhf::rule
