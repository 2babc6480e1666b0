#include "rlhf/policy_setup_check.hpp"

#include "rlhf/config.hpp"
#include "rlhf/error.hpp"
#include "rlhf/quantizer.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/training_config.hpp"

namespace rlhf {

namespace {

[[noreturn]] void fail(const StageContext& ctx, const std::string& key,
                       const std::string& message) {
  if (ctx.config) ctx.config->fail(key, message);
  throw Error("stage '" + ctx.stage_name + "'" + (key.empty() ? "" : " " + key) + ": " + message);
}

}  // namespace

void check_policy_setup(const StageContext& ctx, const TrainingConfig& config) {
  if (config.merge_adapter_before && !ctx.adapter)
    fail(ctx, "merge_adapter_before",
         "needs an [adapter] in the pipeline (it folds the adapter into the base weights)");
  // Decided through the plugin interface: the host and the SDK never name a quantizer.
  if (!config.eval_only && ctx.quantizer && !ctx.quantizer->trainable() && !ctx.adapter)
    fail(ctx, "",
         "this stage trains the whole model, but the [quantizer] (or the model's "
         "quantization_config) stores base weights that cannot be trained: add an [adapter] to "
         "train through it (QLoRA), or remove [quantizer] or train the dense original of a "
         "pre-quantized model (eval_only stages may use a quantizer alone)");
}

}  // namespace rlhf
