#include "pipeline_check.hpp"

#include <spdlog/spdlog.h>

#include "rlhf/adapter.hpp"
#include "rlhf/algorithm.hpp"
#include "rlhf/causal_lm_check.hpp"
#include "rlhf/data_source.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/tokenizer.hpp"
#include "stage_runner.hpp"

namespace rlhf::host {

namespace {

// The policy as the check sees it: the model's structure (no weights) and the real tokenizer,
// each made on first use and carried to the next stage as run_pipeline() carries the policy.
struct CheckedPolicy {
  ModelSpec spec;
  rlhf::Adapter* adapter = nullptr;
  std::shared_ptr<rlhf::CausalLM> model;
  std::shared_ptr<rlhf::Tokenizer> tokenizer;
};

}  // namespace

void check_pipeline(Pipeline& pipeline, const std::shared_ptr<spdlog::logger>& logger) {
  const PolicyLoader loader = default_policy_loader();
  auto policy = std::make_shared<CheckedPolicy>();
  policy->spec = pipeline.model;
  policy->adapter = pipeline.adapter.get();
  rlhf::Quantizer* quantizer = pipeline.quantizer.get();
  const c10::Device device = pipeline.device;

  for (std::size_t i = 0; i < pipeline.stages.size(); ++i) {
    StagePlan& stage = pipeline.stages[i];
    if (stage.fresh_policy) {
      policy = std::make_shared<CheckedPolicy>();
      policy->spec = stage.model;
      policy->adapter = stage.adapter.get();
    }
    StageContext ctx;
    ctx.stage_name = stage.name;
    ctx.stage_index = static_cast<int>(i);
    ctx.config = &stage.config;
    ctx.device = device;
    ctx.dtype = policy->spec.dtype;
    ctx.seed = pipeline.seed;
    ctx.run_dir = pipeline.output_dir;
    ctx.stage_dir = pipeline.output_dir / stage.name;  // not created
    ctx.logger = logger;
    ctx.chat_template = policy->spec.chat_template;
    ctx.model_path = policy->spec.path;
    ctx.adapter = policy->adapter;
    ctx.quantizer = quantizer;
    ctx.reward_model = stage.reward_model.get();
    ctx.model = [policy, quantizer, device] {
      if (!policy->model) {
        policy->model = check_causal_lm(policy->spec.path,
                                        rlhf::LoadOptions{policy->spec.dtype, device, quantizer});
        if (policy->adapter) policy->adapter->attach(*policy->model);
      }
      return policy->model;
    };
    ctx.tokenizer = [policy, &loader] {
      if (!policy->tokenizer) policy->tokenizer = loader.load_tokenizer(policy->spec.path);
      return policy->tokenizer;
    };
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
