// Algorithm — a training or evaluation method run as one pipeline stage (kind "algorithm").
//
// The constructor receives the stage's table and reads every key it accepts (see config.hpp);
// run() does the work with what the host composed for the stage; check() is what
// `rlhf-host --check` asks of the stage instead.
#pragma once

#include "rlhf/plugin.hpp"

namespace rlhf {

class StageContext;

class Algorithm : public Plugin {
 public:
  virtual void run(StageContext& ctx) = 0;

  // `rlhf-host --check`: throws what run(ctx) would throw on this stage's inputs, with the same
  // message, but trains nothing, reads no weight and writes nothing. The host composes `ctx` as
  // for run() (ctx.data is loaded), except that ctx.model() returns the model's structure with
  // unallocated weights once its files passed check_causal_lm() (causal_lm_check.hpp): it
  // cannot run a forward. ctx.metrics is null and ctx.stage_dir does not exist. An algorithm
  // that loads the policy calls ctx.model() / ctx.tokenizer() here as run() would, and checks
  // the examples it will use (e.g. tokenises them). Default: nothing beyond what the host
  // checks itself (keys, plugins, data files).
  virtual void check(StageContext& ctx) { (void)ctx; }
};

}  // namespace rlhf
