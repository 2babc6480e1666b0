// Algorithm — a training or evaluation method run as one pipeline stage (kind "algorithm").
//
// The constructor receives the stage's table and reads every key it accepts (see config.hpp);
// run() does the work with what the host composed for the stage.
#pragma once

#include "rlhf/plugin.hpp"

namespace rlhf {

class StageContext;

class Algorithm : public Plugin {
 public:
  virtual void run(StageContext& ctx) = 0;
};

}  // namespace rlhf
