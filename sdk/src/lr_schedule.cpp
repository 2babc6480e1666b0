#include "rlhf/lr_schedule.hpp"

#include <algorithm>
#include <cmath>

#include "rlhf/error.hpp"

namespace rlhf {

LrSchedule::LrSchedule(std::string type, double base_lr, std::int64_t warmup_steps,
                       std::int64_t total_steps)
    : type_(std::move(type)), base_lr_(base_lr), warmup_(warmup_steps), total_(total_steps) {
  if (type_ != "linear" && type_ != "cosine" && type_ != "constant" &&
      type_ != "constant_with_warmup")
    throw Error("lr_scheduler_type \"" + type_ +
                "\" is unknown; expected linear, cosine, constant or constant_with_warmup");
}

double LrSchedule::multiplier(std::int64_t step) const {
  if (type_ == "constant") return 1.0;
  if (step < warmup_)
    return static_cast<double>(step) / static_cast<double>(std::max<std::int64_t>(1, warmup_));
  if (type_ == "constant_with_warmup") return 1.0;
  double decay_steps = static_cast<double>(std::max<std::int64_t>(1, total_ - warmup_));
  double progress = static_cast<double>(step - warmup_) / decay_steps;
  if (type_ == "linear") return std::max(0.0, 1.0 - progress);
  return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));  // cosine, half a cycle
}

}  // namespace rlhf
