#include "rlhf/sequence_classifier_result.hpp"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "rlhf/adapter.hpp"
#include "rlhf/distributed.hpp"
#include "rlhf/error.hpp"
#include "rlhf/stage_context.hpp"
#include "rlhf/stage_setup.hpp"
#include "rlhf/tokenizer_files.hpp"
#include "rlhf/toolkit/causal_lm.hpp"
#include "rlhf/toolkit/file_writer.hpp"
#include "rlhf/toolkit/replace_dir.hpp"
#include "rlhf/toolkit/safetensors.hpp"
#include "rlhf/toolkit/sequence_classifier.hpp"

namespace rlhf {

namespace fs = std::filesystem;

namespace {

nlohmann::ordered_json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read '" + path.string() + "'");
  try {
    return nlohmann::ordered_json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error("'" + path.string() + "' is not valid JSON: " + e.what());
  }
}

// The adapter as PEFT saves a SEQ_CLS model: the adapter's own files, then the head added to
// the weights and the task recorded in adapter_config.json.
void save_seq_cls_adapter(const Adapter& adapter, const torch::Tensor& score_weight,
                          const fs::path& dir) {
  adapter.save(dir);
  const fs::path weights = dir / "adapter_model.safetensors";
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  if (fs::exists(weights)) {
    SafetensorsFile file(weights);
    for (const auto& name : file.names()) tensors.emplace_back(name, file.load(name));
  }  // unmapped before the file is replaced
  tensors.emplace_back(kPeftScoreKey, score_weight.detach().to(torch::kCPU, torch::kFloat32));
  save_safetensors(weights, tensors, {{"format", "pt"}});
  const fs::path config_path = dir / "adapter_config.json";
  nlohmann::ordered_json config = read_json(config_path);
  config["task_type"] = "SEQ_CLS";
  config["modules_to_save"] = {"score"};
  write_file_atomically(config_path, config.dump(2) + "\n");
}

// Writes `dir` by `write(staged)` into its staging folder, then swaps it in whole.
template <class Write>
void write_folder(const fs::path& dir, Write&& write) {
  const fs::path staged = staging_path(dir);
  fs::remove_all(staged);
  try {
    write(staged);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(staged, ec);  // a full disk needs the space back
    throw;
  }
  replace_directory(staged, dir);
}

}  // namespace

fs::path save_sequence_classifier_result(StageContext& ctx, CausalLM& model,
                                         const torch::Tensor& score_weight) {
  const fs::path model_dir = ctx.stage_dir / "model";
  // Data parallel: every rank holds the same weights; rank 0 writes them.
  if (!Distributed::get().is_main()) return model_dir;
  fs::create_directories(ctx.stage_dir);
  write_folder(model_dir, [&](const fs::path& staged) {
    save_sequence_classifier(model, score_weight, staged);
    complete_saved_folder(staged, SavedFolder::model, ctx.model_path, ctx.chat_template);
  });
  if (ctx.adapter)
    write_folder(ctx.stage_dir / "adapter", [&](const fs::path& staged) {
      save_seq_cls_adapter(*ctx.adapter, score_weight, staged);
      complete_saved_folder(staged, SavedFolder::adapter, ctx.model_path, ctx.chat_template);
    });
  // The marker comes last: a stage with stage_complete.json has its whole result on disk.
  write_file_atomically(ctx.stage_dir / "stage_complete.json", "{\"result\": \"model\"}\n");
  if (ctx.logger)
    ctx.logger->info("[{}] saved {}{}", ctx.stage_name, model_dir.string(),
                     ctx.adapter ? " and " + (ctx.stage_dir / "adapter").string() : "");
  return model_dir;
}

bool restore_sequence_classifier_result(StageContext& ctx, CausalLM& model,
                                        const torch::Tensor& score_weight) {
  if (!ctx.resume || !fs::exists(ctx.stage_dir / "stage_complete.json")) return false;
  torch::NoGradGuard no_grad;
  if (ctx.adapter) {
    // The adapter plugin's load() refuses modules_to_save; the tensors are copied by PEFT name.
    const fs::path weights = ctx.stage_dir / "adapter" / "adapter_model.safetensors";
    SafetensorsFile file(weights);
    auto copy = [&](const std::string& name, torch::Tensor target) {
      if (!file.contains(name))
        throw Error(weights.string() + ": tensor '" + name + "' is missing");
      torch::Tensor saved = file.load(name);
      if (saved.sizes() != target.sizes())
        throw Error(weights.string() + ": tensor '" + name + "' has another shape than the " +
                    "stage's (a result of another model or adapter setting)");
      target.copy_(saved);
    };
    for (auto& [name, tensor] : ctx.adapter->named_parameters()) copy(name, tensor);
    copy(kPeftScoreKey, score_weight);
  } else {
    LoadOptions options;
    options.dtype = model.dtype();
    options.device = ctx.device;
    auto saved = load_sequence_classifier(ctx.stage_dir / "model", options);
    copy_parameters(model, *saved, ctx.stage_dir / "model");
  }
  if (ctx.logger)
    ctx.logger->info("[{}] --resume: stage already completed; loaded its result from {}",
                     ctx.stage_name, ctx.stage_dir.string());
  return true;
}

}  // namespace rlhf
