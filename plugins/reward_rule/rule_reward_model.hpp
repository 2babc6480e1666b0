// The `rule` reward model (kind reward_model): rewards computed from the completion text and the
// example's fields by the rules configured in the pipeline, no model involved. The reward of a
// pair is Σ weight_i · r_i over the rules (rule.hpp says what r_i is for each kind).
//
//   reward_model = { plugin = "rule", rules = [
//     { kind = "regex", pattern = 'is (\w+)\.', field = "answer" },
//     { kind = "length", target = 40, weight = -0.01 },
//   ] }
#pragma once

#include <string>
#include <vector>

#include "rlhf/config.hpp"
#include "rlhf/reward_model.hpp"
#include "rule.hpp"

namespace rlhf::rule {

class RuleRewardModel : public RewardModel {
 public:
  // Reads `rules` (at least one table); each rule's keys are checked as it is read.
  explicit RuleRewardModel(const Config& config);

  // Checks that every example of the stage's data (train and eval) has the fields the rules
  // compare with, so that a missing one fails the stage before any training, naming the
  // example's `source`, rather than at the first rollout that draws it.
  void setup(StageContext& ctx) override;

  // One float32 reward per pair; a missing field names the example's `source`.
  torch::Tensor score(const std::vector<Example>& prompts,
                      const std::vector<std::string>& completions) override;

  const std::vector<Rule>& rules() const { return rules_; }

 private:
  std::vector<Rule> rules_;
};

}  // namespace rlhf::rule
