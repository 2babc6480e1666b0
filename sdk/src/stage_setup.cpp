#include "rlhf/stage_setup.hpp"

#include <spdlog/spdlog.h>

#include "rlhf/adapter.hpp"
#include "rlhf/causal_lm.hpp"
#include "rlhf/error.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/training_config.hpp"

namespace rlhf {

std::shared_ptr<CausalLM> prepare_policy(StageContext& ctx, const TrainingConfig& config) {
  if (!ctx.model) throw Error("stage '" + ctx.stage_name + "': no policy model in this pipeline");
  std::shared_ptr<CausalLM> model = ctx.model();
  if (config.merge_adapter_before) {
    if (!ctx.adapter)
      throw Error("stage '" + ctx.stage_name +
                  "': merge_adapter_before = true needs an [adapter] in the pipeline");
    ctx.adapter->merge();
    ctx.adapter->attach(*model);
    if (ctx.logger)
      ctx.logger->info("[{}] merged the adapter into the base weights and attached a fresh one",
                       ctx.stage_name);
  }
  model->set_gradient_checkpointing(config.gradient_checkpointing);
  return model;
}

NamedTensors trainable_parameters(StageContext& ctx, CausalLM& model) {
  if (ctx.adapter) return ctx.adapter->named_parameters();
  NamedTensors out;
  for (const auto& item : model.named_parameters(/*recurse=*/true))
    if (item.value().requires_grad()) out.emplace_back(item.key(), item.value());
  return out;
}

void set_training_mode(StageContext& ctx, CausalLM& model, const TrainingConfig& config, bool on) {
  model.train(on);
  if (ctx.adapter) ctx.adapter->set_training(on && !config.disable_dropout);
}

std::filesystem::path save_stage_result(StageContext& ctx, CausalLM& model) {
  std::filesystem::path dir = ctx.stage_dir / (ctx.adapter ? "adapter" : "model");
  std::filesystem::create_directories(ctx.stage_dir);
  if (ctx.adapter)
    ctx.adapter->save(dir);
  else
    model.save_pretrained(dir);
  if (ctx.logger) ctx.logger->info("[{}] saved {}", ctx.stage_name, dir.string());
  return dir;
}

AdapterDisabled::AdapterDisabled(Adapter* adapter) : adapter_(adapter) {
  if (!adapter_) return;
  was_enabled_ = adapter_->enabled();
  adapter_->set_enabled(false);
}

AdapterDisabled::~AdapterDisabled() {
  if (adapter_) adapter_->set_enabled(was_enabled_);
}

}  // namespace rlhf
