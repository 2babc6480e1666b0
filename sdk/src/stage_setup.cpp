#include "rlhf/stage_setup.hpp"

#include <spdlog/spdlog.h>

#include "rlhf/adapter.hpp"
#include "rlhf/distributed.hpp"
#include "rlhf/error.hpp"
#include "rlhf/policy_setup_check.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/tokenizer_files.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/file_writer.hpp"
#include "rlhf/toolkit/replace_dir.hpp"
#include "rlhf/training_config.hpp"

namespace rlhf {

std::shared_ptr<CausalLM> prepare_policy(StageContext& ctx, const TrainingConfig& config) {
  if (!ctx.model) throw Error("stage '" + ctx.stage_name + "': no policy model in this pipeline");
  check_policy_setup(ctx, config);  // before the model loads; --check runs it too
  std::shared_ptr<CausalLM> model = ctx.model();
  if (config.merge_adapter_before) {
    ctx.adapter->merge();
    ctx.adapter->attach(*model);
    if (ctx.logger)
      ctx.logger->info("[{}] merged the adapter into the base weights and attached a fresh one",
                       ctx.stage_name);
  }
  model->set_gradient_checkpointing(config.gradient_checkpointing);
  return model;
}

std::filesystem::path save_stage_result(StageContext& ctx, CausalLM& model) {
  namespace fs = std::filesystem;
  const fs::path dir = ctx.stage_dir / (ctx.adapter ? "adapter" : "model");
  // Data parallel: every rank holds the same weights; rank 0 writes them.
  if (!Distributed::get().is_main()) return dir;
  fs::create_directories(ctx.stage_dir);
  // Written next to its real name and swapped in whole: a kill at any instant leaves the
  // previous result or the new one, never a folder with only some of the files.
  const fs::path staged = staging_path(dir);
  fs::remove_all(staged);
  try {
    if (ctx.adapter)
      ctx.adapter->save(staged);
    else
      model.save_pretrained(staged);
    complete_saved_folder(staged, ctx.adapter ? SavedFolder::adapter : SavedFolder::model,
                          ctx.model_path, ctx.chat_template);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(staged, ec);  // a full disk needs the space back
    throw;
  }
  replace_directory(staged, dir);
  // The marker comes last: a stage with stage_complete.json has its whole result on disk.
  write_file_atomically(ctx.stage_dir / "stage_complete.json",
                        "{\"result\": \"" + dir.filename().string() + "\"}\n");
  if (ctx.logger) ctx.logger->info("[{}] saved {}", ctx.stage_name, dir.string());
  return dir;
}

bool restore_completed_stage(StageContext& ctx, CausalLM& model) {
  if (!ctx.resume || !std::filesystem::exists(ctx.stage_dir / "stage_complete.json")) return false;
  if (ctx.adapter) {
    ctx.adapter->load(ctx.stage_dir / "adapter");
  } else {
    LoadOptions options;
    options.dtype = model.dtype();
    options.device = ctx.device;
    auto saved = load_causal_lm(ctx.stage_dir / "model", options);
    copy_parameters(model, *saved, ctx.stage_dir / "model");
  }
  if (ctx.logger)
    ctx.logger->info("[{}] --resume: stage already completed; loaded its result from {}",
                     ctx.stage_name, ctx.stage_dir.string());
  return true;
}

void copy_parameters(CausalLM& model, CausalLM& saved, const std::filesystem::path& folder) {
  torch::NoGradGuard no_grad;
  auto target = model.named_parameters(/*recurse=*/true);
  for (const auto& item : saved.named_parameters(/*recurse=*/true)) {
    auto* p = target.find(item.key());
    if (!p)
      throw Error(folder.string() + ": tensor '" + item.key() +
                  "' has no counterpart in the policy model");
    p->copy_(item.value());
  }
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
