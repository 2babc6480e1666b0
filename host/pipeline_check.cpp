#include "pipeline_check.hpp"

#include <spdlog/spdlog.h>

#include "rlhf/adapter.hpp"
#include "rlhf/algorithm.hpp"
#include "rlhf/data_source.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/toolkit/causal_lm_check.hpp"
#include "rlhf/toolkit/tokenizer.hpp"
#include "stage_runner.hpp"

namespace rlhf::host {

void check_pipeline(Pipeline& pipeline, const std::shared_ptr<spdlog::logger>& logger) {
  const PolicyLoader loader = default_policy_loader();
  // The model's structure from config.json and the safetensors headers, no weight read.
  const ModelFactory check_model = [](const StagePolicy& p, const rlhf::LoadOptions& load) {
    return check_causal_lm(p.spec.path, load);
  };
  std::shared_ptr<StagePolicy> policy;
  for (std::size_t i = 0; i < pipeline.stages.size(); ++i) {
    StagePlan& stage = pipeline.stages[i];
    // ctx.stage_dir is named but not created: --check writes nothing.
    StageContext ctx = stage_context(pipeline, i, policy, logger, check_model, loader);
    ctx.check_only = true;
    if (stage.data) {
      stage.data->load(pipeline.seed);
      ctx.data = stage.data.get();
      logger->debug("check: stage '{}': data '{}' has {} train / {} eval examples", stage.name,
                    stage.data_name, stage.data->size(Split::train), stage.data->size(Split::eval));
    }
    stage.algorithm->check(ctx);
  }
}

}  // namespace rlhf::host
