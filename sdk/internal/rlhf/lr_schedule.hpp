// Learning-rate schedules with warmup, as Hugging Face transformers' get_scheduler():
// the learning rate of optimizer step s (0-based) is learning_rate × lr_multiplier(s).
//
//   warmup (s < W):          s / W
//   "linear":                max(0, (N − s) / (N − W))
//   "cosine":                max(0, ½·(1 + cos(π·(s − W)/(N − W))))
//   "constant_with_warmup":  1
//   "constant":              1 (no warmup at all)
//
// with N total steps and W warmup steps.
#pragma once

#include <cstdint>
#include <string>

namespace rlhf {

class LrSchedule {
 public:
  // `type` must be one of the names above (TrainingConfig validates it); unknown throws.
  LrSchedule(std::string type, double base_lr, std::int64_t warmup_steps, std::int64_t total_steps);

  double multiplier(std::int64_t step) const;
  double lr(std::int64_t step) const { return base_lr_ * multiplier(step); }

 private:
  std::string type_;
  double base_lr_;
  std::int64_t warmup_;
  std::int64_t total_;
};

}  // namespace rlhf
