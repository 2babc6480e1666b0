// RewardModel — scores completions for PPO (kind "reward_model").
#pragma once

#include <string>
#include <vector>

#include "rlhf/example.hpp"
#include "rlhf/plugin.hpp"

// torch::Tensor is at::Tensor brought in by a using-declaration; forward-declared the same way
// (a `class Tensor;` in namespace torch conflicts with LibTorch's own headers under clang).
namespace at {
class Tensor;
}
namespace torch {
using at::Tensor;
}

namespace rlhf {

class StageContext;

class RewardModel : public Plugin {
 public:
  // Called once before scoring, with the stage's context (device, tokenizer, paths).
  virtual void setup(StageContext& ctx) { (void)ctx; }
  // One float32 score per (prompt, completion) pair: tensor [B].
  virtual torch::Tensor score(const std::vector<Example>& prompts,
                              const std::vector<std::string>& completions) = 0;
};

}  // namespace rlhf
